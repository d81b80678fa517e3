"""Clocks: the one source of 'now' for the core, real, scaled (rehearsals) or manual (tests)."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from datetime import UTC, datetime, timedelta


def utc(dt: datetime) -> datetime:
    """Return an aware UTC datetime, refusing naive ones."""
    if dt.tzinfo is None:
        raise ValueError("naive datetime: the core works in aware UTC only")
    return dt.astimezone(UTC)


class SystemClock:
    """The wall clock."""

    def now(self) -> datetime:
        """Return the current instant in UTC."""
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        """Sleep for real."""
        await asyncio.sleep(max(0.0, seconds))


class ScaledClock:
    """A clock that runs `speed` times faster than the wall clock from its creation on.

    Used by the console to rehearse a guide (`--speed 60`): a 94-minute film plays in 94 seconds.
    """

    def __init__(self, speed: float, origin: datetime | None = None) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.speed = speed
        self._origin = origin or datetime.now(UTC)
        self._mono0 = time.monotonic()

    def now(self) -> datetime:
        """Return the scaled current instant in UTC."""
        return self._origin + timedelta(seconds=(time.monotonic() - self._mono0) * self.speed)

    async def sleep(self, seconds: float) -> None:
        """Sleep for `seconds` of scaled time."""
        await asyncio.sleep(max(0.0, seconds) / self.speed)


class ManualClock:
    """A clock that only moves when told to: tests run a whole party with no real sleep."""

    def __init__(self, start: datetime) -> None:
        self._now = utc(start)
        self._sleepers: list[tuple[datetime, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def now(self) -> datetime:
        """Return the current (manual) instant."""
        return self._now

    async def sleep(self, seconds: float) -> None:
        """Wait until the clock has been advanced past now + seconds."""
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(
            self._sleepers, (self._now + timedelta(seconds=seconds), next(self._seq), fut)
        )
        await fut

    async def settle(self, rounds: int = 50) -> None:
        """Let every runnable task run until the loop is quiet."""
        for _ in range(rounds):
            await asyncio.sleep(0)

    async def advance(self, seconds: float, step: float | None = None) -> None:
        """Move time forward, waking sleepers in order and letting their work run."""
        target = self._now + timedelta(seconds=seconds)
        await self.settle()
        while True:
            while self._sleepers and self._sleepers[0][2].done():
                heapq.heappop(self._sleepers)
            if not self._sleepers or self._sleepers[0][0] > target:
                break
            when, _, fut = heapq.heappop(self._sleepers)
            if when > self._now:
                self._now = when
            fut.set_result(None)
            await self.settle()
        self._now = target
        await self.settle()
