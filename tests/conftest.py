"""Shared fixtures: a fake clock, a recording chat gateway, and the wired core on a store."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot import app
from bot.clock import ManualClock
from bot.outbox import UNLIMITED
from storage.memory import MemoryStore
from tests.fakes import START, Bot, RecordingGateway, test_settings


@pytest.fixture
async def bot() -> AsyncIterator[Bot]:
    """The whole core on a memory store and a fake clock, started."""
    clock = ManualClock(START)
    store = MemoryStore()
    gateway = RecordingGateway("test", clock)
    runtime = await app.build(test_settings(), store, clock, {"test": (gateway, UNLIMITED)})
    await runtime.start()
    yield Bot(runtime, clock, gateway, store)
    await runtime.stop()
