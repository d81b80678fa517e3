"""One poller among several workers (PRODUCT §9), as processes on one real PostgreSQL.

Two `python -m bot` workers share the database: one polls, elected by its lease, the other
stands by. The poller is killed with SIGKILL while one update is stored but unanswered (so
still unconfirmed); more updates arrive while nobody polls. The other worker takes over within
30 s, and every update is recorded exactly once; Telegram never sees two pollers at once.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from faketelegram import FakeTelegram
from tgharness import DATA, wait_exit

from tests.childenv import child_env
from tests.postgres import empty_database

ROOT = Path(__file__).resolve().parents[3]
LEASE = "6"  # seconds: a takeover within about 8 s, well inside the promised 30


def worker(fake: FakeTelegram, url: str, name: str, log: Path) -> subprocess.Popen[bytes]:
    """`python -m bot` as one worker of several: Telegram only, on the shared database."""
    env = child_env(
        TELEGRAM_TOKEN=fake.token, TELEGRAM_BASE_URL=fake.base_url,
        TELEGRAM_BASE_FILE_URL=fake.base_file_url, DATABASE_URL=url, WORKER_ID=name,
        TELEGRAM_POLLER_LEASE_SECONDS=LEASE, GUIDES_DIR=str(DATA), COUNTDOWN_SECONDS="3",
        LOG_LEVEL="INFO", TELEGRAM_RATE_LIMITS="bot=30/1s; chat=20/1s", DEFAULT_TIMEZONE="UTC",
    )
    return subprocess.Popen([sys.executable, "-m", "bot"], cwd=ROOT, env=env,
                            stdout=log.open("ab"), stderr=subprocess.STDOUT)


async def records(url: str) -> Counter[tuple[str, str, str]]:
    """(kind, user id, value) of every stored record, counted."""
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        found = await conn.fetch("SELECT kind, user_id, value FROM records")
    finally:
        await conn.close()
    return Counter((r[0], r[1], r[2]) for r in found)


async def wait_done(url: str, update_id: int, within: float) -> None:
    """Wait until the database marks a Telegram update handled."""
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        for _ in range(int(within / 0.1)):
            if await conn.fetchval("SELECT done FROM inbound_updates WHERE update_id = $1",
                                   update_id):
                return
            await asyncio.sleep(0.1)
    finally:
        await conn.close()
    raise AssertionError(f"update {update_id} was never marked handled")


def said(log: Path) -> str:
    """What a worker has logged so far."""
    return log.read_text(errors="replace")


async def wait_log(log: Path, text: str, within: float) -> None:
    """Wait until a worker's log says `text`."""
    for _ in range(int(within / 0.1)):
        if text in said(log):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{log.name} never said {text!r}:\n{said(log)[-2000:]}")


@pytest.mark.timeout(180)
async def test_a_dead_poller_is_replaced_and_nothing_is_recorded_twice(
        fake: FakeTelegram, tmp_path: Path) -> None:
    url = await empty_database()
    hana, gus, mo, ann = (fake.add_user(n) for n in ("Hana", "Gus", "Mo", "Ann"))
    group = fake.add_group("Relay club", members=[(hana, "creator"), (gus, "member"),
                                                  (mo, "member"), (ann, "member")])
    logs = {name: tmp_path / f"{name}.log" for name in ("one", "two")}
    one = worker(fake, url, "one", logs["one"])
    two: subprocess.Popen[bytes] | None = None
    try:
        await wait_log(logs["one"], "this worker (one) polls", 30)
        two = worker(fake, url, "two", logs["two"])
        await wait_log(logs["two"], "standing by", 30)
        assert fake.pollers == 1

        await fake.ask(group, hana, "/watchparty create Relay | in 1h | quick", within=15)
        announcement = await fake.wait_post(group, "🎬 Relay")
        # Gus's press is stored, then the poller hangs answering it: it stays unconfirmed.
        fake.hold("answerCallbackQuery")
        stuck, _ = fake.press(announcement, gus, "Going")
        await fake.wait_for(lambda: fake.calls_to("answerCallbackQuery"), 10,
                            "the poller to answer Gus's press")
        # Behind it, Hana's second party is created and marked done, but stays unconfirmed.
        encore_id, encore = fake.command(group, hana, "/watchparty create Encore | in 2h | quick")
        await fake.reply_to(group, encore, within=15)
        await wait_done(url, encore_id, 10)
        assert fake.confirmed <= stuck
        one.send_signal(signal.SIGKILL)
        assert await wait_exit(one, 10) == -signal.SIGKILL
        fake.release()

        # While nobody polls: more people act.
        pending = [stuck, encore_id, fake.press(announcement, mo, "Maybe")[0],
                   fake.react(announcement, ann, ["👍"]),
                   fake.command(group, ann, "/watchparty join")[0]]
        await fake.wait_for(lambda: fake.pollers == 1, 30, "another worker to poll")
        await wait_log(logs["two"], "this worker (two) polls", 5)
        await fake.wait_confirmed(max(pending), within=30)
        await fake.wait_idle(15)
        two.send_signal(signal.SIGTERM)
        assert await wait_exit(two, 20) == 0, logs["two"].read_text()[-3000:]
    finally:
        for proc in (one, two):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()

    assert await records(url) == Counter({
        ("rsvp", str(gus["id"]), "going"): 1,
        ("rsvp", str(mo["id"]), "maybe"): 1,
        ("reaction_added", str(ann["id"]), "👍"): 1,
        ("rsvp", str(ann["id"]), "going"): 1,
    }), logs["two"].read_text()[-3000:]
    assert fake.poll_overlaps == 0, "two workers polled at once"
    joined = [p for p in fake.in_chat(group) if p.text.startswith("You're going to Relay")]
    assert len(joined) == 1
    assert len([p for p in fake.in_chat(group) if p.text.startswith("🎬 Encore")]) == 1, \
        "a create handled before the handover is not handled again"
