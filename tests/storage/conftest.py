"""Backends for the store contract suite: a new backend adds one entry to BACKENDS."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from bot.ports import Store
from storage.memory import MemoryStore
from storage.sqlite import SqliteStore
from tests.postgres import URL, database_url, empty_database
from tests.storage.backends import Backend


def _memory(tmp_path: Path) -> Backend:
    # Several "connections" to an in-memory database are the one store.
    shared = MemoryStore()

    async def opener() -> Store:
        return shared

    return Backend("memory", opener, durable=False)


def _sqlite(tmp_path: Path) -> Backend:
    path = tmp_path / "watchparty.db"

    async def opener() -> Store:
        return await SqliteStore.open(path)

    return Backend("sqlite", opener, durable=True, url=f"sqlite:///{path}")


def _postgres(tmp_path: Path) -> Backend:
    # One database for the whole test run, emptied when a test opens its first store.
    emptied = False

    async def opener() -> Store:
        nonlocal emptied
        from storage.postgres.store import PostgresStore

        url = await database_url()
        if not emptied:
            await empty_database()
            emptied = True
        return await PostgresStore.open(url)

    return Backend("postgres", opener, durable=True, url=URL)


BACKENDS: dict[str, Callable[[Path], Backend]] = {"memory": _memory, "sqlite": _sqlite,
                                                  "postgres": _postgres}
DURABLE = sorted(name for name, make in BACKENDS.items() if make(Path("unused")).durable)


@pytest.fixture(params=sorted(BACKENDS))
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    """Each backend in turn, closing whatever the test opened."""
    chosen = BACKENDS[request.param](tmp_path)
    yield chosen
    await chosen.close_all()


@pytest.fixture
async def store(backend: Backend) -> Store:
    """A fresh, empty store of each backend."""
    return await backend.open()


@pytest.fixture
async def sqlite_path(tmp_path: Path) -> Path:
    """A path for a SQLite file of a test's own."""
    return tmp_path / "own.db"


@pytest.fixture(params=DURABLE)
async def durable_backend(request: pytest.FixtureRequest,
                          tmp_path: Path) -> AsyncIterator[Backend]:
    """Each backend whose database other processes can open, in turn."""
    chosen = BACKENDS[request.param](tmp_path)
    yield chosen
    await chosen.close_all()


@pytest.fixture(params=DURABLE)
async def durable_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """A store of each backend that keeps its data on disk (for the performance checks)."""
    chosen = BACKENDS[request.param](tmp_path)
    yield await chosen.open()
    await chosen.close_all()
