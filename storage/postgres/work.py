"""The per-party unit of work on PostgreSQL: one transaction holding the party's row lock."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg

from bot.actions import Action, ActionKind
from bot.chats import ChatRef
from bot.party import LinkStatus, Party, PartyChat
from bot.ports import LogEntry, SentMessage
from storage import StoreConflict
from storage.postgres import rows
from storage.rules import WorkOnParty, check_addable, thread_id

T = TypeVar("T")

CHANNEL = "watchparty_actions"

# FOR NO KEY UPDATE is the row lock of FOR UPDATE less the part that blocks foreign-key checks:
# two units of work on one party still take turns (it conflicts with itself), while a record
# or a posted message of that party written elsewhere need not wait for the unit to end.
LOCK_PARTY = f"SELECT {rows.PARTY_COLUMNS} FROM parties WHERE id = $1 FOR NO KEY UPDATE"
_PLACES = ", ".join(f"${i}" for i in range(1, len(rows.PARTY_FIELDS) + 1))
INSERT_PARTY = (f"INSERT INTO parties ({', '.join(rows.PARTY_FIELDS)}) VALUES ({_PLACES})"
                " RETURNING id")
INSERT_HOME = ("INSERT INTO party_chats (party_id, platform, chat_id, status, is_home)"
               " VALUES ($1, $2, $3, 'approved', true)")
CHATS_OF = (f"SELECT {rows.CHAT_COLUMNS} FROM party_chats WHERE party_id = ANY($1::bigint[])"
            " ORDER BY is_home DESC, seq")
# The ids come back in the order the rows were inserted, which ORDER BY fixes: ascending, one
# per given action, in the given order.
INSERT_ACTIONS = (
    "INSERT INTO actions (party_id, kind, due_at, payload, status)"
    " SELECT p, k, d, j::jsonb, 'pending' FROM unnest($1::bigint[], $2::text[],"
    " $3::timestamptz[], $4::text[]) WITH ORDINALITY AS a(p, k, d, j, n) ORDER BY n RETURNING id"
)
NOTIFY = f"SELECT pg_notify('{CHANNEL}', '')"
CANCEL = ("UPDATE actions SET status = 'cancelled' WHERE party_id = $1 AND status = 'pending'"
          " AND kind = ANY($2::text[])")
PENDING = (f"SELECT {rows.ACTION_COLUMNS} FROM actions WHERE party_id = $1 AND status = 'pending'"
           " ORDER BY due_at, id")
UPSERT_LINK = (
    "INSERT INTO party_chats (party_id, platform, chat_id, status, is_home, requested_by,"
    " thread_id) VALUES ($1, $2, $3, $4, $5, $6, $7)"
    " ON CONFLICT (party_id, platform, chat_id) DO UPDATE SET"
    " status = excluded.status, is_home = excluded.is_home, requested_by = excluded.requested_by,"
    " thread_id = excluded.thread_id"
)
SET_LINK = ("UPDATE party_chats SET status = $1 WHERE party_id = $2 AND platform = $3"
            " AND chat_id = $4")
INSERT_SENT = (
    f"INSERT INTO sent_messages ({rows.SENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
    " ON CONFLICT (platform, chat_id, message_id) DO UPDATE SET party_id = excluded.party_id,"
    " kind = excluded.kind, prompt = excluded.prompt, action_id = excluded.action_id"
)
INSERT_LOG = "INSERT INTO party_log (party_id, at, key, params) VALUES ($1, $2, $3, $4::jsonb)"


async def load_parties(conn: asyncpg.Connection, sql: str, *args: Any) -> list[Party]:
    """Run a PARTY_COLUMNS query and return its parties with their chats."""
    found = await conn.fetch(sql, *args)
    if not found:
        return []
    chats: dict[int, list[PartyChat]] = {row[0]: [] for row in found}
    for row in await conn.fetch(CHATS_OF, list(chats)):
        chats[row[0]].append(rows.party_chat(row))
    return [rows.party(row, chats[row[0]]) for row in found]


async def insert_party(conn: asyncpg.Connection, party: Party) -> Party:
    """Insert a party and its home chat (approved) in the caller's transaction."""
    party_id = await conn.fetchval(INSERT_PARTY, *rows.party_values(party))
    await conn.execute(INSERT_HOME, party_id, party.home.platform, party.home.chat_id)
    [created] = await load_parties(conn, f"SELECT {rows.PARTY_COLUMNS} FROM parties WHERE id = $1",
                                   party_id)
    return created


async def insert_actions(conn: asyncpg.Connection, actions: list[Action]) -> list[Action]:
    """Insert new actions in the caller's transaction and tell the other workers at commit."""
    check_addable(actions)
    if not actions:
        return []
    columns = rows.action_columns(actions)
    ids = sorted(row[0] for row in await conn.fetch(INSERT_ACTIONS, *columns))
    await conn.execute(NOTIFY)
    return rows.added(actions, ids)


