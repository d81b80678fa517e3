"""Consumes a feed in the background so a test can await the reports it wants."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from bot.feeds import Feed, FeedReport

WAIT_SECONDS = 20.0


class Follower:
    """Runs `feed.reports()` in a task and keeps every report."""

    def __init__(self, feed: Feed) -> None:
        self.feed = feed
        self.reports: list[FeedReport] = []
        self._changed = asyncio.Condition()
        self._task = asyncio.create_task(self._follow())

    async def _follow(self) -> None:
        try:
            async for report in self.feed.reports():
                self.reports.append(report)
                async with self._changed:
                    self._changed.notify_all()
        finally:
            async with self._changed:
                self._changed.notify_all()

    async def until(self, wanted: Callable[[FeedReport], bool], what: str,
                    after: int = 0) -> FeedReport:
        """Return the first report from index `after` on that is `wanted`."""

        def found() -> FeedReport | None:
            return next((r for r in self.reports[after:] if wanted(r)), None)

        try:
            async with asyncio.timeout(WAIT_SECONDS), self._changed:
                await self._changed.wait_for(lambda: found() is not None or self._task.done())
        except TimeoutError:
            raise AssertionError(f"no report {what}; last: {self.reports[-3:]}") from None
        report = found()
        if report is None:
            self._task.result()  # the feed ended: its exception is the test's failure
            raise AssertionError(f"the feed ended before a report {what}")
        return report

    async def ended(self) -> BaseException | None:
        """Wait for the feed to end on its own; return its exception."""
        async with asyncio.timeout(WAIT_SECONDS):
            await asyncio.wait({self._task})
        return self._task.exception()

    async def stop(self) -> None:
        """Stop following."""
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._task
