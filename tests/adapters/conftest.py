"""Fixtures shared by the adapter tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from bot.feeds import Feed
from tests.adapters.feedparty import FeedBot
from tests.adapters.follower import Follower


@pytest.fixture
async def follow() -> AsyncIterator[Callable[[Feed], Follower]]:
    """Start following feeds; each is stopped at the end of the test."""
    started: list[Follower] = []

    def start(feed: Feed) -> Follower:
        started.append(Follower(feed))
        return started[-1]

    yield start
    for follower in started:
        await follower.stop()


@pytest.fixture
async def bots() -> AsyncIterator[list[FeedBot]]:
    """Feed-following bots a test starts; each is stopped at the end, then their stores closed."""
    started: list[FeedBot] = []
    yield started
    for bot in started:
        await bot.stop()
    for store in {id(b.store): b.store for b in started}.values():
        await store.close()
