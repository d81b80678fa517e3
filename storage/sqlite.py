"""The SQLite store: aiosqlite on a WAL file, numbered migrations, group commit for records."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sqlite3
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, aclosing, asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import aiosqlite

from bot.actions import Action, ActionKind, ActionStatus, Outcome
from bot.chats import ChatRef, ChatSettings, Creators
from bot.party import LinkStatus, Party, PartyChat, PartyState
from bot.ports import LogEntry, RecordRow, SendScope, SentKind, SentMessage, UpdateClaim
from bot.ratelimits import longest_window_ms, window_wait_ms
from bot.records import Record, RecordKind
from storage import StoreConflict, StoreUnavailable
from storage.group_commit import BATCH_DELAY, MAX_BATCH, GroupCommit
from storage.migrate import Migration, run_migrations
from storage.rules import (
    FOLLOWERS,
    WorkOnParty,
    check_addable,
    check_record,
    series_of,
    series_values,
    thread_id,
    work_party_id,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

BUSY_TIMEOUT_MS = 5_000
PAGE = 1_000

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
DIALECT = "sqlite"


# instants and values


def _us(dt: datetime) -> int:
    """Return microseconds since the epoch; a naive datetime raises TypeError."""
    return (dt - _EPOCH) // _US


def _opt_us(dt: datetime | None) -> int | None:
    return None if dt is None else (dt - _EPOCH) // _US


def _dt(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def _opt_dt(us: int | None) -> datetime | None:
    return None if us is None else _EPOCH + timedelta(microseconds=us)


_encode = json.JSONEncoder(separators=(",", ":")).encode


def _json(value: dict[str, Any]) -> str:
    return _encode(value)


def _seconds_text(delays: tuple[timedelta, ...]) -> str:
    """Return reminder offsets as comma-separated seconds, exact to the microsecond."""
    parts = []
    for delay in delays:
        us = delay // _US
        sign, us = ("-", -us) if us < 0 else ("", us)
        whole, frac = divmod(us, 1_000_000)
        parts.append(f"{sign}{whole}" + (f".{frac:06d}".rstrip("0") if frac else ""))
    return ",".join(parts)


def _seconds_tuple(text: str) -> tuple[timedelta, ...]:
    delays = []
    for part in filter(None, text.split(",")):
        sign = -1 if part.startswith("-") else 1
        whole, _, frac = part.lstrip("-").partition(".")
        us = int(whole) * 1_000_000 + (int(frac.ljust(6, "0")) if frac else 0)
        delays.append(timedelta(microseconds=sign * us))
    return tuple(delays)


# migrations


def _statements(script: str) -> list[str]:
    """Split a migration into statements; sqlite3.complete_statement understands triggers."""
    statements: list[str] = []
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            statements.append(pending)
            pending = ""
    leftover = "\n".join(
        line for line in pending.splitlines() if line.strip() and not line.strip().startswith("--")
    )
    if leftover:
        raise ValueError(f"unterminated statement at the end of a migration: {leftover[:60]!r}")
    return statements


class _MigrationTarget:
    """The runner's view of one SQLite connection (on its own thread, one step per call)."""

    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db

    async def prepare(self) -> int | None:
        """Create schema_version if needed; return the newest version applied."""
        def run(conn: sqlite3.Connection) -> int | None:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_version ("
                " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)"
            )
            newest = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0]
            return None if newest is None else int(newest)
        return await _call(self._db, run)

    async def apply(self, migration: Migration) -> bool:
        """Apply one migration in one write transaction unless it is recorded already."""
        def run(conn: sqlite3.Connection) -> bool:
            conn.execute("BEGIN IMMEDIATE")
            try:
                done = conn.execute("SELECT 1 FROM schema_version WHERE version = ?",
                                    (migration.version,)).fetchone()
                if not done:
                    for statement in _statements(migration.sql):
                        conn.execute(statement)
                    conn.execute(
                        "INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)",
                        (migration.version, migration.name, _us(datetime.now(UTC))),
                    )
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            return not done
        return await _call(self._db, run)


async def _migrate(db: aiosqlite.Connection) -> list[str]:
    return await run_migrations(_MigrationTarget(db), DIALECT)


# connections


async def _call(db: aiosqlite.Connection, fn: Callable[[sqlite3.Connection], T]) -> T:
    """Run `fn` on the connection's own thread as one uninterrupted step.

    aiosqlite (pinned in pyproject) runs every call of a connection on one thread, in order.
    Handing it a whole function, through its `_execute`, makes a transaction a single step: no
    other coroutine's statement can land inside it, it costs one thread round trip however many
    statements it has, and it runs to its end even if the awaiting task is cancelled.
    """
    return await db._execute(lambda: fn(db._conn))  # type: ignore[no-untyped-call,no-any-return]


class _Activity:
    """How many calls are queued or running on a store's connection threads."""

    def __init__(self) -> None:
        self.calls = 0
        self.quiet = asyncio.Event()
        self.quiet.set()

    def begin(self) -> None:
        self.calls += 1
        self.quiet.clear()

    def end(self) -> None:
        self.calls -= 1
        if not self.calls:
            self.quiet.set()


