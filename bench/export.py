"""Exporting 1,000,000 records to CSV, JSON Lines and HTML while the event loop keeps running.

Run: .venv/bin/python -m bench.export [--records 1000000] [--db PATH] [--keep]

One SQLite file (the store's schema, a temp file unless `--db` names one to reuse) holds one
party across three chats (two Discord, one Telegram) of 5,000 people, with the Social Dilemma
guide: RSVPs and ready marks before GO, then 94 minutes of reactions (75 %, a few removed),
answers (20 %; some late, to an earlier chapter; quotes, commas, new lines, emoji, formulas,
markup) and poll votes. Records are written with `executemany` of `storage.sqlite.record_row`.

Each variant runs in a process of its own, so its peak RSS is its own: it opens the file with
`SqliteStore`, starts a ticker task (wakes every millisecond, as a bot's loop would for its
commands) and writes the export to a file through `bot.export.write_export`, the CLI's path.
Figures: seconds, peak RSS (ru_maxrss) and the RSS before the export began, and the longest gap
between two ticks minus the 1 ms sleep (the longest stall of the loop).

Baselines in the same run, "the naive way": every row loaded at once (aiosqlite
`execute_fetchall`; for HTML then turned into records on the loop), then the same writer over
the list (CSV and JSON Lines are written from `RecordRow`s, as `iter_record_rows` streams them).
`read only` rows stream the records and write nothing, to show what `iter_records` costs alone
(`read:pages`: `iter_record_rows`, what CSV and JSON Lines read); `read only, proposed` reads
with the changes to `SqliteStore.iter_records` proposed in docs/benchmarks.md (since applied),
measured here without touching storage/.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiosqlite

from bot.chats import ChatRef
from bot.export import write_export
from bot.guide import GuideLibrary
from bot.party import LinkStatus, Party, PartyChat, PartyState
from bot.ports import RecordRow
from bot.records import Record, RecordKind
from storage.sqlite import (
    _RECORD_COLUMNS,
    _ROW_COLUMNS,
    INSERT_RECORD,
    SqliteStore,
    _record,
    record_row,
)

CODE = "BENCH1"
GO = datetime(2026, 3, 27, 20, 0, tzinfo=UTC)
HOME = ChatRef("discord", "900100200300400500")
CHATS = (HOME, ChatRef("discord", "900100200300400501"), ChatRef("telegram", "-1001234567890"))
PEOPLE = 5_000
TICK = 0.001
TARGETS = {"csv": 5.0, "jsonl": 8.0, "html": 15.0}
RSS_TARGET_MB = 100.0
STALL_TARGET_MS = 20.0
ANSWERS = (
    "I check my phone first thing every morning, before I even get up.",
    'My daughter said "that\'s literally me", then laughed.',
    "line one\nline two\r\nline three",
    "🎬🍿 this part 😂😂",
    "=cmd|' /C calc'!A0",
    "<script>alert(1)</script> & <b>not bold</b>",
    "@everyone you need to see this",
    "+1, agreed with the last answer",
    "# not a heading | not a table | **not bold** [not a link](http://x)",
    "The notifications are the worst part. I turned most of them off last year, and I do not "
    "miss them at all; the only thing I kept is messages from people I actually know.",
)
EMOJI = ("😂", "👍", "🔥", "😮", "❤️", "🤔")


def generate(path: Path, count: int) -> None:
    """Write the bench party and `count` records into a fresh file with the store's schema."""
    guide = GuideLibrary().load_file("social-dilemma")

    async def party() -> int:
        store = await SqliteStore.open(path)
        try:
            created = await store.create_party(Party(
                id=0, code=CODE, title="The Social Dilemma, 1M records", host_platform="discord",
                host_user_id="100000000000000000", host_name="viewer 0", home=HOME,
                starts_at=GO, timezone="Europe/Berlin", guide_name=guide.name,
                state=PartyState.FINISHED, created_at=GO - timedelta(days=2), go_at=GO,
                finished_at=GO + timedelta(seconds=guide.runtime_seconds + 1)))
            await store.update_party(created)
            for chat in CHATS[1:]:
                await store.upsert_party_chat(PartyChat(created.id, chat, LinkStatus.APPROVED))
            await store.save_guide(f"party:{created.id}", guide.name, guide.model_dump_json())
            return created.id
        finally:
            await store.close()

    party_id = asyncio.run(party())
    rng = random.Random(7)
    runtime = guide.runtime_seconds
    ends = [ch.ends_at_seconds for ch in guide.chapters]
    polls = [i + 1 for i, ch in enumerate(guide.chapters) if ch.poll is not None]

    def person(i: int) -> tuple[ChatRef, str, str]:
        chat = CHATS[0] if i < 2_000 else CHATS[1] if i < 3_000 else CHATS[2]
        user = str(100000000000000000 + i) if chat.platform == "discord" else str(500000000 + i)
        return chat, user, f"viewer {i}"

    def rows() -> Any:
        before = PEOPLE + 3_000
        for i in range(min(count, before)):
            who = i % PEOPLE
            chat, user, name = person(who)
            at = GO - timedelta(hours=2) + timedelta(seconds=i)
            kind = RecordKind.RSVP if i < PEOPLE else RecordKind.READY
            value = ("going", "maybe", "not_going")[who % 3] if i < PEOPLE else "ready"
            yield record_row(Record(party_id, kind, chat.platform, chat.chat_id, user, name, at,
                                    None, value))
        film = count - min(count, before)
        for i in range(film):
            position = runtime * i / film
            chat, user, name = person(rng.randrange(PEOPLE))
            done = sum(1 for end in ends if end <= position)  # chapters whose prompt is out
            roll = rng.random()
            prompt = None
            if roll < 0.75:
                kind = RecordKind.REACTION_ADDED if roll < 0.72 else RecordKind.REACTION_REMOVED
                value = EMOJI[rng.randrange(len(EMOJI))]
                if done:
                    prompt = f"{done}.{1 + rng.randrange(2)}"
            elif roll < 0.95 and done:
                kind = RecordKind.ANSWER
                chapter = done if rng.random() < 0.9 else 1 + rng.randrange(done)
                questions = len(guide.chapters[chapter - 1].questions)
                prompt = f"{chapter}.{1 + rng.randrange(questions)}"
                value = ANSWERS[rng.randrange(len(ANSWERS))]
            elif roll >= 0.95 and any(p <= done for p in polls):
                kind = RecordKind.POLL_VOTE
                chapter = max(p for p in polls if p <= done)
                options = guide.chapters[chapter - 1].poll.options  # type: ignore[union-attr]
                prompt = f"{chapter}.poll"
                value = options[rng.randrange(len(options))]
            else:
                kind, value = RecordKind.REACTION_ADDED, "👍"
            yield record_row(Record(party_id, kind, chat.platform, chat.chat_id, user, name,
                                    GO + timedelta(seconds=position), position, value, prompt,
                                    "1234567890123456789"))

    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("BEGIN")
    conn.executemany(INSERT_RECORD, rows())
    conn.execute("COMMIT")
    conn.close()


