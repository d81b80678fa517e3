"""Three `python -m bot` workers on one PostgreSQL, killed mid-party (PRODUCT §9).

The fake Telegram and the fake Discord (two shards) run in the test; the workers are real
processes, each with both platforms: w2 holds no Discord shard (it only sends) and starts first, so
it polls Telegram; w0 and w1 hold one Discord shard each. Four parties play at once, two Telegram
groups and a channel in each Discord guild. After GO the poller and one more worker are killed with
SIGKILL; people press buttons while nobody polls. The last worker takes over polling within 30 s
and fires what is left: every GO, prompt and summary reaches its chat exactly once, every update is
recorded once, the fakes count no limit violation for the three workers together, and SIGTERM stops
the last worker cleanly.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

_TESTS = Path(__file__).resolve().parents[1]
for _folder in ("adapters/discord", "adapters/telegram"):
    if str(_TESTS / _folder) not in sys.path:
        sys.path.insert(0, str(_TESTS / _folder))

from discord_helpers import create_party  # noqa: E402
from fakediscord import TOKEN as DISCORD_TOKEN  # noqa: E402
from fakediscord import FakeDiscord, message_text  # noqa: E402
from faketelegram import FakeTelegram  # noqa: E402

from tests.postgres import empty_database  # noqa: E402

from .botproc import DATA, bot_env  # noqa: E402

QUESTIONS = ("Relay question one?", "Relay question two?", "Relay question three?")
Worker = asyncio.subprocess.Process


async def start_worker(name: str, url: str, telegram: FakeTelegram, discord: FakeDiscord,
                       shard: str, logs: Path) -> Worker:
    """One worker process: Telegram, and Discord on `shard` (`none`: it only sends)."""
    settings: dict[str, Any] = {
        "DATABASE_URL": url, "WORKER_ID": name, "GUIDES_DIR": DATA, "COUNTDOWN_SECONDS": 3,
        "READY_CHECK_SECONDS": 10, "TELEGRAM_POLLER_LEASE_SECONDS": 10,
        "TELEGRAM_TOKEN": telegram.token, "TELEGRAM_BASE_URL": telegram.base_url,
        "TELEGRAM_BASE_FILE_URL": telegram.base_file_url}
    settings.update({
        "DISCORD_TOKEN": DISCORD_TOKEN, "DISCORD_API_BASE_URL": discord.api_base,
        "DISCORD_GATEWAY_URL": discord.gateway_url, "DISCORD_DEV_GUILD_ID": discord.guild_id,
        "DISCORD_SHARD_COUNT": 2, "DISCORD_SHARD_IDS": shard})
    log = (logs / f"{name}.log").open("ab")
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", cwd=logs, env=bot_env(**settings),
        stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log)


def said(logs: Path, name: str) -> str:
    """What a worker has logged so far."""
    return (logs / f"{name}.log").read_text(errors="replace")


async def wait_log(logs: Path, name: str, text: str, within: float = 30) -> None:
    """Wait until a worker's log says `text`."""
    for _ in range(int(within / 0.1)):
        if text in said(logs, name):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{name} never said {text!r}:\n{said(logs, name)[-3000:]}")


async def lease_counts(url: str) -> Counter[str]:
    """How many action leases each worker took so far (a lease stays on the action as history)."""
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT acquired_by, count(*) FROM actions"
                                " WHERE acquired_by IS NOT NULL GROUP BY acquired_by")
    finally:
        await conn.close()
    return Counter({row[0]: row[1] for row in rows})


async def wait_remembered(url: str, prompts: int, within: float = 30) -> None:
    """Wait until `prompts` prompt posts are remembered and no action is being fired: a worker
    killed between a platform's answer and that write would post its prompt again."""
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        for _ in range(int(within / 0.1)):
            posted = await conn.fetchval("SELECT count(*) FROM sent_messages WHERE kind ="
                                         " 'prompt'")
            firing = await conn.fetchval("SELECT count(*) FROM actions WHERE status ="
                                         " 'pending' AND acquired_until > now()")
            if posted >= prompts and not firing:
                return
            await asyncio.sleep(0.1)
    finally:
        await conn.close()
    raise AssertionError("the first prompts were never all remembered")


async def rsvps(url: str) -> Counter[tuple[str, str]]:
    """(user id, value) of every stored RSVP, counted."""
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT user_id, value FROM records WHERE kind = 'rsvp'")
    finally:
        await conn.close()
    return Counter((row[0], row[1]) for row in rows)


async def kill(worker: Worker) -> None:
    """SIGKILL, as a machine that dies."""
    worker.send_signal(signal.SIGKILL)
    await worker.wait()


