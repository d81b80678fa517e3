"""The PostgreSQL store: asyncpg, a pool, numbered migrations under an advisory lock, units of
work holding the party's row, actions leased with SKIP LOCKED, and group commit for records."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, aclosing, asynccontextmanager
from datetime import datetime, timedelta
from typing import Any, TypeVar

import asyncpg

from bot.actions import Action, ActionKind, Outcome
from bot.chats import ChatRef, ChatSettings, Creators
from bot.party import LinkStatus, Party, PartyChat, PartyState
from bot.ports import LogEntry, RecordRow, SendScope, SentKind, SentMessage, UpdateClaim
from bot.records import Record
from storage import StoreConflict
from storage.group_commit import BATCH_DELAY, MAX_BATCH, GroupCommit
from storage.postgres import chat_moves, coordination, rows, work
from storage.postgres import leases as lease_sql
from storage.postgres.connect import (
    connect,
    connect_at_start,
    create_pool,
    drop,
    is_transient,
    migrate,
    on_pooled,
    retrying,
    unavailable,
)
from storage.postgres.records import RecordWriter, record_pages
from storage.postgres.wakeups import Wakeups
from storage.rules import PartyLocks, work_party_id
from storage.sqlite import _seconds_text, _seconds_tuple

T = TypeVar("T")

# Claims go this far ahead of due time (bot.scheduler's lookahead): a claim is a round trip
# to a server other workers load too, and the local timer must already be waiting at the
# instant (bench/scheduler --store: p99 lateness 34 ms at 50 ms ahead, 4 ms at 500 ms).
CLAIM_AHEAD = timedelta(seconds=0.5)
POOL_MIN = 1
POOL_MAX = 10
# Connections never held by units of work: a unit may read through the store while it holds
# its own (the chat's settings, say), and the group commit's batches need theirs; were every
# pooled connection held by a unit waiting for one more, none would ever come back.
POOL_KEPT_FREE = 4

class PostgresStore:
    """`bot.ports.Store` on one PostgreSQL database; use `await PostgresStore.open(url)`.

    Any number of workers may open the same database: every rule that keeps them from losing
    or doubling work is a lock or a constraint in PostgreSQL, never in this process.
    """

    def __init__(self, pool: asyncpg.Pool, url: str, *, max_batch: int,
                 batch_delay: float) -> None:
        self._pool = pool
        self._url = url
        self._calls = 0
        self._quiet = asyncio.Event()
        self._quiet.set()
        self._writer = RecordWriter(pool, self._count)
        self._records = GroupCommit(self._writer.commit, max_batch=max_batch,
                                    batch_delay=batch_delay, name="postgres-group-commit")
        self._wakeups: Wakeups | None = None
        self._party_locks = PartyLocks()
        self._units = asyncio.Semaphore(max(1, pool.get_max_size() - POOL_KEPT_FREE))
        self._closed = False
        self.commit_count = 0
        self.claim_ahead = CLAIM_AHEAD

    @classmethod
    async def open(cls, url: str, *, max_batch: int = MAX_BATCH,
                   batch_delay: float = BATCH_DELAY, pool_max: int = POOL_MAX) -> PostgresStore:
        """Connect, apply the migrations this database lacks (one worker at a time), and pool.

        A database that cannot be reached raises StoreUnavailable naming host and port.
        """
        conn = await connect_at_start(url)
        try:
            await migrate(conn)
        finally:
            await conn.close()
        try:
            pool = await create_pool(url, POOL_MIN, pool_max)
        except Exception as exc:
            raise unavailable(url, exc) from None
        return cls(pool, url, max_batch=max_batch, batch_delay=batch_delay)

    async def migrate(self) -> list[str]:
        """Apply the migrations this database lacks; return their names."""
        conn = await connect(self._url)
        try:
            return await migrate(conn)
        finally:
            await conn.close()

    async def close(self) -> None:
        """Commit every queued record, stop listening, and close the pool."""
        if self._closed:
            return
        self._closed = True
        try:
            await self._records.close()
        finally:
            if self._wakeups is not None:
                await self._wakeups.close()
            await self._pool.close()

    def on_actions_added(self, wake: Callable[[], None]) -> None:
        """Call `wake` when any worker adds actions (LISTEN on a connection of its own), every
        few seconds as well, and after a reconnect: `bot.ports.SharedActions`."""
        if self._wakeups is None:
            self._wakeups = Wakeups(self._url)
        self._wakeups.add(wake)

    def _count(self, delta: int) -> None:
        self._calls += delta
        if self._calls:
            self._quiet.clear()
        else:
            self._quiet.set()

    async def idle(self) -> bool:
        """Wait until no call of this store is queued or running; return whether it waited.

        For tests on a manual clock, which only know the event loop is quiet, not that an
        answer from the server is still on its way.
        """
        waited = False
        while self._calls or self._records.queue:
            waited = True
            if self._calls:
                await self._quiet.wait()
            else:
                await asyncio.sleep(0)
        return waited

    # running statements

    async def _run(self, fn: Callable[[asyncpg.Connection], Awaitable[T]], what: str) -> T:
        """Run `fn` on a pooled connection (again after a lost connection)."""
        self._count(1)
        try:
            return await retrying(lambda: on_pooled(self._pool, fn), what)
        except asyncpg.IntegrityConstraintViolationError as exc:
            raise StoreConflict(str(exc)) from exc
        finally:
            self._count(-1)

    async def _write(self, fn: Callable[[asyncpg.Connection], Awaitable[T]], what: str) -> T:
        """Run `fn` in one transaction, the whole of it again after a lost connection."""
        async def in_transaction(conn: asyncpg.Connection) -> T:
            async with conn.transaction():
                return await fn(conn)
        result = await self._run(in_transaction, what)
        self.commit_count += 1
        return result

    # units of work

    def party(self, party_id: int) -> AbstractAsyncContextManager[work.PostgresWork]:
        """Begin a unit of work on a party (see `bot.ports.PartyWork`)."""
        async def begin(conn: asyncpg.Connection) -> Party | None:
            found = await work.load_parties(conn, work.LOCK_PARTY, party_id)
            return found[0] if found else None
        return self._unit(party_id, begin)

    def new_party(self, party: Party) -> AbstractAsyncContextManager[work.PostgresWork]:
        """Begin a unit of work that inserts a party with its home chat (approved)."""
        return self._unit(None, lambda conn: work.insert_party(conn, party))

    @asynccontextmanager
    async def _unit(self, party_id: int | None,
                    begin: Callable[[asyncpg.Connection], Awaitable[Party | None]]
                    ) -> AsyncIterator[work.PostgresWork]:
        async def start() -> tuple[asyncpg.Connection, Any, Party | None]:
            conn = await self._pool.acquire()
            try:
                transaction = conn.transaction()
                await transaction.start()
                return conn, transaction, await begin(conn)
            except BaseException as exc:
                if isinstance(exc, Exception) and is_transient(exc):
                    drop(conn)
                await self._pool.release(conn)  # a reset connection rolls back what began
                raise
        self._count(1)
        try:
            async with self._party_locks.hold(party_id), self._units:
                try:
                    conn, transaction, party = await retrying(start, "beginning a unit of work")
                except asyncpg.IntegrityConstraintViolationError as exc:
                    raise StoreConflict(str(exc)) from exc
                try:
                    yield work.PostgresWork(conn, work_party_id(party_id, party), party)
                    await transaction.commit()
                except BaseException:
                    if not conn.is_closed() and conn.is_in_transaction():
                        try:
                            await asyncio.shield(transaction.rollback())
                        except Exception as exc:
                            if not is_transient(exc):
                                raise
                    raise
                finally:
                    await self._pool.release(conn)
                self.commit_count += 1
        finally:
            self._count(-1)

    # parties

    async def create_party(self, party: Party) -> Party:
        """Insert a party with its home chat (approved); return it with its id."""
        return await self._write(lambda conn: work.insert_party(conn, party), "creating a party")

    async def update_party(self, party: Party) -> None:
        """Save the party's own fields (not its chats)."""
        assignments = ", ".join(f"{c} = ${i}" for i, c in enumerate(rows.PARTY_FIELDS, 1))
        values = rows.party_values(party)

        async def run(conn: asyncpg.Connection) -> None:
            done = await conn.execute(
                f"UPDATE parties SET {assignments} WHERE id = ${len(values) + 1}",
                *values, party.id)
            if work.affected(done) == 0:
                raise LookupError(f"no party {party.id}")
        await self._write(run, "saving a party")

    async def get_party(self, party_id: int) -> Party | None:
        """Return a party with its chats."""
        found = await self._read_parties("WHERE id = $1", party_id)
        return found[0] if found else None

    async def get_party_by_code(self, code: str) -> Party | None:
        """Return the party with this join code."""
        found = await self._read_parties("WHERE code = $1", code)
        return found[0] if found else None

    async def _read_parties(self, where: str, *args: Any) -> list[Party]:
        sql = f"SELECT {rows.PARTY_COLUMNS} FROM parties {where}"

        async def run(conn: asyncpg.Connection) -> list[Party]:
            # One snapshot for the parties and their chats.
            async with conn.transaction(isolation="repeatable_read", readonly=True):
                return await work.load_parties(conn, sql, *args)
        return await self._run(run, "reading parties")

    async def parties_for_chat(self, chat: ChatRef,
                               states: frozenset[PartyState]) -> list[Party]:
        """Return the parties in these states that this chat takes part in (approved), by start."""
        return await self._read_parties(
            "WHERE id IN (SELECT party_id FROM party_chats WHERE platform = $1 AND chat_id = $2"
            " AND status = 'approved') AND state = ANY($3::text[]) ORDER BY starts_at, id",
            chat.platform, chat.chat_id, [PartyState(s).value for s in states])

    async def party_history(self, chat: ChatRef, offset: int,
                            limit: int) -> tuple[list[Party], int]:
        """Return a page of this chat's finished and cancelled parties, newest end first,
        and how many there are in all."""
        ended = ("id IN (SELECT party_id FROM party_chats WHERE platform = $1 AND chat_id = $2"
                 " AND status = 'approved') AND state IN ('finished', 'cancelled')")
        sql = (f"SELECT {rows.PARTY_COLUMNS} FROM parties WHERE {ended}"
               " ORDER BY COALESCE(finished_at, starts_at) DESC, id DESC LIMIT $3 OFFSET $4")

        async def run(conn: asyncpg.Connection) -> tuple[list[Party], int]:
            async with conn.transaction(isolation="repeatable_read", readonly=True):
                total = await conn.fetchval(f"SELECT count(*) FROM parties WHERE {ended}",
                                            chat.platform, chat.chat_id)
                page = await work.load_parties(conn, sql, chat.platform, chat.chat_id, limit,
                                               offset)
                return page, int(total)
        return await self._run(run, "reading the history")

    async def series_episode(self, series_id: int, episode: int) -> Party | None:
        """Return episode number `episode` of a series, if it was created."""
        found = await self._read_parties("WHERE series_id = $1 AND episode = $2 ORDER BY id",
                                         series_id, episode)
        return found[0] if found else None

    async def upsert_party_chat(self, link: PartyChat) -> None:
        """Add a chat to a party or change its link status (and its thread)."""
        await self._write(lambda conn: work.upsert_link(conn, link), "linking a chat")

    async def thread_parent(self, thread: ChatRef) -> ChatRef | None:
        """Return the linked chat a party's thread belongs to; None for any other chat."""
        chat_id = await self._run(lambda conn: conn.fetchval(
            "SELECT chat_id FROM party_chats WHERE platform = $1 AND thread_id = $2 LIMIT 1",
            thread.platform, thread.chat_id), "finding a thread's chat")
        return None if chat_id is None else ChatRef(thread.platform, chat_id)

    async def set_link_status(self, party_id: int, chat: ChatRef, status: LinkStatus) -> None:
        """Change the status of a linked chat."""
        await self._write(lambda conn: work.set_link(conn, party_id, chat, status),
                          "changing a link")

    # records

    async def add_record(self, record: Record) -> Record:
        """Queue a record for the next group commit; return it with its id once committed."""
        row = rows.record_row(record)
        return rows.with_id(record, row, await self._records.submit(row))

    async def iter_records(self, party_id: int) -> AsyncIterator[Record]:
        """Stream a party's records in (at, id) order from a server-side cursor."""
        async with aclosing(record_pages(self._pool, party_id, rows.RECORD_COLUMNS)) as pages:
            async for page in pages:
                for row in page:
                    yield rows.record(row)

    async def iter_record_rows(self, party_id: int) -> AsyncGenerator[list[RecordRow], None]:
        """Stream a party's records as `RecordRow` pages, in the order of `iter_records`."""
        async with aclosing(record_pages(self._pool, party_id, rows.ROW_COLUMNS)) as pages:
            async for page in pages:
                yield [tuple(row) for row in page]

    async def delete_user_records(self, chat: ChatRef, user_id: str) -> int:
        """Delete every record of this user in this chat, across parties; return how many."""
        return work.affected(await self._write(lambda conn: conn.execute(
            "DELETE FROM records WHERE platform = $1 AND chat_id = $2 AND user_id = $3",
            chat.platform, chat.chat_id, user_id), "forgetting a user's records"))

    async def delete_party_records(self, party_id: int, chat: ChatRef | None = None) -> int:
        """Delete every record of a party (only those made in `chat`, if given); return how many."""
        if chat is None:
            status = await self._write(lambda conn: conn.execute(
                "DELETE FROM records WHERE party_id = $1", party_id), "deleting records")
        else:
            status = await self._write(lambda conn: conn.execute(
                "DELETE FROM records WHERE party_id = $1 AND platform = $2 AND chat_id = $3",
                party_id, chat.platform, chat.chat_id), "deleting records")
        return work.affected(status)

    async def add_forgotten(self, chat: ChatRef, user_id: str, at: datetime) -> None:
        """Remember that this user asked to be forgotten; the first request's time is kept."""
        when = rows.aware(at)
        await self._write(lambda conn: conn.execute(
            "INSERT INTO forgotten (platform, chat_id, user_id, at) VALUES ($1, $2, $3, $4)"
            " ON CONFLICT DO NOTHING", chat.platform, chat.chat_id, user_id, when),
            "remembering a forget-me")

    async def forgotten(self, chats: list[ChatRef]) -> set[tuple[str, str, str]]:
        """Return (platform, chat_id, user_id) of users forgotten in these chats."""
        if not chats:
            return set()
        found = await self._run(lambda conn: conn.fetch(
            "SELECT f.platform, f.chat_id, f.user_id FROM forgotten f"
            " JOIN unnest($1::text[], $2::text[]) AS c(p, i) ON f.platform = c.p"
            " AND f.chat_id = c.i", [c.platform for c in chats], [c.chat_id for c in chats]),
            "reading forget-me requests")
        return {(r[0], r[1], r[2]) for r in found}

    # messages the bot posted

    async def add_sent_message(self, sent: SentMessage) -> None:
        """Remember a message posted for a party; posting the same message again replaces it."""
        await self._write(lambda conn: work.insert_sent(conn, sent), "remembering a post")

    async def find_sent_message(self, chat: ChatRef, message_id: str) -> SentMessage | None:
        """Return what a posted message was for."""
        row = await self._run(lambda conn: conn.fetchrow(
            f"SELECT {rows.SENT_COLUMNS} FROM sent_messages"
            " WHERE platform = $1 AND chat_id = $2 AND message_id = $3",
            chat.platform, chat.chat_id, message_id), "finding a post")
        return None if row is None else rows.sent(row)

    async def sent_messages(self, party_id: int, kind: SentKind | None = None) -> list[SentMessage]:
        """Return a party's posted messages, optionally of one kind, in posting order."""
        if kind is None:
            found = await self._run(lambda conn: conn.fetch(
                f"SELECT {rows.SENT_COLUMNS} FROM sent_messages WHERE party_id = $1 ORDER BY id",
                party_id), "reading posts")
        else:
            found = await self._run(lambda conn: conn.fetch(
                f"SELECT {rows.SENT_COLUMNS} FROM sent_messages WHERE party_id = $1"
                " AND kind = $2 ORDER BY id", party_id, SentKind(kind).value), "reading posts")
        return [rows.sent(row) for row in found]

    async def sent_for_action(self, action_id: int) -> list[SentMessage]:
        """Return the messages posted for one action."""
        found = await self._run(lambda conn: conn.fetch(
            f"SELECT {rows.SENT_COLUMNS} FROM sent_messages WHERE action_id = $1 ORDER BY id",
            action_id), "reading an action's posts")
        return [rows.sent(row) for row in found]

    # platform names for posted messages

    async def save_message_ref(self, platform: str, ref: str, chat: ChatRef,
                               message_id: str) -> None:
        """Remember a platform's own name for a posted message; saving it again replaces it."""
        await self._write(lambda conn: conn.execute(
            "INSERT INTO message_refs (platform, ref, chat_platform, chat_id, message_id)"
            " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (platform, ref) DO UPDATE SET"
            " chat_platform = excluded.chat_platform, chat_id = excluded.chat_id,"
            " message_id = excluded.message_id",
            platform, ref, chat.platform, chat.chat_id, message_id), "naming a post")

    async def find_message_ref(self, platform: str, ref: str) -> tuple[ChatRef, str] | None:
        """Return the chat and message id a platform name was saved for."""
        row = await self._run(lambda conn: conn.fetchrow(
            "SELECT chat_platform, chat_id, message_id FROM message_refs"
            " WHERE platform = $1 AND ref = $2", platform, ref), "finding a post's name")
        return None if row is None else (ChatRef(row[0], row[1]), row[2])

    async def move_chat(self, old: ChatRef, new: ChatRef) -> None:
        """Give everything stored under `old` to `new`, in one transaction; `new`'s own stay."""
        if old == new:
            return
        await self._write(lambda conn: chat_moves.move(conn, old, new), "moving a chat")

    # actions

    async def add_actions(self, actions: list[Action]) -> list[Action]:
        """Store pending actions in one transaction; return copies with ids."""
        if not actions:
            return []
        return await self._write(lambda conn: work.insert_actions(conn, actions),
                                 "adding actions")

    async def next_wakeup(self) -> datetime | None:
        """Return the earliest instant a pending action can be claimed (due, or lease expiry)."""
        return await self._run(lease_sql.next_wakeup, "next wakeup")

    async def claim_due(self, now: datetime, owner: str, lease_until: datetime,
                        limit: int) -> list[Action]:
        """Lease up to `limit` pending actions due by `now`, earliest first, to `owner`."""
        if limit <= 0:
            return []
        return await self._write(lambda conn: lease_sql.claim(conn, now, owner, lease_until, limit),
                                 "claiming actions")

    async def renew_leases(self, owner: str, leases: list[tuple[int, int]],
                           lease_until: datetime) -> list[int]:
        """Extend the leases (action id, fence) `owner` still holds; return the ids extended."""
        if not leases:
            return []
        return await self._write(lambda conn: lease_sql.renew(conn, owner, leases, lease_until),
                                 "renewing leases")

    async def finish_actions(self, owner: str, outcomes: list[Outcome]) -> list[Outcome]:
        """Write outcomes still under `owner`'s lease and fence; return those written."""
        if not outcomes:
            return []
        return await self._write(lambda conn: lease_sql.finish(conn, owner, outcomes),
                                 "finishing actions")

    async def cancel_actions(self, party_id: int, kinds: frozenset[ActionKind]) -> int:
        """Cancel a party's pending actions of these kinds; return how many."""
        if not kinds:
            return 0
        return await self._write(lambda conn: work.cancel(conn, party_id, kinds),
                                 "cancelling actions")

    async def reap_leases(self, now: datetime, owner: str) -> int:
        """Drop leases that ran out by `now` or are held under `owner`; return how many."""
        return await self._write(lambda conn: lease_sql.reap(conn, now, owner), "reaping leases")

    # many workers on one database

    async def ping(self) -> None:
        """Return once the database answers a trivial query (no retrying: a health check)."""
        async with self._pool.acquire() as conn:
            await conn.fetchval("SELECT 1")

    async def hold_lease(self, name: str, owner: str, now: datetime, until: datetime) -> bool:
        """Take or extend the named lease for `owner`: free, run out, or already `owner`'s."""
        return await self._write(lambda conn: coordination.hold_lease(
            conn, name, owner, rows.aware(now), rows.aware(until)), "holding a lease")

    async def release_lease(self, name: str, owner: str) -> None:
        """Give up a lease `owner` holds."""
        await self._write(lambda conn: conn.execute(
            "DELETE FROM leases WHERE name = $1 AND holder = $2", name, owner),
            "releasing a lease")

    async def claim_update(self, source: str, update_id: int, owner: str, now: datetime,
                           until: datetime) -> UpdateClaim:
        """Claim an inbound update: DONE if handled before, BUSY while another's claim runs."""
        return await self._write(lambda conn: coordination.claim_update(
            conn, source, update_id, owner, rows.aware(now), rows.aware(until)),
            "claiming an update")

    async def finish_update(self, source: str, update_id: int, now: datetime) -> None:
        """Mark an inbound update handled."""
        when = rows.aware(now)
        await self._write(lambda conn: conn.execute(
            "UPDATE inbound_updates SET done = true, until = $3 WHERE source = $1"
            " AND update_id = $2", source, update_id, when), "finishing an update")

    async def prune_updates(self, before: datetime) -> int:
        """Forget updates finished before `before`."""
        when = rows.aware(before)
        return work.affected(await self._write(lambda conn: conn.execute(
            "DELETE FROM inbound_updates WHERE done AND until < $1", when), "pruning updates"))

    async def take_send(self, scopes: list[SendScope], now_ms: int) -> tuple[int, str | None]:
        """Count one request against every scope, for all workers together, or say the wait."""
        return await self._write(lambda conn: coordination.take_send(conn, scopes, now_ms),
                                 "counting a send")

    # chat settings and uploaded guides

    async def get_chat_settings(self, chat: ChatRef) -> ChatSettings:
        """Return a chat's settings, defaults when it has none stored."""
        row = await self._run(lambda conn: conn.fetchrow(
            "SELECT timezone, reminders, creators, retention_days, moderator_role, ping_reminders,"
            " threads FROM chat_settings WHERE platform = $1 AND chat_id = $2",
            chat.platform, chat.chat_id), "reading chat settings")
        if row is None:
            return ChatSettings(chat=chat)
        return ChatSettings(chat=chat, timezone=row[0], reminders=_seconds_tuple(row[1]),
                            creators=Creators(row[2]), retention_days=row[3],
                            moderator_role=row[4], ping_reminders=row[5], threads=row[6])

    async def save_chat_settings(self, settings: ChatSettings) -> None:
        """Store a chat's settings."""
        values = (settings.chat.platform, settings.chat.chat_id, settings.timezone,
                  _seconds_text(tuple(settings.reminders)), Creators(settings.creators).value,
                  settings.retention_days, settings.moderator_role,
                  bool(settings.ping_reminders), bool(settings.threads))
        await self._write(lambda conn: conn.execute(
            "INSERT INTO chat_settings (platform, chat_id, timezone, reminders, creators,"
            " retention_days, moderator_role, ping_reminders, threads)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
            " ON CONFLICT (platform, chat_id) DO UPDATE SET timezone = excluded.timezone,"
            " reminders = excluded.reminders, creators = excluded.creators,"
            " retention_days = excluded.retention_days,"
            " moderator_role = excluded.moderator_role,"
            " ping_reminders = excluded.ping_reminders, threads = excluded.threads", *values),
            "saving chat settings")

    async def save_guide(self, scope: str, name: str, source: str) -> None:
        """Store an uploaded guide's TOML under its owner, replacing one of the same name."""
        await self._write(lambda conn: conn.execute(
            "INSERT INTO guides (scope, name, source) VALUES ($1, $2, $3)"
            " ON CONFLICT (scope, name) DO UPDATE SET source = excluded.source",
            scope, name, source), "saving a guide")

    async def get_guide_source(self, scope: str, name: str) -> str | None:
        """Return an uploaded guide's TOML."""
        source = await self._run(lambda conn: conn.fetchval(
            "SELECT source FROM guides WHERE scope = $1 AND name = $2", scope, name),
            "reading a guide")
        return None if source is None else str(source)

    async def list_guides(self, scope: str) -> list[str]:
        """Return the names of guides uploaded by this owner, sorted."""
        found = await self._run(lambda conn: conn.fetch(
            "SELECT name FROM guides WHERE scope = $1 ORDER BY name COLLATE \"C\"", scope),
            "listing guides")
        return [row[0] for row in found]

    # party log

    async def add_log(self, entry: LogEntry) -> None:
        """Append to a party's log."""
        await self._write(lambda conn: work.insert_log(conn, entry), "writing a party's log")

    async def party_log(self, party_id: int) -> list[LogEntry]:
        """Return a party's log in the order it was written."""
        found = await self._run(lambda conn: conn.fetch(
            "SELECT party_id, at, key, params FROM party_log WHERE party_id = $1 ORDER BY id",
            party_id), "reading a party's log")
        return [LogEntry(party_id=r[0], at=r[1], key=r[2], params=json.loads(r[3]))
                for r in found]
