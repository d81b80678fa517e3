"""Load through the fake Telegram server: many groups creating parties, members pressing Going.

Each group creates a party; its members press Going within 6 s while some groups ask
`/watchparty list`; at the start GO is posted, a chapter ends 10 s later and every member answers
its prompt by reply. Measured for watchparty (`python -m bot` in a process of its own, on a
SQLite file, as in production) and, in the same run, a baseline (a plain python-telegram-bot
Application with `concurrent_updates`, in a process of its own, answering the same presses, no
storage): Going press → answerCallbackQuery; `/watchparty list` → reply during the
load; create → announcement; GO lateness against the 30/s per-bot floor; updates unconfirmed
7 s after the last one; records stored; the limits the bot broke, counted from the fake's log of
calls; each bot process's CPU and peak RSS. The fake server and the load generator share
the benchmark's own process.

Run: .venv/bin/python -m bench.load [--groups 200] [--members 50] [--lead 40]
     quick: .venv/bin/python -m bench.load --groups 20 --members 20
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from telegram import Bot

from bench.processes import Child
from bench.telegram_e2e import JITTER, percentile

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "adapters" / "telegram"))
from faketelegram import SENDING, FakeTelegram, Posted

from tests.childenv import child_env

PRESS_SECONDS = 6.0
ANSWER_SECONDS = 6.0
SETTLE_SECONDS = 7.0
PER_BOT = 30  # Telegram: about 30 messages a second per bot
GUIDE = """title = "Load"
runtime = "0:01:00"
[[chapters]]
title = "The first ten seconds"
ends_at = "0:00:10"
questions = ["What did you notice first?"]
"""


def row(name: str, values: list[float], missing: int = 0, late: str = "–") -> str:
    """One table row in seconds."""
    if not values:
        return f"| {name} | 0 | – | – | – | {late} | {missing} |"
    return (f"| {name} | {len(values)} | {percentile(values, 50):.3f} | "
            f"{percentile(values, 99):.3f} | {max(values):.3f} | {late} | {missing} |")


HEADER = ("| {} | n | p50 s | p99 s | max s | over target | missing |\n"
          "|---|---:|---:|---:|---:|---:|---:|")


def crowd(fake: FakeTelegram, groups: int, members: int) -> tuple[list[Any], list[list[Any]]]:
    """Groups, each with its host (index 0) and members."""
    chats, people = [], []
    for g in range(groups):
        host = fake.add_user(f"Host {g}")
        users = [fake.add_user(f"Member {g}.{m}") for m in range(members)]
        chats.append(fake.add_group(f"Load group {g}", members=[(host, "creator")]
                                    + [(u, "member") for u in users]))
        people.append([host, *users])
    return chats, people


async def paced(count: int, seconds: float) -> Any:
    """Yield 0..count-1 spread evenly over `seconds`."""
    pace = seconds / max(1, count)
    start = time.monotonic()
    for i in range(count):
        yield i
        await asyncio.sleep(max(0.0, start + (i + 1) * pace - time.monotonic()))


def interleaved(members: list[list[Any]]) -> list[tuple[int, int]]:
    """(group, member) pairs taking each group in turn, so every group's presses span the 6 s."""
    return [(g, m) for m in range(max(map(len, members), default=0))
            for g in range(len(members)) if m < len(members[g])]