class _Connection(aiosqlite.Connection):
    """An aiosqlite connection that counts the calls queued or running on its thread."""

    def __init__(self, connector: Callable[[], sqlite3.Connection], activity: _Activity) -> None:
        super().__init__(connector, iter_chunk_size=64)
        self._activity = activity

    async def _execute(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        self._activity.begin()
        try:
            return await super()._execute(fn, *args, **kwargs)  # type: ignore[no-untyped-call]
        finally:
            self._activity.end()

    async def _connect(self) -> aiosqlite.Connection:
        self._activity.begin()
        try:
            return await super()._connect()
        finally:
            self._activity.end()

    async def close(self) -> None:
        """Close the connection and stop its thread, counted like any call."""
        self._activity.begin()
        try:
            await super().close()
        finally:
            self._activity.end()


def _memory_target() -> str:
    """Return a URI naming a fresh in-memory database its store's connections share."""
    return f"file:watchparty-{uuid.uuid4().hex}?mode=memory&cache=shared"


def _configure(conn: sqlite3.Connection, in_memory: bool) -> None:
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    if in_memory:
        # Connections to one shared-cache database lock tables, not the file, and busy_timeout
        # does not cover that: readers skip the table locks; the store serialises its writers.
        conn.execute("PRAGMA read_uncommitted = ON")
        conn.execute("PRAGMA foreign_keys = ON")
        return
    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        raise sqlite3.OperationalError(f"journal_mode is {mode}, not wal")
    # WAL with synchronous=NORMAL: a commit is in the WAL file (the OS has it) before it
    # returns, so it survives the process crashing or being killed; only an OS crash or power
    # cut may lose the last commits. That keeps a commit free of fsync, which is what lets
    # group commit reach tens of thousands of records per second.
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")


async def _connect(path: str, memory_target: str | None = None,
                   activity: _Activity | None = None) -> aiosqlite.Connection:
    """Connect to the file at `path`, or to the shared in-memory database `memory_target`."""
    target, uri = (path, False) if memory_target is None else (memory_target, True)
    if memory_target is None:
        folder = os.path.dirname(os.path.abspath(path))  # noqa: ASYNC240
        if not os.path.isdir(folder):  # noqa: ASYNC240 - at start-up, before the loop has work
            # Checked before aiosqlite starts its thread: a failed connect there leaves the
            # thread behind, which prints a traceback at exit.
            raise StoreUnavailable(f"cannot open SQLite database {path!r}: the folder "
                                   f"{folder!r} does not exist")
    connection = _Connection(
        lambda: sqlite3.connect(target, isolation_level=None, uri=uri),
        activity or _Activity())
    try:
        db = await connection
    except sqlite3.Error as exc:
        # aiosqlite stops its thread after a failed connect without waiting for it; wait here,
        # so the thread never reports back to an event loop that has closed meanwhile.
        await asyncio.to_thread(connection._thread.join, 5.0)
        raise StoreUnavailable(
            f"cannot open SQLite database {path!r}: {exc} (does its folder exist, is it writable?)"
        ) from exc
    try:
        await _call(db, lambda conn: _configure(conn, memory_target is not None))
    except sqlite3.Error as exc:
        await db.close()
        raise StoreUnavailable(f"cannot use SQLite database {path!r}: {exc}") from exc
    return db


async def migrate(path: str | os.PathLike[str]) -> list[str]:
    """Bring the SQLite file at `path` to the current schema; return the migrations applied."""
    db = await _connect(os.fspath(path))
    try:
        return await _migrate(db)
    finally:
        await db.close()


# rows to domain objects

_PARTY_COLUMNS = (
    "id, code, title, host_platform, host_user_id, host_name, home_platform, home_chat_id,"
    " starts_at, timezone, guide_name, state, created_at, go_at, paused_at, paused_seconds,"
    " resume_at, ready_target, finished_at, seek_seconds, follow_source, sequence, series_id,"
    " episode, episodes, repeat_days, series_anchor"
)
_PARTY_FIELDS = tuple(c.strip() for c in _PARTY_COLUMNS.split(",")[1:])
_RECORD_COLUMNS = (
    "id, party_id, kind, platform, chat_id, user_id, display_name, at, position, value,"
    " prompt, message_id, event"
)
# bot.ports.RecordRow, in its order
_ROW_COLUMNS = ("id, kind, platform, chat_id, user_id, display_name, at, position, value, prompt,"
                " message_id")
_ACTION_COLUMNS = (
    "id, party_id, kind, due_at, payload, status, acquired_by, acquired_until, fence"
)
_SENT_COLUMNS = "party_id, platform, chat_id, message_id, kind, prompt, action_id"

INSERT_RECORD = (
    "INSERT INTO records (party_id, kind, platform, chat_id, user_id, display_name, at,"
    " position, value, prompt, message_id, event) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_EVENT = 11  # where a record row holds its event
_INSERT_ACTION = (
    "INSERT INTO actions (party_id, kind, due_at, payload, status) VALUES (?, ?, ?, ?, 'pending')"
)

# Two ordered index scans (unleased pending by due time; expired leases), merged, so a claim
# reads `limit` rows of a partial index, not every pending action. The outer conditions are
# re-checked by the UPDATE itself, which makes the whole claim one atomic statement.
_HOLD_LEASE = (
    "INSERT INTO leases (name, holder, until_us) VALUES (:name, :owner, :until)"
    " ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until_us = excluded.until_us"
    " WHERE leases.holder = excluded.holder OR leases.until_us <= :now"
)
_CLAIM_UPDATE = (
    "INSERT INTO inbound_updates (source, update_id, holder, until_us)"
    " VALUES (:source, :id, :owner, :until)"
    " ON CONFLICT (source, update_id) DO UPDATE SET holder = excluded.holder,"
    " until_us = excluded.until_us WHERE inbound_updates.done = 0"
    " AND (inbound_updates.holder = excluded.holder OR inbound_updates.until_us <= :now)"
)
_CLAIM = f"""
UPDATE actions SET acquired_by = :owner, acquired_until = :until, fence = fence + 1
WHERE id IN (
    SELECT id FROM (
        SELECT id, due_at FROM (
            SELECT id, due_at FROM actions
            WHERE status = 'pending' AND acquired_until IS NULL AND due_at <= :now
            ORDER BY due_at, id LIMIT :limit)
        UNION ALL
        SELECT id, due_at FROM (
            SELECT id, due_at FROM actions
            WHERE status = 'pending' AND acquired_until IS NOT NULL
              AND acquired_until <= :now AND due_at <= :now
            ORDER BY due_at, id LIMIT :limit)
        ORDER BY due_at, id LIMIT :limit))
  AND status = 'pending' AND due_at <= :now
  AND (acquired_until IS NULL OR acquired_until <= :now)
RETURNING {_ACTION_COLUMNS}
"""

_NEXT_WAKEUP = """
SELECT
    (SELECT due_at FROM actions
     WHERE status = 'pending' AND acquired_until IS NULL ORDER BY due_at LIMIT 1),
    (SELECT MIN(MAX(due_at, acquired_until)) FROM actions
     WHERE status = 'pending' AND acquired_until IS NOT NULL)
"""


def _party(row: tuple[Any, ...], chats: list[PartyChat]) -> Party:
    return Party(
        id=row[0], code=row[1], title=row[2], host_platform=row[3], host_user_id=row[4],
        host_name=row[5], home=ChatRef(row[6], row[7]), starts_at=_dt(row[8]), timezone=row[9],
        guide_name=row[10], state=PartyState(row[11]), created_at=_dt(row[12]),
        go_at=_opt_dt(row[13]), paused_at=_opt_dt(row[14]), paused_seconds=row[15],
        resume_at=_opt_dt(row[16]), ready_target=row[17], finished_at=_opt_dt(row[18]),
        seek_seconds=row[19], follow_source=row[20], chats=chats, sequence=row[21],
        series=series_of(row[22:27]),
    )


def _party_values(party: Party) -> tuple[Any, ...]:
    return (
        party.code, party.title, party.host_platform, party.host_user_id, party.host_name,
        party.home.platform, party.home.chat_id, _us(party.starts_at), party.timezone,
        party.guide_name, PartyState(party.state).value, _us(party.created_at),
        _opt_us(party.go_at), _opt_us(party.paused_at), float(party.paused_seconds),
        _opt_us(party.resume_at), party.ready_target, _opt_us(party.finished_at),
        float(party.seek_seconds), party.follow_source, party.sequence,
        *series_values(party.series),
    )


def _load_parties(conn: sqlite3.Connection, where: str, params: Any) -> list[Party]:
    rows = conn.execute(f"SELECT {_PARTY_COLUMNS} FROM parties {where}", params).fetchall()
    if not rows:
        return []
    chats: dict[int, list[PartyChat]] = {row[0]: [] for row in rows}
    for party_id, platform, chat_id, status, is_home, requested_by, thread in conn.execute(
        "SELECT party_id, platform, chat_id, status, is_home, requested_by, thread_id"
        " FROM party_chats"
        " WHERE party_id IN (SELECT value FROM json_each(?)) ORDER BY is_home DESC, rowid",
        (json.dumps(list(chats)),),
    ):
        chats[party_id].append(PartyChat(
            party_id=party_id, chat=ChatRef(platform, chat_id), status=LinkStatus(status),
            is_home=bool(is_home), requested_by=requested_by,
            thread=None if thread is None else ChatRef(platform, thread),
        ))
    return [_party(row, chats[row[0]]) for row in rows]


_KINDS = {kind.value: kind for kind in RecordKind}
_ONE_US = timedelta(microseconds=1)


def _record(row: tuple[Any, ...]) -> Record:
    # Exports build a million of these: a dict lookup and a timedelta product are measurably
    # cheaper than RecordKind(...) and timedelta(microseconds=...) (bench/export).
    return Record(row[1], _KINDS[row[2]], row[3], row[4], row[5], row[6],
                  _EPOCH + _ONE_US * row[7], row[8], row[9], row[10], row[11], row[0], row[12])


def _action(row: tuple[Any, ...]) -> Action:
    return Action(
        id=row[0], party_id=row[1], kind=ActionKind(row[2]), due_at=_dt(row[3]),
        payload=json.loads(row[4]), status=ActionStatus(row[5]), acquired_by=row[6],
        acquired_until=_opt_dt(row[7]), fence=row[8],
    )


def _sent(row: tuple[Any, ...]) -> SentMessage:
    return SentMessage(
        party_id=row[0], chat=ChatRef(row[1], row[2]), message_id=row[3], kind=SentKind(row[4]),
        prompt=row[5], action_id=row[6],
    )


def record_row(record: Record) -> tuple[Any, ...]:
    """Return the row SqliteStore writes for a record, refusing one that would fail its batch."""
    check_record(record)
    kind = record.kind
    row = (record.party_id, kind._value_ if type(kind) is RecordKind else RecordKind(kind).value,
           record.platform, record.chat_id, record.user_id, record.display_name,
           (record.at - _EPOCH) // _US, record.position, record.value, record.prompt,
           record.message_id, record.event)
    return row


def _with_id(record: Record, row: tuple[Any, ...], record_id: int) -> Record:
    """Return the record as it now reads back from the database, id included."""
    at = record.at
    if at.tzinfo is not UTC:
        at = _EPOCH + timedelta(microseconds=row[6])
    kind = record.kind if type(record.kind) is RecordKind else RecordKind(record.kind)
    position = record.position
    if position is not None and type(position) is not float:
        position = float(position)
    return Record(record.party_id, kind, record.platform, record.chat_id, record.user_id,
                  record.display_name, at, position, record.value, record.prompt,
                  record.message_id, record_id, record.event)


def _insert_many(conn: sqlite3.Connection, table: str, sql: str, rows: list[Any]) -> int:
    """Insert rows inside the caller's write transaction; return the first new id.

    With the write lock held and no id given, SQLite numbers new rows max(id)+1, +2, … (it only
    picks other ids once max(id) reaches 2**63-1), so the ids are known without a round trip per
    row and without building id-carrying copies of the rows; the last id is checked all the same.
    """
    first = int(conn.execute(f"SELECT COALESCE(MAX(id), 0) + 1 FROM {table}").fetchone()[0])
    conn.executemany(sql, rows)
    last = int(conn.execute("SELECT last_insert_rowid()").fetchone()[0])
    if last != first + len(rows) - 1:
        raise RuntimeError(f"{table} ids are not consecutive; nothing was stored")
    return first


def _insert_records(conn: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> Sequence[int]:
    """Insert a batch of record rows inside the caller's write transaction; return their ids.

    A row whose (party, event) is stored already, or comes earlier in the same batch, is not
    inserted again and gets that record's id: a platform event delivered twice is one record.
    Checked under the write lock, so no other writer can slip the same event in between.
    """
    if all(row[_EVENT] is None for row in rows):
        first = _insert_many(conn, "records", INSERT_RECORD, rows)
        return range(first, first + len(rows))
    stored: dict[tuple[Any, Any], int] = {}  # (party, event) -> id of the stored record
    batched: dict[tuple[Any, Any], int] = {}  # (party, event) -> its row's index in `fresh`
    fresh: list[tuple[Any, ...]] = []
    plan: list[tuple[bool, int]] = []  # (True, stored id) or (False, index in `fresh`)
    for row in rows:
        event = row[_EVENT]
        key = (row[0], event)
        if event is not None:
            if key in batched:
                plan.append((False, batched[key]))
                continue
            if key not in stored:
                found = conn.execute("SELECT id FROM records WHERE party_id = ? AND event = ?",
                                     key).fetchone()
                if found is not None:
                    stored[key] = int(found[0])
            if key in stored:
                plan.append((True, stored[key]))
                continue
            batched[key] = len(fresh)
        plan.append((False, len(fresh)))
        fresh.append(row)
    first = _insert_many(conn, "records", INSERT_RECORD, fresh) if fresh else 0
    return [value if known else first + value for known, value in plan]


def _party_fields(party: Party) -> dict[str, Any]:
    """Return a party's own fields as the columns and values they are stored as."""
    return dict(zip(_PARTY_FIELDS, _party_values(party), strict=True))


def _insert_party(conn: sqlite3.Connection, party: Party) -> Party:
    """Insert a party with its home chat (approved) in the caller's transaction."""
    cursor = conn.execute(
        f"INSERT INTO parties ({', '.join(_PARTY_FIELDS)})"
        f" VALUES ({', '.join('?' * len(_PARTY_FIELDS))})",
        _party_values(party),
    )
    party_id = cursor.lastrowid
    conn.execute(
        "INSERT INTO party_chats (party_id, platform, chat_id, status, is_home)"
        " VALUES (?, ?, ?, ?, 1)",
        (party_id, party.home.platform, party.home.chat_id, LinkStatus.APPROVED.value),
    )
    return _load_parties(conn, "WHERE id = ?", (party_id,))[0]


def _one_party(conn: sqlite3.Connection, party_id: int) -> Party | None:
    found = _load_parties(conn, "WHERE id = ?", (party_id,))
    return found[0] if found else None


def _action_rows(actions: list[Action]) -> list[tuple[Any, ...]]:
    check_addable(actions)
    # This runs for 100,000 actions at a time: locals and a reused encoder keep it lean.
    encode, epoch, one_us = _encode, _EPOCH, _US
    return [(a.party_id, a.kind, (a.due_at - epoch) // one_us, encode(a.payload))
            for a in actions]


def _added(actions: list[Action], rows: list[tuple[Any, ...]], first: int) -> list[Action]:
    """Return the actions as stored, with the ids `_insert_many` gave them from `first` on."""
    return [
        Action(party_id=a.party_id,
               kind=a.kind if type(a.kind) is ActionKind else ActionKind(a.kind),
               due_at=a.due_at if a.due_at.tzinfo is UTC else _dt(row[2]),
               payload=a.payload, id=action_id)
        for action_id, (a, row) in enumerate(zip(actions, rows, strict=True), first)
    ]


def _cancel(conn: sqlite3.Connection, party_id: int, kinds: frozenset[ActionKind]) -> int:
    return int(conn.execute(
        "UPDATE actions SET status = 'cancelled' WHERE party_id = ? AND status = 'pending'"
        " AND kind IN (SELECT value FROM json_each(?))",
        (party_id, json.dumps([ActionKind(k).value for k in kinds])),
    ).rowcount)


def _pending(conn: sqlite3.Connection, party_id: int) -> list[Action]:
    rows = conn.execute(
        f"SELECT {_ACTION_COLUMNS} FROM actions WHERE party_id = ? AND status = 'pending'"
        " ORDER BY due_at, id",
        (party_id,),
    ).fetchall()
    return [_action(row) for row in rows]


def _upsert_link(conn: sqlite3.Connection, link: PartyChat) -> None:
    conn.execute(
        "INSERT INTO party_chats (party_id, platform, chat_id, status, is_home, requested_by,"
        " thread_id) VALUES (?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (party_id, platform, chat_id) DO UPDATE SET"
        " status = excluded.status, is_home = excluded.is_home,"
        " requested_by = excluded.requested_by, thread_id = excluded.thread_id",
        (link.party_id, link.chat.platform, link.chat.chat_id, LinkStatus(link.status).value,
         int(link.is_home), link.requested_by, thread_id(link)),
    )


def _set_link(conn: sqlite3.Connection, party_id: int, chat: ChatRef, status: LinkStatus) -> None:
    cursor = conn.execute(
        "UPDATE party_chats SET status = ? WHERE party_id = ? AND platform = ? AND chat_id = ?",
        (LinkStatus(status).value, party_id, chat.platform, chat.chat_id),
    )
    if cursor.rowcount == 0:
        raise LookupError(f"{chat} is not linked to party {party_id}")


def _insert_sent(conn: sqlite3.Connection, sent: SentMessage) -> None:
    conn.execute(
        f"INSERT INTO sent_messages ({_SENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (platform, chat_id, message_id) DO UPDATE SET"
        " party_id = excluded.party_id, kind = excluded.kind, prompt = excluded.prompt,"
        " action_id = excluded.action_id",
        (sent.party_id, sent.chat.platform, sent.chat.chat_id, sent.message_id,
         SentKind(sent.kind).value, sent.prompt, sent.action_id),
    )


def _insert_log(conn: sqlite3.Connection, entry: LogEntry) -> None:
    conn.execute("INSERT INTO party_log (party_id, at, key, params) VALUES (?, ?, ?, ?)",
                 (entry.party_id, _us(entry.at), entry.key, _json(entry.params)))


def _rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        conn.execute("ROLLBACK")


# Where each thing that follows a moved chat (storage.rules.FOLLOWERS) is stored.
_FOLLOW_SQL = {
    "party_chats": ("party_chats", "platform = :np, chat_id = :nc",
                    "platform = :op AND chat_id = :oc"),
    "sent_messages": ("sent_messages", "platform = :np, chat_id = :nc",
                      "platform = :op AND chat_id = :oc"),
    "forgotten": ("forgotten", "platform = :np, chat_id = :nc",
                  "platform = :op AND chat_id = :oc"),
    "chat_settings": ("chat_settings", "platform = :np, chat_id = :nc",
                      "platform = :op AND chat_id = :oc"),
    "home_chats": ("parties", "home_platform = :np, home_chat_id = :nc",
                   "home_platform = :op AND home_chat_id = :oc"),
    "records": ("records", "platform = :np, chat_id = :nc", "platform = :op AND chat_id = :oc"),
    "message_refs": ("message_refs", "chat_platform = :np, chat_id = :nc",
                     "chat_platform = :op AND chat_id = :oc"),
    "guides": ("guides", "scope = :ns", "scope = :os"),
}


class SqliteWork(WorkOnParty):
    """A unit of work on one party (`bot.ports.PartyWork`), on the store's work connection.

    Its statements run as they are called, inside the transaction the store began with
    `BEGIN IMMEDIATE`, which holds the database's write lock until the store commits.
    """

    def __init__(self, db: aiosqlite.Connection, party_id: int, party: Party | None) -> None:
        self._db = db
        self.party_id = party_id
        self.party = party
        self._stored = {} if party is None else _party_fields(party)

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        try:
            return await _call(self._db, fn)
        except sqlite3.IntegrityError as exc:
            raise StoreConflict(str(exc)) from exc

    async def save(self) -> None:
        """Write the party's own fields that changed since they were read or last saved."""
        party_id = self._party_id()
        assert self.party is not None
        now = _party_fields(self.party)
        changed = {column: value for column, value in now.items()
                   if self._stored.get(column) != value}
        if not changed:
            return
        sql = f"UPDATE parties SET {', '.join(f'{c} = ?' for c in changed)} WHERE id = ?"
        await self._run(lambda conn: conn.execute(sql, (*changed.values(), party_id)))
        self._stored = now

    async def add_actions(self, actions: list[Action]) -> list[Action]:
        """Store pending actions of this party; return them with ids."""
        for a in actions:
            self._own(a.party_id)
        if not actions:
            return []
        rows = _action_rows(actions)
        first = await self._run(lambda conn: _insert_many(conn, "actions", _INSERT_ACTION, rows))
        return _added(actions, rows, first)

    async def cancel_actions(self, kinds: frozenset[ActionKind]) -> int:
        """Cancel this party's pending actions of these kinds; return how many."""
        party_id = self.party_id
        return 0 if not kinds else await self._run(lambda conn: _cancel(conn, party_id, kinds))

    async def pending_actions(self) -> list[Action]:
        """Return this party's pending actions by due time."""
        party_id = self.party_id
        return await self._run(lambda conn: _pending(conn, party_id))

    async def _link(self, write: Callable[[sqlite3.Connection], None]) -> None:
        party_id = self._party_id()

        def run(conn: sqlite3.Connection) -> list[PartyChat]:
            write(conn)
            loaded = _one_party(conn, party_id)
            assert loaded is not None
            return loaded.chats
        chats = await self._run(run)
        assert self.party is not None
        self.party.chats = chats

    async def upsert_chat(self, link: PartyChat) -> None:
        """Add a chat to this party or change its link; `party.chats` follows."""
        self._own(link.party_id)
        await self._link(lambda conn: _upsert_link(conn, link))

    async def set_link_status(self, chat: ChatRef, status: LinkStatus) -> None:
        """Change the status of a linked chat; `party.chats` follows."""
        party_id = self._party_id()
        await self._link(lambda conn: _set_link(conn, party_id, chat, status))

    async def add_sent_message(self, sent: SentMessage) -> None:
        """Remember a message posted for this party."""
        self._own(sent.party_id)
        await self._run(lambda conn: _insert_sent(conn, sent))

    async def add_log(self, entry: LogEntry) -> None:
        """Append to this party's log."""
        self._own(entry.party_id)
        await self._run(lambda conn: _insert_log(conn, entry))


class SqliteStore:
    """`bot.ports.Store` on one SQLite file; use `await SqliteStore.open(path)`."""

    def __init__(self, db: aiosqlite.Connection, path: str, *, max_batch: int,
                 batch_delay: float, memory_target: str | None = None,
                 activity: _Activity | None = None) -> None:
        self._db = db
        self.path = path
        self._memory_target = memory_target
        self._activity = activity or _Activity()
        # Units of work run on a connection of their own, so the main one keeps reading while
        # one is open. Every write of this store takes this lock first: the main connection
        # must never wait inside SQLite for a write lock held by this store's own unit of work.
        self._work_db: aiosqlite.Connection | None = None
        self._write_lock = asyncio.Lock()
        self.commit_count = 0
        self._closed = False
        self._records = GroupCommit(self._commit_records, max_batch=max_batch,
                                    batch_delay=batch_delay, name="sqlite-group-commit")

    @classmethod
    async def open(cls, path: str | os.PathLike[str], *, max_batch: int = MAX_BATCH,
                   batch_delay: float = BATCH_DELAY) -> SqliteStore:
        """Open (or create) the file, set WAL and the other pragmas, and migrate it.

        The path ':memory:' gives a real SQLite database in memory, gone when the store closes.
        """
        path = os.fspath(path)
        memory_target = _memory_target() if path == ":memory:" else None
        activity = _Activity()
        db = await _connect(path, memory_target, activity)
        try:
            await _migrate(db)
        except BaseException:
            await db.close()
            raise
        return cls(db, path, max_batch=max_batch, batch_delay=batch_delay,
                   memory_target=memory_target, activity=activity)

    async def migrate(self) -> list[str]:
        """Apply the migrations this file lacks; return their names."""
        return await _migrate(self._db)

    async def close(self) -> None:
        """Write every queued record, then close the file."""
        if self._closed:
            return
        try:
            await self._records.close()
        finally:
            self._closed = True
            if self._work_db is not None:
                await self._work_db.close()
            await self._db.close()

    async def idle(self) -> bool:
        """Wait until no call of this store is queued or running; return whether it waited.

        For code that must know the store has nothing left in flight (tests on a manual
        clock, which only know the event loop is quiet, not the store's threads).
        """
        waited = False
        while self._activity.calls or self._records.queue:
            waited = True
            if self._activity.calls:
                await self._activity.quiet.wait()
            else:
                await asyncio.sleep(0)  # the writer takes the queued records on its next turn
        return waited

    # units of work

    def party(self, party_id: int) -> AbstractAsyncContextManager[SqliteWork]:
        """Begin a unit of work on a party (see `bot.ports.PartyWork`)."""
        return self._unit(party_id, lambda conn: _one_party(conn, party_id))

    def new_party(self, party: Party) -> AbstractAsyncContextManager[SqliteWork]:
        """Begin a unit of work that inserts a party with its home chat (approved)."""
        return self._unit(None, lambda conn: _insert_party(conn, party))

    @asynccontextmanager
    async def _unit(self, party_id: int | None,
                    begin: Callable[[sqlite3.Connection], Party | None]
                    ) -> AsyncIterator[SqliteWork]:
        async with self._write_lock:
            if self._work_db is None:
                self._work_db = await _connect(self.path, self._memory_target, self._activity)
            db = self._work_db

            def start(conn: sqlite3.Connection) -> Party | None:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    return begin(conn)
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
            try:
                party = await _call(db, start)
            except sqlite3.IntegrityError as exc:
                raise StoreConflict(str(exc)) from exc
            except BaseException:
                # Cancelled while the thread began: the transaction may be open; end it.
                await asyncio.shield(_call(db, _rollback))
                raise
            try:
                yield SqliteWork(db, work_party_id(party_id, party), party)
                await _call(db, lambda conn: conn.execute("COMMIT"))
            except BaseException:
                await asyncio.shield(_call(db, _rollback))
                raise
            self.commit_count += 1

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run several reads on one snapshot."""
        def run(conn: sqlite3.Connection) -> T:
            conn.execute("BEGIN")
            try:
                return fn(conn)
            finally:
                conn.execute("COMMIT")
        return await _call(self._db, run)

    async def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn` in one write transaction; a broken constraint becomes StoreConflict."""
        def run(conn: sqlite3.Connection) -> T:
            # IMMEDIATE takes the write lock first, so a transaction that reads then writes
            # never meets SQLITE_BUSY_SNAPSHOT: busy_timeout covers waiting for the lock.
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = fn(conn)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            return result
        try:
            async with self._write_lock:
                result = await _call(self._db, run)
        except sqlite3.IntegrityError as exc:
            raise StoreConflict(str(exc)) from exc
        self.commit_count += 1
        return result

    # parties

    async def create_party(self, party: Party) -> Party:
        """Insert a party with its home chat (approved); return it with its id."""
        return await self._write(lambda conn: _insert_party(conn, party))

    async def update_party(self, party: Party) -> None:
        """Save the party's own fields (not its chats)."""
        assignments = ", ".join(f"{c} = ?" for c in _PARTY_FIELDS)

        def run(conn: sqlite3.Connection) -> None:
            cursor = conn.execute(
                f"UPDATE parties SET {assignments} WHERE id = ?", (*_party_values(party), party.id)
            )
            if cursor.rowcount == 0:
                raise LookupError(f"no party {party.id}")
        await self._write(run)

    async def get_party(self, party_id: int) -> Party | None:
        """Return a party with its chats."""
        return await self._read(lambda conn: _one_party(conn, party_id))

    async def get_party_by_code(self, code: str) -> Party | None:
        """Return the party with this join code."""
        found = await self._read(lambda conn: _load_parties(conn, "WHERE code = ?", (code,)))
        return found[0] if found else None

    async def parties_for_chat(self, chat: ChatRef,
                               states: frozenset[PartyState]) -> list[Party]:
        """Return the parties in these states that this chat takes part in (approved), by start."""
        where = (
            "WHERE id IN (SELECT party_id FROM party_chats"
            " WHERE platform = ? AND chat_id = ? AND status = 'approved')"
            " AND state IN (SELECT value FROM json_each(?)) ORDER BY starts_at, id"
        )
        params = (chat.platform, chat.chat_id, json.dumps([PartyState(s).value for s in states]))
        return await self._read(lambda conn: _load_parties(conn, where, params))

    async def party_history(self, chat: ChatRef, offset: int,
                            limit: int) -> tuple[list[Party], int]:
        """Return a page of this chat's finished and cancelled parties, newest end first,
        and how many there are in all."""
        links = ("SELECT party_id FROM party_chats"
                 " WHERE platform = ? AND chat_id = ? AND status = 'approved'")
        ended = "state IN ('finished', 'cancelled')"
        where = (f"WHERE id IN ({links}) AND {ended}"
                 " ORDER BY COALESCE(finished_at, starts_at) DESC, id DESC LIMIT ? OFFSET ?")
        params = (chat.platform, chat.chat_id, limit, offset)

        def read(conn: sqlite3.Connection) -> tuple[list[Party], int]:
            total = conn.execute(f"SELECT COUNT(*) FROM parties WHERE id IN ({links})"
                                 f" AND {ended}", params[:2]).fetchone()[0]
            return _load_parties(conn, where, params), int(total)
        return await self._read(read)

    async def series_episode(self, series_id: int, episode: int) -> Party | None:
        """Return episode number `episode` of a series, if it was created."""
        found = await self._read(lambda conn: _load_parties(
            conn, "WHERE series_id = ? AND episode = ? ORDER BY id", (series_id, episode)))
        return found[0] if found else None

    async def upsert_party_chat(self, link: PartyChat) -> None:
        """Add a chat to a party or change its link status."""
        await self._write(lambda conn: _upsert_link(conn, link))

    async def thread_parent(self, thread: ChatRef) -> ChatRef | None:
        """Return the linked chat a party's thread belongs to; None for any other chat."""
        row = await _call(self._db, lambda conn: conn.execute(
            "SELECT chat_id FROM party_chats WHERE platform = ? AND thread_id = ? LIMIT 1",
            (thread.platform, thread.chat_id),
        ).fetchone())
        return None if row is None else ChatRef(thread.platform, row[0])

    async def set_link_status(self, party_id: int, chat: ChatRef, status: LinkStatus) -> None:
        """Change the status of a linked chat."""
        await self._write(lambda conn: _set_link(conn, party_id, chat, status))

    # records: group commit

    async def add_record(self, record: Record) -> Record:
        """Queue a record for the next group commit; return it with its id once committed."""
        row = record_row(record)
        return _with_id(record, row, await self._records.submit(row))

    async def _commit_records(self, rows: list[tuple[Any, ...]]) -> Sequence[int]:
        return await self._write(lambda conn: _insert_records(conn, rows))

    async def iter_records(self, party_id: int) -> AsyncIterator[Record]:
        """Stream a party's records in (at, id) order, a page at a time, from one snapshot."""
        # aclosing: a reader that stops early releases the cursor now, not when collected.
        async with aclosing(self._record_pages(party_id, _RECORD_COLUMNS)) as pages:
            async for rows in pages:
                for row in rows:
                    yield _record(tuple(row))

    def iter_record_rows(self, party_id: int) -> AsyncIterator[list[RecordRow]]:
        """Stream a party's records as `RecordRow` pages, in (at, id) order, from one snapshot."""
        return self._record_pages(party_id, _ROW_COLUMNS)

    async def _record_pages(self, party_id: int, columns: str) -> AsyncGenerator[list[Any], None]:
        # A connection of its own: the cursor's read snapshot lasts as long as the export, and
        # the main connection must go on committing records meanwhile.
        db = await _connect(self.path, self._memory_target, self._activity)
        try:
            await db.execute("PRAGMA query_only = ON")
            async with db.execute(
                f"SELECT {columns} FROM records WHERE party_id = ? ORDER BY at, id",
                (party_id,),
            ) as cursor:
                while rows := await cursor.fetchmany(PAGE):
                    yield list(rows)  # a list of tuples already: the copy is of pointers
        finally:
            await db.close()

    async def delete_user_records(self, chat: ChatRef, user_id: str) -> int:
        """Delete every record of this user in this chat, across parties; return how many."""
        return await self._write(lambda conn: conn.execute(
            "DELETE FROM records WHERE platform = ? AND chat_id = ? AND user_id = ?",
            (chat.platform, chat.chat_id, user_id),
        ).rowcount)

    async def delete_party_records(self, party_id: int, chat: ChatRef | None = None) -> int:
        """Delete every record of a party (only those made in `chat`, if given); return how many."""
        if chat is None:
            return await self._write(lambda conn: conn.execute(
                "DELETE FROM records WHERE party_id = ?", (party_id,)
            ).rowcount)
        return await self._write(lambda conn: conn.execute(
            "DELETE FROM records WHERE party_id = ? AND platform = ? AND chat_id = ?",
            (party_id, chat.platform, chat.chat_id),
        ).rowcount)

    async def add_forgotten(self, chat: ChatRef, user_id: str, at: datetime) -> None:
        """Remember that this user asked to be forgotten; the first request's time is kept."""
        params = (chat.platform, chat.chat_id, user_id, _us(at))
        await self._write(lambda conn: conn.execute(
            "INSERT INTO forgotten (platform, chat_id, user_id, at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT DO NOTHING",
            params,
        ))

    async def forgotten(self, chats: list[ChatRef]) -> set[tuple[str, str, str]]:
        """Return (platform, chat_id, user_id) of users forgotten in these chats."""
        def run(conn: sqlite3.Connection) -> set[tuple[str, str, str]]:
            found: set[tuple[str, str, str]] = set()
            for chat in set(chats):
                found.update(conn.execute(
                    "SELECT platform, chat_id, user_id FROM forgotten"
                    " WHERE platform = ? AND chat_id = ?",
                    (chat.platform, chat.chat_id),
                ))
            return found
        return await self._read(run)

    # messages the bot posted

    async def add_sent_message(self, sent: SentMessage) -> None:
        """Remember a message posted for a party; posting the same message again replaces it."""
        await self._write(lambda conn: _insert_sent(conn, sent))

    async def find_sent_message(self, chat: ChatRef, message_id: str) -> SentMessage | None:
        """Return what a posted message was for."""
        row = await _call(self._db, lambda conn: conn.execute(
            f"SELECT {_SENT_COLUMNS} FROM sent_messages"
            " WHERE platform = ? AND chat_id = ? AND message_id = ?",
            (chat.platform, chat.chat_id, message_id),
        ).fetchone())
        return None if row is None else _sent(row)

    async def sent_messages(self, party_id: int, kind: SentKind | None = None) -> list[SentMessage]:
        """Return a party's posted messages, optionally of one kind, in posting order."""
        if kind is None:
            sql = f"SELECT {_SENT_COLUMNS} FROM sent_messages WHERE party_id = ? ORDER BY id"
            params: tuple[Any, ...] = (party_id,)
        else:
            sql = (f"SELECT {_SENT_COLUMNS} FROM sent_messages WHERE party_id = ? AND kind = ?"
                   " ORDER BY id")
            params = (party_id, SentKind(kind).value)
        rows = await _call(self._db, lambda conn: conn.execute(sql, params).fetchall())
        return [_sent(row) for row in rows]

    async def sent_for_action(self, action_id: int) -> list[SentMessage]:
        """Return the messages posted for one action."""
        rows = await _call(self._db, lambda conn: conn.execute(
            f"SELECT {_SENT_COLUMNS} FROM sent_messages WHERE action_id = ? ORDER BY id",
            (action_id,),
        ).fetchall())
        return [_sent(row) for row in rows]

    # platform names for posted messages

    async def save_message_ref(self, platform: str, ref: str, chat: ChatRef,
                               message_id: str) -> None:
        """Remember a platform's own name for a posted message; saving it again replaces it."""
        params = (platform, ref, chat.platform, chat.chat_id, message_id)
        await self._write(lambda conn: conn.execute(
            "INSERT INTO message_refs (platform, ref, chat_platform, chat_id, message_id)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (platform, ref) DO UPDATE SET"
            " chat_platform = excluded.chat_platform, chat_id = excluded.chat_id,"
            " message_id = excluded.message_id",
            params,
        ))

    async def find_message_ref(self, platform: str, ref: str) -> tuple[ChatRef, str] | None:
        """Return the chat and message id a platform name was saved for."""
        row = await _call(self._db, lambda conn: conn.execute(
            "SELECT chat_platform, chat_id, message_id FROM message_refs"
            " WHERE platform = ? AND ref = ?",
            (platform, ref),
        ).fetchone())
        return None if row is None else (ChatRef(row[0], row[1]), row[2])

    async def move_chat(self, old: ChatRef, new: ChatRef) -> None:
        """Give everything stored under `old` to `new`, in one transaction; `new`'s own stay."""
        if old == new:
            return
        pair = {"op": old.platform, "oc": old.chat_id, "np": new.platform, "nc": new.chat_id,
                "os": str(old), "ns": str(new)}

        def run(conn: sqlite3.Connection) -> None:
            for follower in FOLLOWERS:
                table, assign, where = _FOLLOW_SQL[follower.name]
                if follower.keep_new:
                    # OR IGNORE leaves a row where `new` already has one; DELETE then drops it.
                    conn.execute(f"UPDATE OR IGNORE {table} SET {assign} WHERE {where}", pair)
                    conn.execute(f"DELETE FROM {table} WHERE {where}", pair)
                else:
                    conn.execute(f"UPDATE {table} SET {assign} WHERE {where}", pair)
        await self._write(run)

    # actions

    async def add_actions(self, actions: list[Action]) -> list[Action]:
        """Store pending actions in one transaction; return copies with ids."""
        if not actions:
            return []
        rows = _action_rows(actions)
        first = await self._write(
            lambda conn: _insert_many(conn, "actions", _INSERT_ACTION, rows)
        )
        return _added(actions, rows, first)

    async def next_wakeup(self) -> datetime | None:
        """Return the earliest instant a pending action can be claimed (due, or lease expiry)."""
        due, lease = await _call(self._db, lambda conn: conn.execute(_NEXT_WAKEUP).fetchone())
        times = [t for t in (due, lease) if t is not None]
        return _dt(min(times)) if times else None

    async def claim_due(self, now: datetime, owner: str, lease_until: datetime,
                        limit: int) -> list[Action]:
        """Lease up to `limit` pending actions due by `now`, earliest first, to `owner`.

        A lease ends at `acquired_until` itself, so the instant `next_wakeup` gives is claimable.
        """
        if limit <= 0:
            return []
        params = {"owner": owner, "until": _us(lease_until), "now": _us(now), "limit": limit}
        rows = await self._write(lambda conn: conn.execute(_CLAIM, params).fetchall())
        claimed = [_action(row) for row in rows]
        claimed.sort(key=lambda a: (a.due_at, a.id))
        return claimed

    async def renew_leases(self, owner: str, leases: list[tuple[int, int]],
                           lease_until: datetime) -> list[int]:
        """Extend the leases (action id, fence) `owner` still holds; return the ids extended."""
        if not leases:
            return []
        until = _us(lease_until)

        def run(conn: sqlite3.Connection) -> list[int]:
            return [action_id for action_id, fence in leases if conn.execute(
                "UPDATE actions SET acquired_until = ? WHERE id = ? AND fence = ?"
                " AND acquired_by = ? AND status = 'pending'",
                (until, action_id, fence, owner),
            ).rowcount]
        return await self._write(run)

    async def finish_actions(self, owner: str, outcomes: list[Outcome]) -> list[Outcome]:
        """Write outcomes still under `owner`'s lease and fence; return those written.

        The lease is kept as history.
        """
        if not outcomes:
            return []

        def run(conn: sqlite3.Connection) -> list[Outcome]:
            return [outcome for outcome in outcomes if conn.execute(
                "UPDATE actions SET status = ? WHERE id = ? AND fence = ? AND acquired_by = ?",
                (ActionStatus(outcome.status).value, outcome.action_id, outcome.fence, owner),
            ).rowcount]
        return await self._write(run)

    async def cancel_actions(self, party_id: int, kinds: frozenset[ActionKind]) -> int:
        """Cancel a party's pending actions of these kinds; return how many."""
        if not kinds:
            return 0
        return await self._write(lambda conn: _cancel(conn, party_id, kinds))

    async def reap_leases(self, now: datetime, owner: str) -> int:
        """Drop leases that ran out by `now` or are held under `owner`; return how many."""
        params = (_us(now), owner)
        return await self._write(lambda conn: conn.execute(
            "UPDATE actions SET acquired_by = NULL, acquired_until = NULL"
            " WHERE status = 'pending' AND acquired_until IS NOT NULL"
            " AND (acquired_until <= ? OR acquired_by = ?)",
            params,
        ).rowcount)

    # many workers on one database

    async def ping(self) -> None:
        """Return once the database answers a trivial query."""
        await _call(self._db, lambda conn: conn.execute("SELECT 1").fetchone())

    async def hold_lease(self, name: str, owner: str, now: datetime, until: datetime) -> bool:
        """Take or extend the named lease for `owner`: free, run out, or already `owner`'s."""
        params = {"name": name, "owner": owner, "now": _us(now), "until": _us(until)}
        return bool(await self._write(lambda conn: conn.execute(_HOLD_LEASE, params).rowcount))

    async def release_lease(self, name: str, owner: str) -> None:
        """Give up a lease `owner` holds."""
        await self._write(lambda conn: conn.execute(
            "DELETE FROM leases WHERE name = ? AND holder = ?", (name, owner)))

    async def claim_update(self, source: str, update_id: int, owner: str, now: datetime,
                           until: datetime) -> UpdateClaim:
        """Claim an inbound update: DONE if handled before, BUSY while another's claim runs."""
        params = {"source": source, "id": update_id, "owner": owner, "now": _us(now),
                  "until": _us(until)}

        def run(conn: sqlite3.Connection) -> UpdateClaim:
            if conn.execute(_CLAIM_UPDATE, params).rowcount:
                return UpdateClaim.CLAIMED
            row = conn.execute("SELECT done FROM inbound_updates WHERE source = ?"
                               " AND update_id = ?", (source, update_id)).fetchone()
            return UpdateClaim.DONE if row and row[0] else UpdateClaim.BUSY
        return await self._write(run)

    async def finish_update(self, source: str, update_id: int, now: datetime) -> None:
        """Mark an inbound update handled."""
        await self._write(lambda conn: conn.execute(
            "UPDATE inbound_updates SET done = 1, until_us = ? WHERE source = ?"
            " AND update_id = ?", (_us(now), source, update_id)))

    async def prune_updates(self, before: datetime) -> int:
        """Forget updates finished before `before`."""
        return await self._write(lambda conn: conn.execute(
            "DELETE FROM inbound_updates WHERE done = 1 AND until_us < ?",
            (_us(before),)).rowcount)

    async def take_send(self, scopes: list[SendScope], now_ms: int) -> tuple[int, str | None]:
        """Count one request against every scope, for all workers together, or say the wait."""
        def run(conn: sqlite3.Connection) -> tuple[int, str | None]:
            for name, rates, spare in scopes:
                conn.execute("DELETE FROM send_slots WHERE scope = ? AND at_ms <= ?",
                             (name, now_ms - longest_window_ms(rates)))
                taken = [row[0] for row in conn.execute(
                    "SELECT at_ms FROM send_slots WHERE scope = ?", (name,))]
                wait = window_wait_ms(rates, taken, now_ms, spare)
                if wait:
                    return wait, name
            conn.executemany("INSERT INTO send_slots (scope, at_ms) VALUES (?, ?)",
                             [(name, now_ms) for name, rates, _ in scopes if rates])
            return 0, None
        return await self._write(run)

    # chat settings and uploaded guides

    async def get_chat_settings(self, chat: ChatRef) -> ChatSettings:
        """Return a chat's settings, defaults when it has none stored."""
        row = await _call(self._db, lambda conn: conn.execute(
            "SELECT timezone, reminders, creators, retention_days, moderator_role, ping_reminders,"
            " threads FROM chat_settings WHERE platform = ? AND chat_id = ?",
            (chat.platform, chat.chat_id),
        ).fetchone())
        if row is None:
            return ChatSettings(chat=chat)
        return ChatSettings(
            chat=chat, timezone=row[0], reminders=_seconds_tuple(row[1]),
            creators=Creators(row[2]), retention_days=row[3], moderator_role=row[4],
            ping_reminders=bool(row[5]), threads=bool(row[6]),
        )

    async def save_chat_settings(self, settings: ChatSettings) -> None:
        """Store a chat's settings."""
        params = (settings.chat.platform, settings.chat.chat_id, settings.timezone,
                  _seconds_text(tuple(settings.reminders)), Creators(settings.creators).value,
                  settings.retention_days, settings.moderator_role, int(settings.ping_reminders),
                  int(settings.threads))
        await self._write(lambda conn: conn.execute(
            "INSERT INTO chat_settings (platform, chat_id, timezone, reminders, creators,"
            " retention_days, moderator_role, ping_reminders, threads)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (platform, chat_id) DO UPDATE SET timezone = excluded.timezone,"
            " reminders = excluded.reminders, creators = excluded.creators,"
            " retention_days = excluded.retention_days,"
            " moderator_role = excluded.moderator_role,"
            " ping_reminders = excluded.ping_reminders, threads = excluded.threads",
            params,
        ))

    async def save_guide(self, scope: str, name: str, source: str) -> None:
        """Store an uploaded guide's TOML under its owner, replacing one of the same name."""
        await self._write(lambda conn: conn.execute(
            "INSERT INTO guides (scope, name, source) VALUES (?, ?, ?)"
            " ON CONFLICT (scope, name) DO UPDATE SET source = excluded.source",
            (scope, name, source),
        ))

    async def get_guide_source(self, scope: str, name: str) -> str | None:
        """Return an uploaded guide's TOML."""
        row = await _call(self._db, lambda conn: conn.execute(
            "SELECT source FROM guides WHERE scope = ? AND name = ?", (scope, name)
        ).fetchone())
        return None if row is None else str(row[0])

    async def list_guides(self, scope: str) -> list[str]:
        """Return the names of guides uploaded by this owner, sorted."""
        rows = await _call(self._db, lambda conn: conn.execute(
            "SELECT name FROM guides WHERE scope = ? ORDER BY name", (scope,)
        ).fetchall())
        return [row[0] for row in rows]

    # party log

    async def add_log(self, entry: LogEntry) -> None:
        """Append to a party's log."""
        await self._write(lambda conn: _insert_log(conn, entry))

    async def party_log(self, party_id: int) -> list[LogEntry]:
        """Return a party's log in the order it was written."""
        rows = await _call(self._db, lambda conn: conn.execute(
            "SELECT party_id, at, key, params FROM party_log WHERE party_id = ? ORDER BY id",
            (party_id,),
        ).fetchall())
        return [LogEntry(party_id=r[0], at=_dt(r[1]), key=r[2], params=json.loads(r[3]))
                for r in rows]
