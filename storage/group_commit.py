"""Group commit, for every store that writes records: producers queue rows, one writer commits
what is queued in one transaction (up to `max_batch`), and each producer is answered with its
record's id only once that transaction has committed."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

log = logging.getLogger(__name__)

MAX_BATCH = 2_000
BATCH_DELAY = 0.002
PIPELINE = 2
LINGER_BELOW = 64

Row = tuple[Any, ...]
Commit = Callable[[list[Row]], Awaitable[Sequence[int]]]


class GroupCommit:
    """The one record writer of a store; `commit(rows)` stores a batch and returns its ids.

    A failed batch fails every record in it with the batch's exception: nobody is answered
    for a record that is not stored.
    """

    def __init__(self, commit: Commit, *, max_batch: int = MAX_BATCH,
                 batch_delay: float = BATCH_DELAY, name: str = "group-commit") -> None:
        self._commit_rows = commit
        self.max_batch = max_batch
        self.batch_delay = batch_delay
        self.queue: deque[tuple[Row, asyncio.Future[int]]] = deque()
        self._wake = asyncio.Event()
        self.closing = False
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.create_task(self._run(), name=name)

    def submit(self, row: Row) -> asyncio.Future[int]:
        """Queue one record row; the future gives its id once it is committed.

        A plain function, not a coroutine: a busy party sends tens of thousands a second, and
        a coroutine frame each is measurable (bench/ingest, bench/postgres_ingest).
        """
        if self.closing:
            raise RuntimeError("the store is closed")
        future: asyncio.Future[int] = self._loop.create_future()
        queue = self.queue
        queue.append((row, future))
        # Wake the writer when it may be idle (first record) or when a full batch is waiting.
        if len(queue) == 1 or len(queue) >= self.max_batch:
            self._wake.set()
        return future

    async def close(self) -> None:
        """Commit everything queued, then stop."""
        self.closing = True
        self._wake.set()
        await self._task

    async def _run(self) -> None:
        queue, wake, loop = self.queue, self._wake, self._loop
        # Two batches in flight: while one commits (on the connection's thread, or in the
        # server), the event loop acknowledges the previous one and gathers the next, so
        # neither side waits for the other.
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
                # A small batch after idling: give other producers a bounded moment to join it
                # (a full batch cuts it short). A batch that is already large has little to gain
                # from waiting, and records that queued during a commit have waited already.
                wake.clear()
                timer = loop.call_later(self.batch_delay, wake.set)
                await wake.wait()
                timer.cancel()
            idle = False
            await slots.acquire()
            batch = [queue.popleft() for _ in range(self._batch_size(PIPELINE - len(inflight)))]
            task = loop.create_task(self._commit(batch, slots))
            inflight.add(task)
            task.add_done_callback(inflight.discard)
        if inflight:
            await asyncio.gather(*inflight)

    def _batch_size(self, free: int) -> int:
        """How many queued rows the next batch takes, `free` writer slots being free now.

        With slots free, what is queued is shared among them (each part at least
        LINGER_BELOW rows): batches commit side by side, and the acks of the first come while
        the next commits, instead of every producer waiting for one batch at a time.
        """
        queued = min(len(self.queue), self.max_batch)
        if free > 1 and queued >= 2 * LINGER_BELOW:
            return max(LINGER_BELOW, -(-queued // free))
        return queued

    async def _commit(self, batch: list[tuple[Row, asyncio.Future[int]]],
                      slots: asyncio.Semaphore) -> None:
        try:
            ids = await self._commit_rows([row for row, _ in batch])
        except BaseException as exc:
            log.error("a batch of %d records failed: %s", len(batch), exc)
            failure = exc if isinstance(exc, Exception) else RuntimeError("the writer stopped")
            for _, future in batch:
                if not future.done():
                    future.set_exception(failure)
            if not isinstance(exc, Exception):
                raise
            return
        finally:
            slots.release()
        for record_id, (_, future) in zip(ids, batch, strict=True):
            if not future.done():
                future.set_result(record_id)
