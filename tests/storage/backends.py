"""What the store contract suite knows of a backend under test."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from bot.ports import Store


@dataclass
class Backend:
    """One store implementation under test; `open()` gives a store on the same database."""

    name: str
    opener: Callable[[], Awaitable[Store]]
    durable: bool
    url: str | None = None  # a DATABASE_URL another process can open, for durable backends
    opened: list[Store] = field(default_factory=list)

    async def open(self) -> Store:
        """Open a store on this backend's database (for SQLite, another connection)."""
        store = await self.opener()
        self.opened.append(store)
        return store

    async def close_all(self) -> None:
        """Close every store this backend opened."""
        for store in reversed(self.opened):
            await store.close()
        self.opened.clear()