@pytest.mark.timeout(300)
async def test_three_workers_killed_mid_party_post_everything_once(tmp_path: Path) -> None:
    url = await empty_database()
    telegram = FakeTelegram()
    await telegram.start()
    telegram.count_limits(slack=0.3)
    discord = await FakeDiscord(guild_count=2, shard_count=2).start()
    discord.channel_limit = (5, 5.0)  # Discord's per-channel limit: a 429 beyond it
    workers: dict[str, Worker] = {}
    try:
        workers["w2"] = await start_worker("w2", url, telegram, discord, "none", tmp_path)
        await wait_log(tmp_path, "w2", "this worker (w2) polls")
        for n in (0, 1):
            workers[f"w{n}"] = await start_worker(f"w{n}", url, telegram, discord, str(n),
                                                  tmp_path)
        await discord.wait_until(lambda: {0, 1} <= set(discord.sockets), 30,
                                 "both shards to connect")
        for name in ("w0", "w1"):
            await wait_log(tmp_path, name, "standing by")

        # Four parties at once: two Telegram groups, a channel of each Discord guild.
        groups, announcements, members = [], [], []
        for n in range(2):
            host = telegram.add_user(f"Host {n}")
            people = [telegram.add_user(f"Member {n}.{m}") for m in range(3)]
            group = telegram.add_group(f"Relay group {n}", members=[(host, "creator")] + [
                (p, "member") for p in people])
            await telegram.ask(group, host, f"/watchparty create Relay {n} | in 1h | relay",
                               within=20)
            announcement = await telegram.wait_post(group, f"🎬 Relay {n}", within=20)
            # Kept: the RSVP buttons go once the party plays; an old message still has them.
            announcements.append((announcement, announcement.button("Going")))
            groups.append((group, host))
            members.append(people)
        channels = [discord.guilds[g]["channels"][0] for g in discord.guilds]
        mod = discord.person("Mo", moderator=True)
        for n, channel in enumerate(channels):
            await create_party(discord, mod, f"Relay D{n}", guide="relay", channel=channel)
        for group, host in groups:
            await telegram.ask(group, host, "/watchparty start", within=20)
        for channel in channels:
            started = await discord.wait_answer(await discord.slash(mod, "start",
                                                                    channel=channel))
            assert "Countdown started" in started.text, started.text

        for group, _ in groups:
            await telegram.wait_post(group, "▶ GO", within=30)
            await telegram.wait_post(group, QUESTIONS[0], within=30)
        for channel in channels:
            await discord.wait_message("▶ GO", channel, within=30)
            await discord.wait_message(QUESTIONS[0], channel, within=30)

        # Mid-party: the poller dies, and the worker that took most leases (else w1) with it.
        await wait_remembered(url, prompts=4)
        await kill(workers.pop("w2"))
        held = await lease_counts(url)
        victim = max(("w1", "w0"), key=lambda w: held.get(w, 0))
        survivor = "w0" if victim == "w1" else "w1"
        await kill(workers.pop(victim))
        pressed = [telegram.press_data(announcement, person, going)
                   for (announcement, going), people in zip(announcements, members, strict=True)
                   for person in people]
        presses = [update_id for update_id, _ in pressed]
        await telegram.wait_for(lambda: telegram.pollers == 1, 30,
                                "the last worker to take over polling within 30 s")
        await wait_log(tmp_path, survivor, f"this worker ({survivor}) polls", 5)
        await telegram.wait_confirmed(max(presses), within=30)

        for group, _ in groups:
            await telegram.wait_post(group, "🏁", within=120)
        for channel in channels:
            await discord.wait_message("🏁", channel, within=120)
        await telegram.wait_idle(15)
        last = workers.pop(survivor)
        last.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(last.wait(), 30) == 0, said(tmp_path, survivor)[-3000:]
    finally:
        for worker in workers.values():
            if worker.returncode is None:
                worker.kill()
                await worker.wait()
        await discord.stop()
        await telegram.stop()

    for group, _ in groups:
        texts = [p.text for p in telegram.in_chat(group)]
        for expected in ("▶ GO", *QUESTIONS, "🏁"):
            assert sum(expected in t for t in texts) == 1, (expected, texts)
    for channel in channels:
        texts = [message_text(m) for m in discord.channel_messages(channel)]
        for expected in ("▶ GO", *QUESTIONS, "🏁"):
            found = [t for t in texts if expected in t]
            assert len(found) == 1, "\n----\n".join(found)
    assert await rsvps(url) == Counter({(str(p["id"]), "going"): 1
                                        for people in members for p in people}), [
        telegram.answer_to(query) for _, query in pressed]
    assert telegram.poll_overlaps == 0, "two workers polled at once"
    assert telegram.limit_violations == []
    assert discord.limited == 0, "Discord answered 429: a channel's limit was passed"
    assert not telegram.failures and not discord.unknown_routes
