"""Records/s through PostgresStore's group commit, against one commit per record and COPY.

Run: .venv/bin/python -m bench.postgres_ingest [--url postgresql://postgres@127.0.0.1:5432/test]
     [--records 200000] [--producers 1000] [--rounds 3]

A database of the bench's own is created on the server `--url` names (and dropped at the end);
every method writes the same records, converted by the same `storage.postgres.rows.record_row`,
into its `records` table, emptied before each method. The server's settings are its own
(synchronous_commit on: every commit waits for the WAL to reach the disk).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import time
import uuid
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from bench.ingest import Result, make_records, print_targets, produce_all, report
from bot.records import Record
from storage.group_commit import BATCH_DELAY, MAX_BATCH
from storage.postgres import rows
from storage.postgres.connect import connect, migrate
from storage.postgres.store import PostgresStore

COLUMNS = ["party_id", "kind", "platform", "chat_id", "user_id", "display_name", "at",
           "position", "value", "prompt", "message_id", "event"]
INSERT_ONE = (f"INSERT INTO records ({', '.join(COLUMNS)}) VALUES "
              f"({', '.join(f'${i}' for i in range(1, 13))})")


def _database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


async def empty(url: str) -> None:
    """Empty the records table between methods."""
    conn = await connect(url)
    try:
        await conn.execute("TRUNCATE records RESTART IDENTITY")
        await conn.execute("CHECKPOINT")  # each method starts without the last one's WAL
    finally:
        await conn.close()


async def stored_count(url: str) -> int:
    """How many records the table holds (read back after the writer closed)."""
    conn = await connect(url)
    try:
        return int(await conn.fetchval("SELECT COUNT(*) FROM records"))
    finally:
        await conn.close()


async def group_commit(url: str, records: list[Record], producers: int, max_batch: int,
                       delay: float) -> tuple[Result, list[float], int]:
    """Many producers, each awaiting the ack of every record before sending its next one."""
    store = await PostgresStore.open(url, max_batch=max_batch, batch_delay=delay)
    commits = store._writer.commit_count
    elapsed, latencies = await produce_all(store, records, producers)
    transactions = store._writer.commit_count - commits
    await store.close()
    stored = await stored_count(url)
    assert stored == len(records), f"{stored} stored, {len(records)} acknowledged"
    return Result("group commit (PostgresStore.add_record)", len(records), elapsed), \
        latencies, transactions


async def commit_per_record(url: str, records: list[Record]) -> Result:
    """The naive way: one connection, one INSERT a record, each its own transaction."""
    conn = await connect(url)
    try:
        started = time.perf_counter()
        for record in records:
            await conn.execute(INSERT_ONE, *rows.record_row(record))
        elapsed = time.perf_counter() - started
    finally:
        await conn.close()
    assert await stored_count(url) == len(records)
    return Result("one commit per record (asyncpg INSERT)", len(records), elapsed)


async def executemany(url: str, records: list[Record], chunk: int = 1_000) -> Result:
    """For reference: asyncpg executemany in transactions of `chunk` on one connection."""
    conn = await connect(url)
    try:
        started = time.perf_counter()
        for start in range(0, len(records), chunk):
            async with conn.transaction():
                await conn.executemany(INSERT_ONE, [rows.record_row(r)
                                                    for r in records[start:start + chunk]])
        elapsed = time.perf_counter() - started
    finally:
        await conn.close()
    assert await stored_count(url) == len(records)
    return Result(f"executemany, {chunk:,} per transaction (reference)", len(records), elapsed)


async def copy(url: str, records: list[Record], chunk: int = 10_000) -> Result:
    """The limit: COPY of the same rows, `chunk` a transaction, on one connection."""
    conn = await connect(url)
    try:
        started = time.perf_counter()
        for start in range(0, len(records), chunk):
            async with conn.transaction():
                await conn.copy_records_to_table(
                    "records", columns=COLUMNS,
                    records=[rows.record_row(r) for r in records[start:start + chunk]])
        elapsed = time.perf_counter() - started
    finally:
        await conn.close()
    assert await stored_count(url) == len(records)
    return Result(f"limit (COPY, {chunk:,} per transaction)", len(records), elapsed)


async def main() -> None:
    """Run every method on the bench's own database; print the table and the targets."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--url", default=os.environ.get(
        "TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"),
        help="a server to create the bench's database on")
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--producers", type=int, default=1_000)
    parser.add_argument("--baseline-records", type=int, default=5_000)
    parser.add_argument("--max-batch", type=int, default=MAX_BATCH)
    parser.add_argument("--delay", type=float, default=BATCH_DELAY, help="seconds")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    name = f"watchparty_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(args.url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = _database(args.url, name)
    try:
        conn = await connect(url)
        try:
            await migrate(conn)
            version = await conn.fetchval("SHOW server_version")
            sync = await conn.fetchval("SHOW synchronous_commit")
        finally:
            await conn.close()
        records = make_records(args.records)
        gc.collect()
        gc.freeze()
        rounds: list[tuple[Result, list[float], int]] = []
        singles, manys, copies = [], [], []
        for _ in range(args.rounds):
            await empty(url)
            gc.collect()
            rounds.append(await group_commit(url, records, args.producers, args.max_batch,
                                             args.delay))
            await empty(url)
            gc.collect()
            singles.append(await commit_per_record(url, records[:args.baseline_records]))
            await empty(url)
            gc.collect()
            manys.append(await executemany(url, records))
            await empty(url)
            gc.collect()
            copies.append(await copy(url, records))
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()

    grouped, latencies, transactions = min(rounds, key=lambda r: r[0].seconds)
    single = min(singles, key=lambda r: r.seconds)
    many = min(manys, key=lambda r: r.seconds)
    ceiling = min(copies, key=lambda r: r.seconds)
    p99 = report([grouped, single, many, ceiling], latencies, transactions, args)
    print()
    print_targets(grouped, single, ceiling, p99, times=10, share=0.6, limit="COPY")
    print(f"(cpu count {os.cpu_count()}, PostgreSQL {version}, synchronous_commit={sync}, "
          f"asyncpg {asyncpg.__version__})")


if __name__ == "__main__":
    asyncio.run(main())