async def presses(fake: FakeTelegram, announcements: list[Posted], members: list[list[Any]],
                  lists: list[tuple[Any, Any]]
                  ) -> tuple[list[tuple[str, float]], list[tuple[Any, dict[str, Any], float]]]:
    """Every member presses Going within PRESS_SECONDS; some groups ask for the list meanwhile."""
    pressed: list[tuple[str, float]] = []
    asked: list[tuple[Any, dict[str, Any], float]] = []
    order = interleaved(members)
    every = max(1, len(order) // len(lists)) if lists else 0
    async for i in paced(len(order), PRESS_SECONDS):
        g, m = order[i]
        _, query = fake.press(announcements[g], members[g][m], "Going")
        pressed.append((query, time.monotonic()))
        if every and i % every == every // 2 and len(asked) < len(lists):
            group, user = lists[len(asked)]
            _, message = fake.command(group, user, "/watchparty list")
            asked.append((group, message, time.monotonic()))
    return pressed, asked


def answers(fake: FakeTelegram, pressed: list[tuple[str, float]]) -> tuple[list[float], int]:
    """Press → answerCallbackQuery delays, and how many were never answered."""
    delays = [done - at for q, at in pressed if (done := fake.answered_at(q)) is not None]
    return delays, len(pressed) - len(delays)


def violations(fake: FakeTelegram) -> tuple[int, int, int, int]:
    """Sends and edits over Telegram's limits: per bot 30/s, per group 1/s and 20/min.

    Each count is the number of requests that were the (limit+1)-th or later in a window;
    windows are shortened by the loopback's arrival jitter, as in bench.telegram_e2e. Also
    returns the busiest second of the bot.
    """
    sent = sorted((c.at, c.chat_id) for c in fake.calls
                  if c.method in SENDING and c.status == 200)

    def over(times: list[float], window: float, limit: int) -> tuple[int, int]:
        window -= JITTER
        first, count, busiest = 0, 0, 0
        for last, at in enumerate(times):
            while at - times[first] >= window:
                first += 1
            inside = last - first + 1
            busiest = max(busiest, inside)
            count += inside > limit
        return count, busiest

    per_bot, busiest = over([at for at, _ in sent], 1.0, PER_BOT)
    chats: dict[int | None, list[float]] = {}
    for at, chat in sent:
        chats.setdefault(chat, []).append(at)
    per_second = sum(over(times, 1.0, 1)[0] for times in chats.values())
    per_minute = sum(over(times, 60.0, 20)[0] for times in chats.values())
    return per_bot, per_second, per_minute, busiest


def stored_parties(db: Path) -> dict[str, tuple[int, float]]:
    """Join code → (party id, start as a Unix time), read from the bot's SQLite file."""
    with sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True) as conn:
        rows = conn.execute("SELECT code, id, starts_at FROM parties").fetchall()
    return {code: (pid, starts / 1e6) for code, pid, starts in rows}


def stored_records(db: Path) -> dict[int, int]:
    """Party id → how many records are stored for it."""
    with sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True) as conn:
        return dict(conn.execute("SELECT party_id, count(*) FROM records GROUP BY party_id"))


async def quiet(fake: FakeTelegram, seconds: float, within: float) -> None:
    """Wait until the bot has sent nothing for `seconds` (its outbox has drained)."""
    def still() -> bool:
        last = max((c.at for c in fake.calls if c.method in SENDING), default=0.0)
        return time.monotonic() - last >= seconds
    await fake.wait_for(still, within, "the bot's outbox to drain")


async def posts_in_every(fake: FakeTelegram, chats: list[Any], containing: str,
                         within: float) -> list[Posted]:
    """Each chat's first post containing `containing`; fails naming the chats that have none."""
    def first(chat: Any) -> Posted | None:
        return next((p for p in fake.in_chat(chat) if containing in p.text), None)
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        found = [first(chat) for chat in chats]
        if all(found):
            return [p for p in found if p is not None]
        await asyncio.sleep(0.1)
    missing = [chat for chat in chats if first(chat) is None]
    lines = [f"{len(missing)} of {len(chats)} chats got no post containing {containing!r}; "
             f"{missing[0]['title']} got:"]
    lines += [f"  #{p.message_id} {p.text[:120]!r}" for p in fake.in_chat(missing[0])]
    raise SystemExit("\n".join(lines))


async def start_child(fake: FakeTelegram, args: list[str], log: Path, **env: str) -> Child:
    """Start a bot process on the fake server and wait until it polls."""
    child = Child.start(args, child_env(TELEGRAM_TOKEN=fake.token,
                                        TELEGRAM_BASE_URL=fake.base_url,
                                        TELEGRAM_BASE_FILE_URL=fake.base_file_url, **env), log)
    await fake.wait_for(lambda: fake.getupdates_waiting > 0 or not child.alive(), 60,
                        "the bot to poll")
    if not child.alive():
        raise SystemExit(f"the bot exited: {child.tail()}")
    return child


