"""A real PostgreSQL for the tests: one database of this test run's own, emptied between tests.

PostgreSQL 15 on 127.0.0.1:5432 (trust authentication, user postgres, database test) unless
TEST_DATABASE_URL names another server; the database named there is only where the test run's
own database is created from. Unreachable: the tests skip (one summary line), or fail under
CI=true.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from urllib.parse import urlsplit, urlunsplit

import pytest

ADMIN_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
SKIP_PREFIX = "PostgreSQL tests skipped"
TABLES = ("parties", "party_chats", "records", "forgotten", "sent_messages", "actions",
          "chat_settings", "guides", "party_log", "message_refs", "leases", "inbound_updates",
          "send_slots")

# The `bot` fixture's stores (tests/conftest.py) with PostgreSQL: a module of the core's tests
# runs on it too with `pytestmark = pytest.mark.parametrize("bot", STORES, indirect=True)`.
STORES = ["memory", "sqlite", "postgres"]

_state: dict[str, str | None] = {}


def running_in_ci() -> bool:
    """CI=true: the PostgreSQL tests must run, so an unreachable server fails them."""
    return os.environ.get("CI", "").lower() == "true"


def with_database(url: str, name: str) -> str:
    """The URL of database `name` on the server `url` names."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


def _where(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname or 'localhost'}:{parts.port or 5432}"


_NAME = f"watchparty_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
# Where this test run's database will be (created on first use by `database_url`).
URL = with_database(ADMIN_URL, _NAME)


async def _create() -> str:
    import asyncpg

    name = _NAME
    admin = await asyncpg.connect(ADMIN_URL, timeout=5)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return with_database(ADMIN_URL, name)


async def database_url() -> str:
    """Return the URL of this test run's database, creating it on first use; skip or fail
    when PostgreSQL cannot be reached."""
    if "url" not in _state:
        try:
            _state["url"] = await _create()
            _state["why"] = None
        except ImportError:
            _state["url"], _state["why"] = None, "asyncpg is not installed"
        except Exception as exc:  # the server's answer, whatever it is, is the reason
            _state["url"] = None
            _state["why"] = f"no PostgreSQL at {_where(ADMIN_URL)} ({type(exc).__name__}: {exc})"
    url = _state["url"]
    if url is not None:
        return url
    why = f"{_state['why']}; set TEST_DATABASE_URL to use another server"
    if running_in_ci():
        pytest.fail(f"PostgreSQL tests cannot run: {why}, and CI=true does not skip them",
                    pytrace=False)
    pytest.skip(f"{SKIP_PREFIX}: {why}")


async def empty_database() -> str:
    """Return this test run's database with every table emptied and every id restarted."""
    import asyncpg

    url = await database_url()
    from storage.postgres.connect import connect, migrate

    conn = await connect(url)
    try:
        await migrate(conn)
        await conn.execute(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE")
    except asyncpg.PostgresError:
        raise
    finally:
        await conn.close()
    return url


def drop_database() -> None:
    """Drop this test run's database, if it made one (at the end of the session)."""
    url = _state.get("url")
    if not url:
        return

    async def drop() -> None:
        import asyncpg

        admin = await asyncpg.connect(ADMIN_URL, timeout=5)
        try:
            name = urlsplit(url).path.lstrip("/")
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()
    asyncio.run(drop())
    _state.pop("url", None)
