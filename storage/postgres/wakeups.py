"""Waking this worker's scheduler when another worker adds actions: LISTEN on a connection of
its own (a pooled one would drop the LISTEN when it is handed back), and a poll every few
seconds, as a fallback for a lost connection and right after a reconnect."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import asyncpg

from storage.postgres.connect import RETRY_MAX, connect, is_transient
from storage.postgres.work import CHANNEL

log = logging.getLogger(__name__)

POLL_SECONDS = 3.0


class Wakeups:
    """Calls every registered `wake` on each NOTIFY of the actions channel and every
    POLL_SECONDS; reconnects, with a back-off, when its connection is lost."""

    def __init__(self, url: str, poll_seconds: float = POLL_SECONDS) -> None:
        self._url = url
        self._poll = poll_seconds
        self._callbacks: list[Callable[[], None]] = []
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()

    def add(self, wake: Callable[[], None]) -> None:
        """Register `wake`; the first one starts listening."""
        self._callbacks.append(wake)
        if self._task is None:
            self._task = asyncio.create_task(self._listen(), name="postgres-listen")

    def _wake_all(self) -> None:
        for wake in self._callbacks:
            wake()

    def _notified(self, conn: object, pid: int, channel: str, payload: object) -> None:
        self._wake_all()

    async def _listen(self) -> None:
        delay = 0.1
        while True:
            conn: asyncpg.Connection | None = None
            try:
                conn = await connect(self._url)
                lost = asyncio.Event()
                conn.add_termination_listener(lambda _, lost=lost: lost.set())
                await conn.add_listener(CHANNEL, self._notified)
                self.connected.set()
                delay = 0.1
                self._wake_all()  # whatever was added while this worker was not listening
                while not conn.is_closed():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(lost.wait(), self._poll)
                    self._wake_all()
                log.warning("the LISTEN connection to PostgreSQL was lost; reconnecting")
            except Exception as exc:
                if not is_transient(exc):
                    log.exception("listening for new actions failed; polling instead")
                else:
                    log.warning("cannot LISTEN on PostgreSQL (%s); polling every %.0f s",
                                type(exc).__name__, self._poll)
            finally:
                self.connected.clear()
                if conn is not None and not conn.is_closed():
                    with contextlib.suppress(Exception):
                        await conn.close(timeout=2)
            # Disconnected: the poll goes on while waiting to reconnect.
            waited = 0.0
            while waited < delay:
                step = min(self._poll, delay - waited)
                await asyncio.sleep(step)
                waited += step
                self._wake_all()
            delay = min(delay * 2, max(RETRY_MAX, self._poll))

    async def close(self) -> None:
        """Stop listening and close the connection."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
