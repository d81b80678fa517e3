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
from tests.postgres import SKIP_PREFIX, drop_database, empty_database


async def _open_store(kind: str, folder: Path) -> Store:
    if kind == "sqlite":
        # No lingering for company in group commit: that wait is real time, not clock time.
        return await SqliteStore.open(folder / "core.db", batch_delay=0)
    if kind == "postgres":
        from storage.postgres.store import PostgresStore

        return await PostgresStore.open(await empty_database(), batch_delay=0)
    return MemoryStore()


@pytest.fixture(params=["memory", "sqlite"])
async def bot(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Bot]:
    """The whole core on a fake clock, started, on the memory store and on a SQLite file.

    A module runs it on PostgreSQL too with
    `pytestmark = pytest.mark.parametrize("bot", tests.postgres.STORES, indirect=True)`.
    """
    store = await _open_store(request.param, tmp_path)
    clock = SettlingClock(START, store)
    gateway = RecordingGateway("test", clock)
    runtime = await app.build(test_settings(), store, clock, {"test": (gateway, UNLIMITED)})
    await runtime.start()
    yield Bot(runtime, clock, gateway, store)
    await runtime.stop()


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Drop the test run's PostgreSQL database."""
    drop_database()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say once, in one line, why the PostgreSQL tests were skipped."""
    for report in terminalreporter.stats.get("skipped", []):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else ""
        if SKIP_PREFIX in reason:
            count = sum(1 for r in terminalreporter.stats.get("skipped", [])
                        if isinstance(r.longrepr, tuple) and SKIP_PREFIX in r.longrepr[2])
            terminalreporter.write_line(f"{reason.removeprefix('Skipped: ')} ({count} tests)")
            return