async def cancel(conn: asyncpg.Connection, party_id: int, kinds: frozenset[ActionKind]) -> int:
    """Cancel a party's pending actions of these kinds; return how many."""
    status = await conn.execute(CANCEL, party_id, [ActionKind(k).value for k in kinds])
    return affected(status)


async def upsert_link(conn: asyncpg.Connection, link: PartyChat) -> None:
    """Add a chat to a party or change its link."""
    await conn.execute(UPSERT_LINK, link.party_id, link.chat.platform, link.chat.chat_id,
                       LinkStatus(link.status).value, bool(link.is_home), link.requested_by,
                       thread_id(link))


async def set_link(conn: asyncpg.Connection, party_id: int, chat: ChatRef,
                   status: LinkStatus) -> None:
    """Change a link's status; an unknown link raises LookupError."""
    done = await conn.execute(SET_LINK, LinkStatus(status).value, party_id, chat.platform,
                              chat.chat_id)
    if affected(done) == 0:
        raise LookupError(f"{chat} is not linked to party {party_id}")


async def insert_sent(conn: asyncpg.Connection, message: SentMessage) -> None:
    """Remember a posted message; the same message posted again replaces it."""
    await conn.execute(INSERT_SENT, *rows.sent_values(message))


async def insert_log(conn: asyncpg.Connection, entry: LogEntry) -> None:
    """Append to a party's log."""
    await conn.execute(INSERT_LOG, entry.party_id, rows.aware(entry.at), entry.key,
                       rows.encode_json(entry.params))


def affected(status: str) -> int:
    """Return the row count of a command status such as 'UPDATE 3'."""
    tail = status.rsplit(" ", 1)[-1]
    return int(tail) if tail.isdigit() else 0


class PostgresWork(WorkOnParty):
    """A unit of work on one party (`bot.ports.PartyWork`): its statements run as they are
    called, in the transaction that read the party with its row lock."""

    def __init__(self, conn: asyncpg.Connection, party_id: int, party: Party | None) -> None:
        self._conn = conn
        self.party_id = party_id
        self.party = party
        self._stored = {} if party is None else rows.party_fields(party)

    async def _run(self, fn: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        try:
            return await fn(self._conn)
        except asyncpg.IntegrityConstraintViolationError as exc:
            raise StoreConflict(str(exc)) from exc

    async def save(self) -> None:
        """Write the party's own fields that changed since they were read or last saved."""
        party_id = self._party_id()
        assert self.party is not None
        now = rows.party_fields(self.party)
        changed = {column: value for column, value in now.items()
                   if self._stored.get(column) != value}
        if not changed:
            return
        assignments = ", ".join(f"{c} = ${i}" for i, c in enumerate(changed, 1))
        sql = f"UPDATE parties SET {assignments} WHERE id = ${len(changed) + 1}"
        await self._run(lambda conn: conn.execute(sql, *changed.values(), party_id))
        self._stored = now

    async def add_actions(self, actions: list[Action]) -> list[Action]:
        """Store pending actions of this party; return them with ids."""
        for a in actions:
            self._own(a.party_id)
        return await self._run(lambda conn: insert_actions(conn, actions))

    async def cancel_actions(self, kinds: frozenset[ActionKind]) -> int:
        """Cancel this party's pending actions of these kinds; return how many."""
        if not kinds:
            return 0
        return await self._run(lambda conn: cancel(conn, self.party_id, kinds))

    async def pending_actions(self) -> list[Action]:
        """Return this party's pending actions by due time."""
        found = await self._conn.fetch(PENDING, self.party_id)
        return [rows.action(row) for row in found]

    async def _link(self, write: Callable[[asyncpg.Connection], Awaitable[None]]) -> None:
        party_id = self._party_id()
        await self._run(write)
        assert self.party is not None
        self.party.chats = [rows.party_chat(row)
                            for row in await self._conn.fetch(CHATS_OF, [party_id])]

    async def upsert_chat(self, link: PartyChat) -> None:
        """Add a chat to this party or change its link; `party.chats` follows."""
        self._own(link.party_id)
        await self._link(lambda conn: upsert_link(conn, link))

    async def set_link_status(self, chat: ChatRef, status: LinkStatus) -> None:
        """Change the status of a linked chat; `party.chats` follows."""
        party_id = self._party_id()
        await self._link(lambda conn: set_link(conn, party_id, chat, status))

    async def add_sent_message(self, sent: SentMessage) -> None:
        """Remember a message posted for this party."""
        self._own(sent.party_id)
        await self._run(lambda conn: insert_sent(conn, sent))

    async def add_log(self, entry: LogEntry) -> None:
        """Append to this party's log."""
        self._own(entry.party_id)
        await self._run(lambda conn: insert_log(conn, entry))
