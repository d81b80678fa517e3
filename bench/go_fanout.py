"""GO fan-out across workers: 1,000 parties in 1,000 Telegram groups, every GO in one minute.

Run: .venv/bin/python -m bench.go_fanout [--url postgresql://…] [--parties 1000]
     [--workers 3,1] [--spreads 0,60]
     quick: .venv/bin/python -m bench.go_fanout --parties 50 --workers 3 --spreads 0

For each (workers, spread): a database of its own on the server `--url` names (created here,
dropped at the end, even on failure), a fresh fake Telegram Bot API
(tests/adapters/telegram/faketelegram.py) in this process, and `workers` real `python -m bot`
processes on it (Telegram only, DATABASE_URL=postgresql://…, WORKER_ID w0…; w0 starts first and
holds the poller lease, the others stand by), each in a process of its own.

The parties are written through the store, as the create handler writes them, not through
`/watchparty create`: one group per party, its chat settings stored with reminders off,
`PostgresStore.new_party` and the core's `planning.pre_start_actions` with the workers' own
ready check and countdown settings (READY_CHECK_SECONDS=3600, so no ready check is planned for
a party that starts within the hour; COUNTDOWN_SECONDS=60). Each party therefore posts a
countdown 60 s before its GO (part of the traffic, counted, and over by GO time when every GO is
due at one instant) and then its GO; no announcement exists, so no announcement is edited.
Spread 0: every GO due at one whole second T; spread S: each at T + a whole second drawn
uniformly from [0, S) (seeded), as parties start on whole seconds.

Measured on the fake's clock: each group's GO arrival (wall clock) minus its party's start; GOs
delivered exactly once per group (missing, duplicated); countdowns likewise; the limits the bot
broke, counted as bench.load counts them (sends and edits, by arrival, windows shortened by
20 ms) and as the fake counts them for tests/system (windows 0.3 s short); each worker's peak
RSS (VmHWM) and CPU; which worker fired how many GOs (from the actions' leases).

The floor: Telegram allows about 30 messages a second per bot, for all workers together, so the
k-th GO cannot arrive before the k-th slot. Two floors are computed from the same due times:
"30/s evenly", f_k = max(due_k, f_(k-1)) + 1/30 s (all at T: k/30 s, the 1,000th at 33.3 s),
and "30 in any 1 s", the true minimum under a sliding window, s_k = max(due_k, s_(k-30) + 1 s)
(all at T: the 1,000th at 33 s).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from bench.load import violations
from bench.processes import Child
from bench.scheduler_postgres import database
from bench.telegram_e2e import percentile
from bot.chats import ChatRef, ChatSettings
from bot.party import LinkStatus, Party, PartyChat, PartyState, new_join_code
from bot.planning import pre_start_actions
from storage.postgres.store import PostgresStore

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "adapters" / "telegram"))
from faketelegram import FakeTelegram, Posted

from tests.childenv import child_env

PER_BOT = 30  # Telegram: about 30 messages a second per bot
COUNTDOWN_SECONDS = 60  # the longest countdown the settings allow: it is over before GO
READY_CHECK_SECONDS = 3600  # no ready check for a party starting within the hour
GO_TEXT = "▶ GO"
COUNTDOWN_TEXT = "⏱ "
SETTLE_SECONDS = 5.0  # after the last GO: time for a duplicate to show
ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"


@dataclass
class Run:
    """One (workers, spread) run's raw results."""

    workers: int
    spread: int
    due: dict[int, float]  # chat id -> the party's start, UNIX seconds
    gos: dict[int, list[Posted]]
    countdowns: dict[int, list[Posted]]
    limits: tuple[int, int, int, int]
    counted: tuple[int, int]  # the fake's own count (per bot, per group), as tests/system does
    rss_mb: list[float]
    cpu: list[float]
    fired_by: dict[str, int]
    created_s: float
    exit_codes: list[int]


