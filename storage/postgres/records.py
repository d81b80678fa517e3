"""Records on PostgreSQL: group commit (acknowledged only once committed) and exports that
stream from a server-side cursor."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any

import asyncpg

from storage import StoreConflict
from storage.postgres import rows
from storage.postgres.connect import drop, is_transient, on_pooled, retrying

log = logging.getLogger(__name__)

PAGE = 1_000
RESERVE_IDS = 10_000

# Ids are taken from the sequence ahead (`GroupCommit._take_ids`), so a batch needs no round
# trip to learn them. A batch without events (most of them) goes by COPY, the fastest way in;
# one with events by one INSERT of twelve arrays that leaves a stored (party, event) alone.
TAKE_IDS = "SELECT nextval('records_id_seq') FROM generate_series(1, $1)"
COPY_COLUMNS = ["id", "party_id", "kind", "platform", "chat_id", "user_id", "display_name",
                "at", "position", "value", "prompt", "message_id", "event"]
INSERT_RECORDS = (
    "INSERT INTO records (id, party_id, kind, platform, chat_id, user_id, display_name, at,"
    " position, value, prompt, message_id, event)"
    " SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[],"
    " $6::text[], $7::text[], $8::timestamptz[], $9::float8[], $10::text[], $11::text[],"
    " $12::text[], $13::text[])"
    " ON CONFLICT (party_id, event) WHERE event IS NOT NULL DO NOTHING RETURNING id"
)
STORED_EVENTS = (
    "SELECT r.party_id, r.event, r.id FROM records r"
    " JOIN unnest($1::bigint[], $2::text[]) AS w(p, e) ON r.party_id = w.p AND r.event = w.e"
)

TakeIds = Callable[[asyncpg.Connection, int], Awaitable[list[int]]]


def has_events(batch_rows: list[tuple[Any, ...]]) -> bool:
    """Whether any row of a batch names the platform event it came from."""
    event = rows.EVENT
    return any(row[event] is not None for row in batch_rows)


async def insert_records(conn: asyncpg.Connection, batch_rows: list[tuple[Any, ...]],
                         take_ids: TakeIds) -> list[int]:
    """Store record rows; return each row's record id.

    Without events one COPY, which commits on its own unless the caller holds a transaction.
    With events, in the caller's transaction: a row whose (party, event) is stored already, or
    comes earlier in the batch, is not stored again and gets that record's id (a platform
    event delivered twice is one record); another worker inserting the same event meanwhile
    makes ON CONFLICT wait for its commit.
    """
    if not has_events(batch_rows):
        taken = await take_ids(conn, len(batch_rows))
        await conn.copy_records_to_table(
            "records", columns=COPY_COLUMNS,
            records=[(record_id, *row) for record_id, row in zip(taken, batch_rows, strict=True)])
        return taken
    event = rows.EVENT
    first_of: dict[tuple[Any, Any], int] = {}  # (party, event) -> index of its first row
    fresh: list[tuple[Any, ...]] = []
    plan: list[int] = []  # index into `fresh` of the row that carries each given row
    for row in batch_rows:
        key = (row[0], row[event])
        if row[event] is not None:
            if key in first_of:
                plan.append(first_of[key])
                continue
            first_of[key] = len(fresh)
        plan.append(len(fresh))
        fresh.append(row)
    ids = await take_ids(conn, len(fresh))
    columns = [list(col) for col in zip(*fresh, strict=True)]
    inserted = {r[0] for r in await conn.fetch(INSERT_RECORDS, ids, *columns)}
    skipped = [(row[0], row[event]) for record_id, row in zip(ids, fresh, strict=True)
               if record_id not in inserted]
    if skipped:
        stored = {(r[0], r[1]): r[2] for r in await conn.fetch(
            STORED_EVENTS, [k[0] for k in skipped], [k[1] for k in skipped])}
        ids = [record_id if record_id in inserted else stored[(row[0], row[event])]
               for record_id, row in zip(ids, fresh, strict=True)]
    return [ids[index] for index in plan]


class RecordWriter:
    """How a PostgreSQL store commits one batch of its group commit (`storage.group_commit`):
    with ids taken ahead, on a pooled connection, the whole batch again after a lost one."""

    def __init__(self, pool: asyncpg.Pool, activity: Callable[[int], None]) -> None:
        self._pool = pool
        self._activity = activity
        self._spare_ids: deque[int] = deque()
        self.commit_count = 0

    async def _take_ids(self, conn: asyncpg.Connection, count: int) -> list[int]:
        """Return `count` record ids from those this writer took from the sequence ahead.

        Taken a few thousand at a time, so most batches cost no round trip for their ids; ids
        stay unique across workers (a sequence never gives one twice), and ascend within one.
        """
        spare = self._spare_ids
        while len(spare) < count:
            spare.extend(row[0] for row in await conn.fetch(TAKE_IDS, max(count, RESERVE_IDS)))
        return [spare.popleft() for _ in range(count)]

    async def commit(self, batch_rows: list[tuple[Any, ...]]) -> list[int]:
        """Store one batch of record rows; return their ids once committed."""
        async def write(conn: asyncpg.Connection) -> list[int]:
            if not has_events(batch_rows):
                return await insert_records(conn, batch_rows, self._take_ids)
            async with conn.transaction():
                return await insert_records(conn, batch_rows, self._take_ids)

        self._activity(1)
        try:
            ids = await retrying(lambda: on_pooled(self._pool, write),
                                 f"storing {len(batch_rows)} records")
        except asyncpg.IntegrityConstraintViolationError as exc:
            raise StoreConflict(str(exc)) from exc
        finally:
            self._activity(-1)
        self.commit_count += 1
        return ids


async def record_pages(pool: asyncpg.Pool, party_id: int,
                       columns: str) -> AsyncGenerator[list[Any], None]:
    """Yield a party's records in (at, id) order a page at a time, from one snapshot.

    A connection of its own with a server-side cursor in a read-only repeatable-read
    transaction: the export sees the records as they were when it began, holds one page at a
    time, and the store goes on committing meanwhile.
    """
    async def begin() -> asyncpg.Connection:
        conn = await pool.acquire()
        try:
            await conn.execute("SELECT 1")  # a connection that died idle fails here, not later
        except Exception as exc:
            if is_transient(exc):
                drop(conn)
            await pool.release(conn)
            raise
        return conn

    conn = await retrying(begin, "starting an export")
    try:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            cursor = await conn.cursor(
                f"SELECT {columns} FROM records WHERE party_id = $1 ORDER BY at, id", party_id)
            while page := await cursor.fetch(PAGE):
                yield page
    finally:
        await pool.release(conn)
