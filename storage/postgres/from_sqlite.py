"""`python -m bot migrate --from sqlite:///old.db`: copy an SQLite database into PostgreSQL.

Every row keeps its id, so running it again copies nothing twice: a row whose key is there
already is left as it is and counted as such. The SQLite file is first brought to the current
schema (as starting the bot on it would), then only read.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from storage import StoreUnavailable
from storage.postgres.connect import connect_at_start, migrate, where
from storage.sqlite import migrate as migrate_sqlite

PAGE = 5_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _at(us: int | None) -> datetime | None:
    return None if us is None else _EPOCH + timedelta(microseconds=us)


def _flag(value: int | None) -> bool | None:
    return None if value is None else bool(value)


@dataclass(frozen=True)
class Table:
    """One table to copy: its columns (SQLite's expression for each where it differs), what
    turns SQLite's values into PostgreSQL's, and whether its id sequence must move on."""

    name: str
    label: str
    columns: tuple[str, ...]
    convert: dict[str, Callable[[Any], Any]]
    source: dict[str, str] | None = None
    identity: str | None = "id"


TABLES = (
    Table("parties", "parties",
          ("id", "code", "title", "host_platform", "host_user_id", "host_name", "home_platform",
           "home_chat_id", "starts_at", "timezone", "guide_name", "state", "created_at", "go_at",
           "paused_at", "paused_seconds", "resume_at", "ready_target", "finished_at",
           "seek_seconds", "follow_source", "sequence", "series_id", "episode", "episodes",
           "repeat_days", "series_anchor"),
          {c: _at for c in ("starts_at", "created_at", "go_at", "paused_at", "resume_at",
                            "finished_at")}),
    Table("party_chats", "linked chats",
          ("seq", "party_id", "platform", "chat_id", "status", "is_home", "requested_by",
           "thread_id"),
          {"is_home": _flag}, source={"seq": "rowid"}, identity="seq"),
    Table("records", "records",
          ("id", "party_id", "kind", "platform", "chat_id", "user_id", "display_name", "at",
           "position", "value", "prompt", "message_id", "event"), {"at": _at}),
    Table("forgotten", "forget-me requests", ("platform", "chat_id", "user_id", "at"),
          {"at": _at}, identity=None),
    Table("sent_messages", "posted messages",
          ("id", "party_id", "platform", "chat_id", "message_id", "kind", "prompt", "action_id"),
          {}),
    Table("actions", "scheduled actions",
          ("id", "party_id", "kind", "due_at", "payload", "status", "acquired_by",
           "acquired_until", "fence"), {"due_at": _at, "acquired_until": _at}),
    Table("chat_settings", "chat settings",
          ("platform", "chat_id", "timezone", "reminders", "creators", "retention_days",
           "moderator_role", "ping_reminders", "threads"),
          {"ping_reminders": _flag, "threads": _flag}, identity=None),
    Table("guides", "uploaded guides", ("scope", "name", "source"), {}, identity=None),
    Table("party_log", "party log entries", ("id", "party_id", "at", "key", "params"),
          {"at": _at}),
    Table("message_refs", "platform message names",
          ("platform", "ref", "chat_platform", "chat_id", "message_id"), {}, identity=None),
)


@dataclass(frozen=True)
class Copied:
    """How one table went: rows in the SQLite file, of which `copied` were new."""

    label: str
    found: int
    copied: int

    def line(self) -> str:
        """`records: 5000 copied` or `records: 0 copied, 5000 already there`."""
        there = self.found - self.copied
        return f"{self.label}: {self.copied} copied" + (f", {there} already there" if there
                                                        else "")


def _pages(path: str, table: Table) -> Any:
    """Open a read-only cursor over one SQLite table, in key order."""
    selected = ", ".join((table.source or {}).get(c, c) for c in table.columns)
    # One reader, used by one to_thread call at a time (a command runs nothing else).
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    order = (table.source or {}).get(table.identity or "", table.identity) or "rowid"
    return conn, conn.execute(f"SELECT {selected} FROM {table.name} ORDER BY {order}")


def _converted(table: Table, page: Sequence[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    converters = [table.convert.get(c) for c in table.columns]
    return [tuple(v if f is None else f(v) for f, v in zip(converters, row, strict=True))
            for row in page]


async def _copy_table(conn: asyncpg.Connection, path: str, table: Table) -> Copied:
    stage = f"copy_{table.name}"
    columns = ", ".join(table.columns)
    await conn.execute(f"CREATE TEMP TABLE {stage} (LIKE {table.name}) ON COMMIT DROP")
    source, cursor = await asyncio.to_thread(_pages, path, table)
    found = copied = 0
    try:
        while page := await asyncio.to_thread(cursor.fetchmany, PAGE):
            found += len(page)
            await conn.copy_records_to_table(stage, records=_converted(table, page),
                                             columns=list(table.columns))
            status = await conn.execute(
                f"INSERT INTO {table.name} ({columns}) SELECT {columns} FROM {stage}"
                " ON CONFLICT DO NOTHING")
            copied += int(status.rsplit(" ", 1)[-1])
            await conn.execute(f"TRUNCATE {stage}")
    finally:
        await asyncio.to_thread(source.close)
    if table.identity:
        # The next id the bot gives must come after every copied one.
        await conn.execute(
            f"SELECT setval(pg_get_serial_sequence('{table.name}', '{table.identity}'),"
            f" GREATEST((SELECT MAX({table.identity}) FROM {table.name}), 1))")
    return Copied(table.label, found, copied)


async def copy_from_sqlite(path: str, url: str) -> list[Copied]:
    """Copy every row of the SQLite file at `path` into the PostgreSQL database at `url`, in
    one transaction, keeping ids; a row already there (a second run) is not copied again."""
    if path == ":memory:" or not os.path.isfile(path):  # noqa: ASYNC240 - a command, not a bot
        raise StoreUnavailable(f"--from: no SQLite database at {path!r}")
    await migrate_sqlite(path)
    conn = await connect_at_start(url)
    try:
        await migrate(conn)
        async with conn.transaction():
            return [await _copy_table(conn, path, table) for table in TABLES]
    except sqlite3.Error as exc:
        raise StoreUnavailable(f"--from: cannot read {path!r}: {exc}") from exc
    finally:
        await conn.close()


def target_name(url: str) -> str:
    """How the summary names the PostgreSQL database (host, port and database, no password)."""
    from urllib.parse import urlsplit

    return f"PostgreSQL at {where(url)}/{urlsplit(url).path.lstrip('/')}"