def starts(parties: int, spread: int, at: datetime, seed: int) -> list[datetime]:
    """Each party's start: `at`, or `at` plus a whole second drawn from [0, spread)."""
    rng = random.Random(seed)
    return [at + timedelta(seconds=rng.randrange(spread) if spread else 0)
            for _ in range(parties)]


def floors(dues: list[float]) -> tuple[list[float], list[float]]:
    """Per GO, in order of due time, the least lateness Telegram's per-bot limit allows: paced
    30/s evenly, and under a window of 30 in any 1 s."""
    ordered = sorted(dues)
    even: list[float] = []
    window: list[float] = []
    sent_even = float("-inf")
    sent: list[float] = []
    for k, due in enumerate(ordered):
        sent_even = max(due, sent_even) + 1 / PER_BOT
        even.append(sent_even - due)
        at = max(due, sent[k - PER_BOT] + 1.0) if k >= PER_BOT else due
        sent.append(at)
        window.append(at - due)
    return even, window


async def admin(url: str, sql: str) -> None:
    """One statement on the server's admin database."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def create_parties(store: PostgresStore, groups: list[tuple[dict[str, Any],
                                                                  dict[str, Any]]],
                         at: list[datetime]) -> None:
    """Each group's party, written as the create handler writes one: the chat's settings
    (reminders off), the party with its home chat, and the actions the core plans for it."""
    for n, ((chat, host), starts_at) in enumerate(zip(groups, at, strict=True)):
        ref = ChatRef("telegram", str(chat["id"]))
        await store.save_chat_settings(ChatSettings(ref, reminders=()))
        settings = await store.get_chat_settings(ref)
        code = new_join_code()
        while await store.get_party_by_code(code) is not None:
            code = new_join_code()
        now = datetime.now(UTC)
        async with store.new_party(Party(
                id=0, code=code, title=f"Fan-out {n}", host_platform="telegram",
                host_user_id=str(host["id"]), host_name=host["first_name"], home=ref,
                starts_at=starts_at, timezone="UTC", guide_name=None,
                state=PartyState.SCHEDULED, created_at=now,
                chats=[PartyChat(0, ref, LinkStatus.APPROVED, is_home=True)])) as tx:
            party = tx.party
            assert party is not None
            await tx.add_actions(pre_start_actions(
                party, settings, now, timedelta(seconds=READY_CHECK_SECONDS),
                timedelta(seconds=COUNTDOWN_SECONDS)))


async def start_workers(fake: FakeTelegram, url: str, workers: int, folder: Path
                        ) -> list[Child]:
    """w0 first (it migrates nothing new and takes the poller lease), then the others, which
    stand by; returns once all are up."""
    children: list[Child] = []
    for n in range(workers):
        log = folder / f"w{n}.log"
        children.append(Child.start(["-m", "bot"], child_env(
            TELEGRAM_TOKEN=fake.token, TELEGRAM_BASE_URL=fake.base_url,
            TELEGRAM_BASE_FILE_URL=fake.base_file_url, DATABASE_URL=url, WORKER_ID=f"w{n}",
            COUNTDOWN_SECONDS=COUNTDOWN_SECONDS, READY_CHECK_SECONDS=READY_CHECK_SECONDS,
            DEFAULT_TIMEZONE="UTC", LOG_LEVEL="INFO"), log))
        said = "this worker (w0) polls" if n == 0 else "standing by"
        deadline = time.monotonic() + 60
        while said not in log.read_text(errors="replace"):
            if not children[-1].alive() or time.monotonic() > deadline:
                raise SystemExit(f"worker w{n} did not come up:\n{children[-1].tail()}")
            await asyncio.sleep(0.1)
    return children


async def fired_by(url: str) -> dict[str, int]:
    """Which worker holds (held) each GO action's lease, counted."""
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT coalesce(acquired_by, '-') AS w, count(*) AS n "
                                "FROM actions WHERE kind = 'go' GROUP BY 1 ORDER BY 1")
    finally:
        await conn.close()
    return {row["w"]: row["n"] for row in rows}


