"""Shared fixtures: a fake clock, a recording chat gateway, and the wired core on a store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot import app
from bot.outbox import UNLIMITED
from bot.ports import Store
from storage.memory import MemoryStore
from storage.sqlite import SqliteStore
from tests.fakes import START, Bot, RecordingGateway, SettlingClock, test_settings


async def _open_store(kind: str, folder: Path) -> Store:
    if kind == "sqlite":
        # No lingering for company in group commit: that wait is real time, not clock time.
        return await SqliteStore.open(folder / "core.db", batch_delay=0)
    return MemoryStore()


@pytest.fixture(params=["memory", "sqlite"])
async def bot(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Bot]:
    """The whole core on a fake clock, started, on the memory store and on a SQLite file."""
    store = await _open_store(request.param, tmp_path)
    clock = SettlingClock(START, store)
    gateway = RecordingGateway("test", clock)
    runtime = await app.build(test_settings(), store, clock, {"test": (gateway, UNLIMITED)})
    await runtime.start()
    yield Bot(runtime, clock, gateway, store)
    await runtime.stop()
