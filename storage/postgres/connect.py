"""Reaching PostgreSQL: where a URL points (for messages without the password), the pool,
riding out a lost connection, and the migrations, applied once under an advisory lock."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TypeVar
from urllib.parse import unquote, urlsplit

import asyncpg

from storage import StoreUnavailable
from storage.migrate import Migration, run_migrations

log = logging.getLogger(__name__)

T = TypeVar("T")

DIALECT = "postgres"
CONNECT_TIMEOUT = 10.0
# How long an operation keeps trying to reach a database that went away while the bot ran
# (a restart, a failover) before it fails to its caller.
RETRY_FOR = 60.0
RETRY_FIRST = 0.05
RETRY_MAX = 2.0
# pg_advisory_lock key of the migrations: 'wpmi' — every worker that starts takes it, so one
# migrates and the others wait, then find nothing left to do.
MIGRATION_LOCK = 0x77706D69


def where(url: str) -> str:
    """Return `host:port` of a PostgreSQL URL (never its user or password)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "localhost"
        port = parts.port or 5432
    except ValueError:
        return "(an unreadable address)"
    if "/" in unquote(host):  # a Unix socket folder given as host
        return unquote(host)
    return f"{host}:{port}"


def is_transient(exc: BaseException) -> bool:
    """Whether `exc` means the connection or the server went away (worth trying again)."""
    if isinstance(exc, (asyncpg.PostgresConnectionError, asyncpg.CannotConnectNowError,
                        asyncpg.AdminShutdownError, asyncpg.CrashShutdownError,
                        asyncpg.TooManyConnectionsError, ConnectionError, TimeoutError)):
        return True
    if isinstance(exc, asyncpg.InterfaceError):
        return "closed" in str(exc)
    if isinstance(exc, asyncpg.InternalClientError):
        # What a pooled connection whose server went away while it was idle says first.
        return "another operation" in str(exc)
    return isinstance(exc, OSError)


async def on_pooled(pool: asyncpg.Pool, fn: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
    """Run `fn` on a connection of `pool`; a connection found dead is dropped, not reused."""
    async with pool.acquire() as conn:
        try:
            return await fn(conn)
        except Exception as exc:
            if is_transient(exc):
                drop(conn)
            raise


def drop(conn: asyncpg.Connection) -> None:
    """Terminate a pooled connection found dead, so the pool does not hand it out again.

    asyncpg may have let go of a connection whose server went away already (it then discards
    it itself): terminating it again is refused ("released back to the pool") and not needed.
    """
    with contextlib.suppress(asyncpg.InterfaceError):
        conn.terminate()


async def retrying(operation: Callable[[], Awaitable[T]], what: str) -> T:
    """Run `operation`, again after a lost connection, for up to RETRY_FOR seconds.

    Only whole operations are retried, each a transaction of its own: one the server never
    committed leaves nothing, so nothing acknowledged is lost and nothing is acknowledged twice.
    """
    deadline = time.monotonic() + RETRY_FOR
    delay = RETRY_FIRST
    while True:
        try:
            return await operation()
        except Exception as exc:
            if not is_transient(exc):
                raise
            if time.monotonic() + delay > deadline:
                raise StoreUnavailable(f"PostgreSQL did not answer for {RETRY_FOR:.0f} s "
                                       f"({what}): {exc}") from exc
            log.warning("PostgreSQL connection lost (%s: %s); trying again in %.2f s",
                        what, type(exc).__name__, delay)
        await asyncio.sleep(delay)
        delay = min(delay * 2, RETRY_MAX)


def unavailable(url: str, exc: BaseException) -> StoreUnavailable:
    """One line for a database that cannot be reached at start-up: host and port, no password."""
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    password = urlsplit(url).password
    if password:
        reason = reason.replace(password, "***")
    return StoreUnavailable(f"cannot connect to PostgreSQL at {where(url)}: {reason}")


async def connect(url: str) -> asyncpg.Connection:
    """Open one connection of its own (migrations, LISTEN), outside any pool."""
    return await asyncpg.connect(url, timeout=CONNECT_TIMEOUT)


async def connect_at_start(url: str) -> asyncpg.Connection:
    """`connect` for start-up work: a server that cannot be reached is one StoreUnavailable."""
    try:
        return await connect(url)
    except Exception as exc:
        raise unavailable(url, exc) from None


async def create_database(url: str) -> str | None:
    """Create the database `url` names on its server unless it exists; return what was made
    (`name on host:port`), else None. The server's `postgres` database is asked."""
    parts = urlsplit(url)
    name = unquote(parts.path.lstrip("/"))
    if not name or "/" in name:
        raise StoreUnavailable(f"the DATABASE_URL for {where(url)} names no database")
    admin_url = parts._replace(path="/postgres").geturl()
    conn = await connect_at_start(admin_url)
    try:
        if await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            return None
        quoted = '"' + name.replace('"', '""') + '"'
        try:
            await conn.execute(f"CREATE DATABASE {quoted}")
        except asyncpg.DuplicateDatabaseError:
            return None  # another worker or script made it at the same moment
        except asyncpg.PostgresError as exc:
            raise unavailable(url, exc) from None
        return f"{name} on {where(url)}"
    finally:
        await conn.close()


async def create_pool(url: str, min_size: int, max_size: int) -> asyncpg.Pool:
    """Open the pool every query of a store goes through."""
    pool = await asyncpg.create_pool(url, min_size=min_size, max_size=max_size,
                                     timeout=CONNECT_TIMEOUT,
                                     max_inactive_connection_lifetime=300.0)
    assert pool is not None
    return pool


class _MigrationTarget:
    """The runner's view of one connection that holds the migration lock."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def prepare(self) -> int | None:
        """Create schema_version if needed; return the newest version applied."""
        await self._conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_version (version integer PRIMARY KEY,"
            " name text NOT NULL, applied_at timestamptz NOT NULL)")
        newest = await self._conn.fetchval("SELECT MAX(version) FROM schema_version")
        return None if newest is None else int(newest)

    async def apply(self, migration: Migration) -> bool:
        """Apply one migration in one transaction unless it is recorded already."""
        async with self._conn.transaction():
            done = await self._conn.fetchval(
                "SELECT 1 FROM schema_version WHERE version = $1", migration.version)
            if done:
                return False
            await self._conn.execute(migration.sql)  # several statements: the simple protocol
            await self._conn.execute(
                "INSERT INTO schema_version (version, name, applied_at) VALUES ($1, $2, $3)",
                migration.version, migration.name, datetime.now(UTC))
        return True


async def migrate(conn: asyncpg.Connection) -> list[str]:
    """Bring the database to the newest schema, waiting for any other worker doing the same."""
    await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
    try:
        return await run_migrations(_MigrationTarget(conn), DIALECT)
    finally:
        if not conn.is_closed():
            await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK)
