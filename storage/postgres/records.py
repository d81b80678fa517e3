"""Records on PostgreSQL: group commit (acknowledged only once committed) and exports that
stream from a server-side cursor."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncGenerator, Callable
from typing import Any

import asyncpg

from storage import StoreConflict
from storage.postgres import rows
from storage.postgres.connect import is_transient, on_pooled, retrying

log = logging.getLogger(__name__)

MAX_BATCH = 2_000
BATCH_DELAY = 0.002
PIPELINE = 2
LINGER_BELOW = 64
PAGE = 1_000

# One statement a batch: the rows go as twelve arrays. ORDER BY gives the new ids in the order
# of the batch; a stored (party, event) is left alone and looked up after.
INSERT_RECORDS = (
    "INSERT INTO records (party_id, kind, platform, chat_id, user_id, display_name, at,"
    " position, value, prompt, message_id, event)"
    " SELECT p, k, pl, c, u, d, a, pos, v, pr, m, e FROM unnest($1::bigint[], $2::text[],"
    " $3::text[], $4::text[], $5::text[], $6::text[], $7::timestamptz[], $8::float8[],"
    " $9::text[], $10::text[], $11::text[], $12::text[])"
    " WITH ORDINALITY AS r(p, k, pl, c, u, d, a, pos, v, pr, m, e, n) ORDER BY n"
    " ON CONFLICT (party_id, event) WHERE event IS NOT NULL DO NOTHING"
    " RETURNING id, party_id, event"
)
# A batch without events (most of them) needs no conflict handling: its ids are taken from the
# sequence in one round trip and the rows go by COPY, the fastest way in.
TAKE_IDS = "SELECT nextval('records_id_seq') FROM generate_series(1, $1)"
COPY_COLUMNS = ["id", "party_id", "kind", "platform", "chat_id", "user_id", "display_name",
                "at", "position", "value", "prompt", "message_id", "event"]
STORED_EVENTS = (
    "SELECT r.party_id, r.event, r.id FROM records r"
    " JOIN unnest($1::bigint[], $2::text[]) AS w(p, e) ON r.party_id = w.p AND r.event = w.e"
)

Batch = list[tuple[tuple[Any, ...], "asyncio.Future[int]"]]


async def insert_records(conn: asyncpg.Connection, batch_rows: list[tuple[Any, ...]]) -> list[int]:
    """Insert record rows in the caller's transaction; return each row's record id.

    A row whose (party, event) is stored already, or comes earlier in the batch, is not stored
    again and gets that record's id: a platform event delivered twice is one record. Another
    worker inserting the same event meanwhile makes ON CONFLICT wait for its commit.
    """
    event = rows.EVENT
    if all(row[event] is None for row in batch_rows):
        taken = [row[0] for row in await conn.fetch(TAKE_IDS, len(batch_rows))]
        await conn.copy_records_to_table(
            "records", columns=COPY_COLUMNS,
            records=[(record_id, *row) for record_id, row in zip(taken, batch_rows, strict=True)])
        return taken
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
    returned = await conn.fetch(INSERT_RECORDS, *(list(col) for col in zip(*fresh, strict=True)))
    returned = sorted(returned, key=lambda r: r[0])
    inserted = {(r[1], r[2]) for r in returned if r[2] is not None}
    ids: list[int] = []
    skipped: list[tuple[Any, Any]] = []
    returned_at = 0
    for row in fresh:
        key = (row[0], row[event])
        if row[event] is not None and key not in inserted:
            ids.append(-1)
            skipped.append(key)
            continue
        ids.append(returned[returned_at][0])
        returned_at += 1
    if skipped:
        stored = {(r[0], r[1]): r[2] for r in await conn.fetch(
            STORED_EVENTS, [k[0] for k in skipped], [k[1] for k in skipped])}
        ids = [stored[(row[0], row[event])] if found < 0 else found
               for found, row in zip(ids, fresh, strict=True)]
    return [ids[index] for index in plan]


class GroupCommit:
    """The one record writer of a store: what is queued goes in one transaction, up to
    `max_batch` rows, and each record is acknowledged once its transaction has committed."""

    def __init__(self, pool: asyncpg.Pool, activity: Callable[[int], None], *, max_batch: int,
                 batch_delay: float) -> None:
        self._pool = pool
        self._activity = activity
        self.max_batch = max_batch
        self.batch_delay = batch_delay
        self.commit_count = 0
        self.queue: deque[tuple[tuple[Any, ...], asyncio.Future[int]]] = deque()
        self._wake = asyncio.Event()
        self.closing = False
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.create_task(self._run(), name="postgres-group-commit")

    async def add(self, row: tuple[Any, ...]) -> int:
        """Queue one record row; return its id once it is committed."""
        if self.closing:
            raise RuntimeError("the store is closed")
        future: asyncio.Future[int] = self._loop.create_future()
        queue = self.queue
        queue.append((row, future))
        if len(queue) == 1 or len(queue) >= self.max_batch:
            self._wake.set()
        return await future

    async def close(self) -> None:
        """Commit everything queued, then stop."""
        self.closing = True
        self._wake.set()
        await self._task

    async def _run(self) -> None:
        queue, wake, loop = self.queue, self._wake, self._loop
        # Two batches in flight, on two connections: while one commits, the next gathers.
        slots = asyncio.Semaphore(PIPELINE)
        inflight: set[asyncio.Task[None]] = set()
        idle = True
        while True:
            if not queue:
                if self.closing:
                    break
                wake.clear()
                await wake.wait()
                idle = True
                continue
            if idle and self.batch_delay > 0 and len(queue) < LINGER_BELOW and not self.closing:
                # A small batch after idling waits a bounded moment for company.
                wake.clear()
                timer = loop.call_later(self.batch_delay, wake.set)
                await wake.wait()
                timer.cancel()
            idle = False
            await slots.acquire()
            batch = [queue.popleft() for _ in range(min(len(queue), self.max_batch))]
            task = loop.create_task(self._commit(batch, slots))
            inflight.add(task)
            task.add_done_callback(inflight.discard)
        if inflight:
            await asyncio.gather(*inflight)

    async def _commit(self, batch: Batch, slots: asyncio.Semaphore) -> None:
        batch_rows = [row for row, _ in batch]

        async def write(conn: asyncpg.Connection) -> list[int]:
            async with conn.transaction():
                return await insert_records(conn, batch_rows)

        self._activity(1)
        try:
            ids = await retrying(lambda: on_pooled(self._pool, write),
                                 f"storing {len(batch)} records")
        except BaseException as exc:
            log.error("a batch of %d records failed: %s", len(batch), exc)
            failure: BaseException
            if isinstance(exc, asyncpg.IntegrityConstraintViolationError):
                failure = StoreConflict(str(exc))
            elif isinstance(exc, Exception):
                failure = exc
            else:
                failure = RuntimeError("the writer stopped")
            for _, future in batch:
                if not future.done():
                    future.set_exception(failure)
            if not isinstance(exc, Exception):
                raise
            return
        finally:
            self._activity(-1)
            slots.release()
        self.commit_count += 1
        for record_id, (_, future) in zip(ids, batch, strict=True):
            if not future.done():
                future.set_result(record_id)


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
                conn.terminate()
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
