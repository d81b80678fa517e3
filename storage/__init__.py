"""Stores that implement `bot.ports.Store`, chosen by a `DATABASE_URL`."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.ports import Store

ACCEPTED_URLS = ("sqlite:///relative/path.db, sqlite:////absolute/path.db, sqlite://:memory:, "
                 "memory://, postgresql://USER:PASSWORD@HOST:PORT/DB")
POSTGRES_NEEDS = ("a postgresql:// DATABASE_URL needs asyncpg, which is not installed: "
                  "pip install 'watchparty[postgres]'")


class UnsupportedDatabase(ValueError):
    """A `DATABASE_URL` this build cannot serve."""


class StoreUnavailable(Exception):
    """The database exists in the configuration but cannot be opened (missing folder, rights)."""


class StoreConflict(Exception):
    """A write broke a uniqueness or reference rule (a duplicate join code, a missing party)."""


def sqlite_path(database_url: str) -> str | None:
    """Return the file path of a `sqlite:` URL, ':memory:' for an in-memory one, None otherwise."""
    scheme, sep, rest = database_url.partition("://")
    if not sep or scheme.lower() != "sqlite":
        return None
    rest = rest.split("?", 1)[0]
    if rest in (":memory:", "/:memory:"):
        return ":memory:"
    if not rest.startswith("/") or rest == "/":
        # `sqlite://file.db` would name a host; say what the accepted spellings are instead.
        raise UnsupportedDatabase(
            "a SQLite DATABASE_URL needs three slashes before a relative path and four before "
            f"an absolute one; accepted: {ACCEPTED_URLS}"
        )
    return rest[1:]


async def open_store(database_url: str) -> Store:
    """Open the store a `DATABASE_URL` names, migrating it (SQLite file or PostgreSQL) first."""
    scheme, sep, _ = database_url.partition("://")
    scheme = scheme.lower() if sep else ""
    if scheme == "memory":
        from storage.memory import MemoryStore

        return MemoryStore()
    if scheme == "sqlite":
        path = sqlite_path(database_url)
        assert path is not None
        from storage.sqlite import SqliteStore

        return await SqliteStore.open(path)
    if scheme in ("postgresql", "postgres"):
        try:
            from storage.postgres.store import PostgresStore
        except ImportError as err:
            if err.name != "asyncpg":
                raise
            raise UnsupportedDatabase(POSTGRES_NEEDS) from None
        return await PostgresStore.open(database_url)
    # Name only the scheme: the rest of a URL may carry a password.
    named = f"'{scheme}'" if scheme else "(none)"
    raise UnsupportedDatabase(f"unsupported DATABASE_URL scheme {named}; accepted: {ACCEPTED_URLS}")


async def create_database(database_url: str) -> str | None:
    """Create the PostgreSQL database a `DATABASE_URL` names if it is missing; return what was
    made (`name on host:port`), else None. SQLite and memory stores make their own."""
    scheme = database_url.partition("://")[0].lower()
    if scheme not in ("postgresql", "postgres"):
        return None
    try:
        from storage.postgres.connect import create_database as create
    except ImportError as err:
        if err.name != "asyncpg":
            raise
        raise UnsupportedDatabase(POSTGRES_NEEDS) from None
    return await create(database_url)


async def copy_sqlite_to_postgres(path: str, database_url: str) -> list[str]:
    """Copy the SQLite file at `path` into the PostgreSQL database `database_url` names,
    idempotently; return a heading and one line per kind of thing copied."""
    try:
        from storage.postgres.from_sqlite import copy_from_sqlite, target_name
    except ImportError as err:
        if err.name != "asyncpg":
            raise
        raise UnsupportedDatabase(POSTGRES_NEEDS) from None
    copied = await copy_from_sqlite(path, database_url)
    return [f"copied {path} into {target_name(database_url)}:",
            *(f"  {c.line()}" for c in copied)]