async def watchparty(args: argparse.Namespace, folder: Path) -> None:
    """The bot under load (`python -m bot`, its own process); prints its table."""
    fake = FakeTelegram()
    await fake.start()
    guides = folder / "guides"
    guides.mkdir()
    (guides / "load.toml").write_text(GUIDE)
    db = folder / "load.db"
    try:
        chats, people = crowd(fake, args.groups, args.members)
        members = [p[1:] for p in people]
        bot = await start_child(fake, ["-m", "bot"], folder / "bot.log",
                                DATABASE_URL=f"sqlite:///{db}", GUIDES_DIR=str(guides),
                                DEFAULT_TIMEZONE="UTC", LOG_LEVEL="WARNING")
        wall0 = time.monotonic()
        bot.mark(wall0)
        bench0 = time.process_time()
        try:
            asked = []
            for g, chat in enumerate(chats):
                _, message = fake.command(chat, people[g][0],
                                          f"/watchparty create Load night {g} | "
                                          f"in {args.lead}s | load")
                asked.append((chat, time.monotonic()))
            announcements, created = [], []
            for chat, at in asked:
                post = await fake.wait_post(chat, "join code", within=120)
                announcements.append(post)
                created.append(post.at - at)
            print(f"  {len(chats)} announcements; pressing", flush=True)
            press_start = time.monotonic()
            pressed, lists = await presses(
                fake, announcements, members,
                [(chats[g], people[g][0]) for g in range(0, len(chats), 2)])
            press_span = time.monotonic() - press_start
            codes = [a.entity_texts("code")[0] for a in announcements]
            known = stored_parties(db)
            if any(code not in known for code in codes):
                raise SystemExit(f"parties not found for some codes: {codes}")
            parties = [known[code] for code in codes]
            left = min(starts for _, starts in parties) - time.time()
            print(f"  presses sent in {press_span:.1f} s; first start in {left:.1f} s",
                  flush=True)
            gos = await posts_in_every(fake, chats, "▶ GO", within=args.lead + 120)
            prompts = await posts_in_every(fake, chats, "💬", within=120)
            print("  prompts posted; answering", flush=True)
            order = interleaved(members)
            last = 0
            async for i in paced(len(order), ANSWER_SECONDS):
                g, m = order[i]
                last, _ = fake.reply(chats[g], members[g][m], prompts[g],
                                     f"Answer {g}.{m}: the opening shot")
            await asyncio.sleep(SETTLE_SECONDS)
            unconfirmed = sum(1 for u in fake.updates if u["update_id"] <= last)
            await fake.wait_for(lambda: not fake.updates, 120, "every update confirmed")
            await quiet(fake, 3.0, within=120)
            now = time.monotonic()
            cpu, rss = bot.cpu_share(now), bot.peak_rss_mb()
            bench_cpu = (time.process_time() - bench0) / (now - wall0)
            counts = stored_records(db)
            stored = [counts.get(pid, 0) for pid, _ in parties]
            final = sum(1 for a in announcements if f"Going {args.members} " in a.text)
            edits = sum(len(a.edits) for a in announcements)
        except BaseException:
            print(f"--- the bot's log ---\n{bot.tail(6000)}")
            raise
        finally:
            code = await bot.stop()
        if code != 0:
            print(f"  the bot exited with {code}: {bot.tail()}")
        answered, unanswered = answers(fake, pressed)
        replies = []
        for group, message, at in lists:
            reply = next((p for p in fake.in_chat(group) if p.reply_to == message["message_id"]),
                         None)
            if reply is not None:
                replies.append(reply.at - at)
        # GO k (in arrival order) cannot reach the server before k/30 s: the per-bot floor.
        lateness = sorted((go.wall - starts, chat["id"])
                          for go, (_, starts), chat in zip(gos, parties, chats, strict=True))
        go_times = sorted(go.at for go in gos)
        floors = [k / PER_BOT for k in range(len(go_times))]
        by_arrival = sorted(zip(gos, parties, strict=True), key=lambda gp: gp[0].at)
        over_floor = sum(1 for k, (go, (_, starts)) in enumerate(by_arrival)
                         if go.wall - starts - floors[k] > 0.5)
        per_bot, per_second, per_minute, busiest = violations(fake)
        updates = len(chats) + len(pressed) + len(lists) + len(order)
    finally:
        await fake.stop()
    late_go = [x for x, _ in lateness]
    print(f"\n{updates} updates: {len(chats)} creates, {len(pressed)} presses (sent in "
          f"{press_span:.1f} s), {len(lists)} lists, {len(order)} answers by reply\n")
    print(HEADER.format("watchparty"))
    print(row("Going press → answerCallbackQuery", answered, unanswered,
              str(sum(1 for x in answered if x > 3.0)) + " after 3 s"))
    print(row("`/watchparty list` → reply, during the load", replies, len(lists) - len(replies),
              str(sum(1 for x in replies if x > 1.0)) + " over 1 s"))
    print(row("create → announcement", created, 0,
              str(sum(1 for x in created if x > 2.0)) + " over 2 s"))
    print(row("GO lateness", late_go, 0,
              f"{sum(1 for x in late_go if abs(x) > 0.5)} outside ±0.5 s"))
    print(f"\nGO: min lateness {min(late_go):.3f} s; the 30/s per-bot floor puts the last of "
          f"{len(gos)} GOs {floors[-1]:.2f} s late; {over_floor} GOs more than 0.5 s later "
          f"than their floor")
    print(f"updates unconfirmed {SETTLE_SECONDS:.0f} s after the last: {unconfirmed}")
    print(f"records stored: {sum(stored)} of {len(pressed) + len(order)} "
          f"({sum(1 for s in stored if s == 2 * args.members)}/{len(stored)} parties complete)")
    print(f"announcements showing the final count: {final}/{len(chats)}; "
          f"announcement edits: {edits} for {len(pressed)} presses")
    print(f"limit violations (sends + edits): per bot 30/s: {per_bot} (busiest second "
          f"{busiest}); per group 1/s: {per_second}; per group 20/min: {per_minute}")
    print(f"bot process: CPU {cpu:.0%} of one core, peak RSS {rss:.0f} MB; the fake server and "
          f"load generator (another process): CPU {bench_cpu:.0%}")