@dataclass
class Figures:
    """One variant's result."""

    variant: str
    records: int
    seconds: float
    rss_mb: float
    rss_before_mb: float
    stall_ms: float
    output_mb: float
    gc_ms: float = 0.0
    gc_full: int = 0


def rss_mb() -> float:
    """Peak RSS of this process so far, in MB (ru_maxrss is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class ListStore:
    """The naive way: every record (or row) loaded at once, then handed out from the list."""

    def __init__(self, store: SqliteStore, records: list[Record],
                 rows: list[RecordRow]) -> None:
        self._store = store
        self._records = records
        self._rows = rows

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def iter_records(self, party_id: int) -> AsyncIterator[Record]:
        """Yield the loaded records."""
        for rec in self._records:
            yield rec

    async def iter_record_rows(self, party_id: int) -> AsyncIterator[list[RecordRow]]:
        """Yield the loaded rows, as one page."""
        yield self._rows


_KINDS = {kind.value: kind for kind in RecordKind}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


async def proposed_iter_records(path: str, party_id: int) -> AsyncIterator[Record]:
    """`SqliteStore.iter_records` with the proposed changes (docs/benchmarks.md)."""
    async with aiosqlite.connect(path, isolation_level=None) as db:
        await db.execute("PRAGMA query_only = ON")
        async with db.execute(
            f"SELECT {_RECORD_COLUMNS} FROM records WHERE party_id = ? ORDER BY at, id",
            (party_id,),
        ) as cursor:
            kinds, epoch, us = _KINDS, _EPOCH, timedelta(microseconds=1)
            while rows := await cursor.fetchmany(1_000):
                for r in rows:
                    yield Record(r[1], kinds[r[2]], r[3], r[4], r[5], r[6], epoch + us * r[7],
                                 r[8], r[9], r[10], r[11], r[0], r[12])


async def raw_rows(path: str, party_id: int) -> AsyncIterator[tuple[Any, ...]]:
    """The rows alone, as SQLite returns them: what reading costs without building records."""
    async with aiosqlite.connect(path, isolation_level=None) as db:
        await db.execute("PRAGMA query_only = ON")
        async with db.execute(
            f"SELECT {_RECORD_COLUMNS} FROM records WHERE party_id = ? ORDER BY at, id",
            (party_id,),
        ) as cursor:
            while rows := await cursor.fetchmany(1_000):
                for row in rows:
                    yield row


async def run_variant(path: str, variant: str, out_path: str) -> Figures:
    """Export (or read) once with a ticker measuring the longest stall of the loop."""
    store = await SqliteStore.open(path)
    party = await store.get_party_by_code(CODE)
    assert party is not None
    from bot.guide import Guide

    source = await store.get_guide_source(f"party:{party.id}", party.guide_name or "")
    guide = Guide.model_validate_json(source) if source else None
    longest = 0.0
    running = True

    async def ticker() -> None:
        nonlocal longest
        last = time.perf_counter()
        while running:
            await asyncio.sleep(TICK)
            now = time.perf_counter()
            longest = max(longest, now - last - TICK)
            last = now

    # Full collections of the garbage collector pause the loop too (their length grows with
    # every live object of the process): timed, to tell them apart from the export's own work.
    full_gcs: list[float] = []
    gc_started = 0.0

    def on_gc(phase: str, info: dict[str, int]) -> None:
        nonlocal gc_started
        if info["generation"] == 2:
            if phase == "start":
                gc_started = time.perf_counter()
            else:
                full_gcs.append(time.perf_counter() - gc_started)

    variant, freeze, _ = variant.partition("+freeze")
    fmt, _, how = variant.partition(":")
    count = 0
    if freeze:
        # What bot/app.py could do once started (proposed in docs/benchmarks.md): move every
        # object alive after start-up out of the collector's reach, so full collections only
        # walk what was made since.
        gc.collect()
        gc.freeze()
    # Opened before the ticker starts and closed after it stops: the harness, not the export.
    fh = open(out_path, "w", encoding="utf-8", newline="")  # noqa: SIM115, ASYNC230
    try:
        before = rss_mb()
        gc.callbacks.append(on_gc)
        tick = asyncio.create_task(ticker())
        await asyncio.sleep(0.01)
        started = time.perf_counter()

        async def write(text: str) -> None:
            # A bot must not wait for the disk on its loop (writeback can block a write for
            # tens of milliseconds): each chunk of about 64 KB is written from a worker thread.
            await asyncio.to_thread(fh.write, text)

        if fmt == "read" and how == "pages":
            async for page in store.iter_record_rows(party.id):
                count += len(page)
        elif fmt == "read":
            source_iter: AsyncIterator[object] = (
                proposed_iter_records(path, party.id) if how == "proposed"
                else raw_rows(path, party.id) if how == "rows"
                else store.iter_records(party.id))
            async for _ in source_iter:
                count += 1
        elif how == "naive":
            # CSV and JSON Lines are written from rows, HTML from records: each loaded whole.
            from_rows = fmt in ("csv", "jsonl", "json")
            async with aiosqlite.connect(path) as db:
                rows = await db.execute_fetchall(
                    f"SELECT {_ROW_COLUMNS if from_rows else _RECORD_COLUMNS} FROM records"
                    " WHERE party_id = ? ORDER BY at, id", (party.id,))
            records = [] if from_rows else [_record(tuple(row)) for row in rows]
            loaded = ListStore(store, records, list(rows) if from_rows else [])
            del rows
            count = await write_export(loaded, party, guide,  # type: ignore[arg-type]
                                       fmt, write, anonymize=False, now=GO)
        else:
            count = await write_export(store, party, guide, fmt, write,
                                       anonymize=how == "anonymized", now=GO)
        await asyncio.to_thread(fh.flush)
        seconds = time.perf_counter() - started
        running = False
        await tick
        gc.callbacks.remove(on_gc)
    finally:
        fh.close()
    await store.close()
    size = os.path.getsize(out_path)  # noqa: ASYNC240 (the measurement is over)
    return Figures(variant + freeze, count, seconds, rss_mb(), before, longest * 1000, size / 1e6,
                   max(full_gcs, default=0.0) * 1000, len(full_gcs))


VARIANTS = ("read", "read:proposed", "read:rows", "read:pages", "csv", "jsonl", "html", "md",
            "json", "csv:anonymized", "csv+freeze", "jsonl+freeze", "html+freeze", "csv:naive",
            "jsonl:naive", "html:naive")
LABELS = {
    "read": "read only (SqliteStore.iter_records)",
    "read:proposed": "read only, proposed iter_records",
    "read:rows": "read only, rows without records",
    "read:pages": "read only, SqliteStore.iter_record_rows",
    "csv": "CSV", "jsonl": "JSON Lines", "html": "HTML", "md": "Markdown",
    "json": "JSON (one document)", "csv:anonymized": "CSV, anonymized (two passes)",
    "csv:naive": "CSV, naive (fetchall, then write)",
    "jsonl:naive": "JSON Lines, naive", "html:naive": "HTML, naive",
    "csv+freeze": "CSV, gc.freeze() after start-up", "jsonl+freeze": "JSON Lines, gc.freeze()",
    "html+freeze": "HTML, gc.freeze()",
}


def main() -> None:
    """Generate the file, run every variant in its own process, print the table."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--db", help="reuse (or create) this file instead of a temp one")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--rounds", type=int, default=2,
                        help="runs of each variant; the fastest is kept (others share the CPU)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        figures = asyncio.run(run_variant(args.db, args.child, args.out))
        print(json.dumps(figures.__dict__))
        return
    with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
        db = Path(args.db) if args.db else Path(tmp) / "export.db"
        if not db.exists():
            started = time.perf_counter()
            generate(db, args.records)
            print(f"generated {args.records:,} records in {time.perf_counter() - started:.1f} s"
                  f" ({db.stat().st_size / 1e6:.0f} MB)", flush=True)
        results = []
        for variant in args.variants.split(","):
            runs = []
            for _ in range(args.rounds):
                out = Path(tmp) / f"out-{variant.replace(':', '-')}"
                done = subprocess.run(
                    [sys.executable, "-m", "bench.export", "--db", str(db), "--child", variant,
                     "--out", str(out)], capture_output=True, text=True, check=False)
                out.unlink(missing_ok=True)
                if done.returncode != 0:
                    print(f"{variant} failed:\n{done.stderr}", file=sys.stderr)
                    break
                runs.append(Figures(**json.loads(done.stdout.strip().splitlines()[-1])))
            if not runs:
                continue
            figures = min(runs, key=lambda r: r.seconds)
            results.append(figures)
            print(f"{LABELS.get(variant, variant):<40} {figures.records:>9,} "
                  f"{figures.seconds:>7.2f} s  peak RSS {figures.rss_mb:>6.1f} MB "
                  f"(before {figures.rss_before_mb:.1f})  stall {figures.stall_ms:>7.1f} ms "
                  f"(worst run {max(r.stall_ms for r in runs):.1f})  full GCs {figures.gc_full} "
                  f"(longest {figures.gc_ms:.1f} ms)  out {figures.output_mb:>6.1f} MB",
                  flush=True)
    print()
    for r in results:
        fmt = r.variant.removesuffix("+freeze")
        if fmt in TARGETS:
            verdicts = [
                f"{r.seconds:.2f} s {'≤' if r.seconds <= TARGETS[fmt] else '>'} {TARGETS[fmt]:g} s",
                f"RSS {r.rss_mb:.0f} MB {'≤' if r.rss_mb <= RSS_TARGET_MB else '>'} "
                f"{RSS_TARGET_MB:g} MB",
                f"stall {r.stall_ms:.1f} ms {'≤' if r.stall_ms <= STALL_TARGET_MS else '>'} "
                f"{STALL_TARGET_MS:g} ms"]
            print(f"target {LABELS[r.variant]}: " + ", ".join(verdicts))


if __name__ == "__main__":
    main()