async def one_run(args: argparse.Namespace, workers: int, spread: int, folder: Path) -> Run:
    """Create the database and the parties, start the workers, wait for every GO."""
    name = f"watchparty_bench_gofan_{uuid.uuid4().hex[:8]}"
    url = database(args.url, name)
    await admin(args.url, f'CREATE DATABASE "{name}"')
    fake = FakeTelegram()
    await fake.start()
    fake.count_limits(slack=0.3)  # as tests/system/test_three_workers.py counts them
    children: list[Child] = []
    try:
        groups = []
        for n in range(args.parties):
            host = fake.add_user(f"Host {n}")
            groups.append((fake.add_group(f"Fan-out group {n}", members=[(host, "creator")]),
                           host))
        store = await PostgresStore.open(url)  # migrates before any worker starts
        try:
            children = await start_workers(fake, url, workers, folder)
            at = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=args.lead)
            when = starts(args.parties, spread, at, args.seed)
            began = time.monotonic()
            await create_parties(store, groups, when)
            created_s = time.monotonic() - began
        finally:
            await store.close()
        print(f"  {workers} worker(s), spread {spread} s: {args.parties} parties created in "
              f"{created_s:.1f} s; first GO due in {at.timestamp() - time.time():.1f} s",
              flush=True)
        for child in children:
            child.mark(time.monotonic())
        due = {chat["id"]: t.timestamp() for (chat, _), t in zip(groups, when, strict=True)}
        last_due = max(due.values())
        # Count GOs as they arrive, looking only at new posts: this process is the fake server
        # too, and a scan of every chat on every turn would delay the very arrivals measured.
        seen, arrived = 0, 0
        deadline = last_due + args.parties / PER_BOT + args.overtime
        while arrived < args.parties and time.time() < deadline:
            posted = fake.posted
            arrived += sum(1 for p in posted[seen:] if GO_TEXT in p.text)
            seen = len(posted)
            if not all(child.alive() for child in children):
                raise SystemExit("a worker exited:\n" + "\n".join(c.tail() for c in children))
            await asyncio.sleep(0.25)
        await asyncio.sleep(SETTLE_SECONDS)
        now = time.monotonic()
        rss = [round(c.peak_rss_mb(), 1) for c in children]
        cpu = [round(c.cpu_share(now), 2) for c in children]
        codes = [await c.stop() for c in children]
        children = []
        by_worker = await fired_by(url)
    except BaseException:
        for n, child in enumerate(children):
            print(f"--- w{n} ---\n{child.tail(3000)}")
        raise
    finally:
        for child in children:
            await child.stop(10)
        await fake.stop()
        await admin(args.url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    gos: dict[int, list[Posted]] = {chat_id: [] for chat_id in due}
    countdowns: dict[int, list[Posted]] = {chat_id: [] for chat_id in due}
    for post in fake.posted:
        if GO_TEXT in post.text:
            gos.setdefault(post.chat_id, []).append(post)
        elif post.text.startswith(COUNTDOWN_TEXT):
            countdowns.setdefault(post.chat_id, []).append(post)
    bot_wide = sum(1 for v in fake.limit_violations if v.endswith("for the bot"))
    counted = (bot_wide, len(fake.limit_violations) - bot_wide)
    return Run(workers, spread, due, gos, countdowns, violations(fake), counted, rss, cpu,
               by_worker, created_s, codes)


def _s(values: list[float], p: float | None) -> str:
    if not values:
        return "–"
    return f"{(max(values) if p is None else percentile(values, p)):.2f}"


def report(run: Run) -> list[str]:
    """The run's row of the table and the lines under it."""
    late = [posts[0].wall - run.due[chat] for chat, posts in run.gos.items() if posts]
    once = sum(1 for posts in run.gos.values() if len(posts) == 1)
    missing = sum(1 for posts in run.gos.values() if not posts)
    twice = sum(1 for posts in run.gos.values() if len(posts) > 1)
    even, window = floors(list(run.due.values()))
    # The k-th GO to arrive against the k-th slot of the "30/s evenly" floor.
    arrivals = sorted(posts[0].wall for posts in run.gos.values() if posts)
    slots = []
    sent = float("-inf")
    for due in sorted(run.due.values()):
        sent = max(due, sent) + 1 / PER_BOT
        slots.append(sent)
    behind = [a - s for a, s in zip(arrivals, slots, strict=False)]
    per_bot, per_second, per_minute, busiest = run.limits
    countdowns_once = sum(1 for posts in run.countdowns.values() if len(posts) == 1)
    row = (f"| {run.workers} | {run.spread} s | {len(late)} | {_s(late, 50)} | {_s(late, 99)} | "
           f"{_s(late, None)} | {_s(even, 50)} / {_s(even, 99)} / {_s(even, None)} | "
           f"{_s(window, 50)} / {_s(window, 99)} / {_s(window, None)} | {once} | {missing} | "
           f"{twice} | {per_bot} / {per_second} / {per_minute} | "
           f"{' / '.join(f'{r:.0f}' for r in run.rss_mb)} |")
    lines = [row,
             f"    GO behind the 30/s-evenly slot of its arrival rank: p50 {_s(behind, 50)} s, "
             f"p99 {_s(behind, 99)} s, max {_s(behind, None)} s; "
             f"{sum(1 for b in behind if b > 0.25)} more than 0.25 s, "
             f"{sum(1 for b in behind if b > 0.5)} more than 0.5 s; least lateness "
             f"{min(late) if late else float('nan'):.3f} s",
             f"    GOs fired per worker (action leases): {run.fired_by}; countdowns exactly once: "
             f"{countdowns_once}/{len(run.due)}; busiest second of sends and edits: {busiest}; "
             f"parties created in {run.created_s:.1f} s; worker CPU share of one core "
             f"{run.cpu}; exit codes {run.exit_codes}; limit violations as the fake counts them "
             f"with windows 0.3 s short (tests/system): per bot {run.counted[0]}, per group "
             f"{run.counted[1]}"]
    return lines


HEADER = ("| workers | GOs due over | n | p50 s | p99 s | max s | floor 30/s evenly p50 / p99 / max"
          " s | floor 30 in any 1 s p50 / p99 / max s | exactly once | missing | duplicated | "
          "violations per bot 30/s / per group 1/s / per group 20/min | peak RSS MB per worker |\n"
          "|---:|---:|---:|---:|---:|---:|---|---|---:|---:|---:|---|---|")


async def main() -> None:
    """Every (workers, spread) in turn; the table."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--url", default=ADMIN_URL,
                        help="a PostgreSQL server where the bench may create and drop databases")
    parser.add_argument("--parties", type=int, default=1000)
    parser.add_argument("--workers", default="3,1", help="worker counts to run, in turn")
    parser.add_argument("--spreads", default="0,60",
                        help="seconds over which GOs are due (0: all at one instant)")
    parser.add_argument("--lead", type=int, default=75,
                        help="seconds from creating the parties to the first GO (> the 60 s "
                             "countdown)")
    parser.add_argument("--overtime", type=float, default=60.0,
                        help="seconds past the floor of the last GO to wait for stragglers")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    began = datetime.now(UTC)
    print(f"bench.go_fanout: {args.parties} parties in {args.parties} Telegram groups, "
          f"workers {args.workers}, GOs due over {args.spreads} s; {began:%Y-%m-%d %H:%M} UTC",
          flush=True)
    runs = []
    with tempfile.TemporaryDirectory(prefix="bench-gofan-") as tmp:
        for spread in (int(s) for s in args.spreads.split(",")):
            for workers in (int(w) for w in args.workers.split(",")):
                folder = Path(tmp) / f"{workers}w-{spread}s"
                folder.mkdir()
                runs.append(await one_run(args, workers, spread, folder))
    print()
    print(HEADER)
    for run in runs:
        print("\n".join(report(run)))
    print(f"\n{(datetime.now(UTC) - began).total_seconds():.0f} s in all")


if __name__ == "__main__":
    asyncio.run(main())