async def baseline(args: argparse.Namespace, folder: Path) -> None:
    """A plain PTB Application with concurrent_updates answering the same presses, no storage."""
    fake = FakeTelegram()
    await fake.start()
    try:
        chats, people = crowd(fake, args.groups, args.members)
        sender = Bot(fake.token, base_url=fake.base_url)
        async with sender:
            for chat in chats:
                await sender.send_message(chat["id"], "Load night")
        announcements = []
        for chat in chats:
            post = fake.in_chat(chat)[-1]
            post.buttons = [[{"text": "Going", "callback_data": "going"}]]
            announcements.append(post)
        child = await start_child(fake, ["-m", "bench.plain_ptb"], folder / "baseline.log")
        child.mark(time.monotonic())
        try:
            pressed, _ = await presses(fake, announcements, [p[1:] for p in people], [])
            await asyncio.sleep(SETTLE_SECONDS)
            unconfirmed = len(fake.updates)
            now = time.monotonic()
            cpu, rss = child.cpu_share(now), child.peak_rss_mb()
        finally:
            await child.stop()
    finally:
        await fake.stop()
    answered, unanswered = answers(fake, pressed)
    print()
    print(HEADER.format("baseline: plain PTB, concurrent_updates(256), no storage"))
    print(row("Going press → answerCallbackQuery", answered, unanswered,
              str(sum(1 for x in answered if x > 3.0)) + " after 3 s"))
    print(f"\nupdates unconfirmed {SETTLE_SECONDS:.0f} s after the last: {unconfirmed}")
    print(f"baseline process: CPU {cpu:.0%} of one core, peak RSS {rss:.0f} MB")


async def main() -> None:
    """Run watchparty, then the baseline, and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=200)
    parser.add_argument("--members", type=int, default=50)
    parser.add_argument("--lead", type=int, default=40,
                        help="seconds from creating the parties to their start")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    print(f"bench.load: {args.groups} groups × {args.members} members, start in {args.lead} s",
          flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        await watchparty(args, Path(tmp))
        await baseline(args, Path(tmp))


if __name__ == "__main__":
    asyncio.run(main())
