"""An in-memory store for unit tests of the core; the contract tests hold it to SQLite's results."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import fields, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.actions import Action, ActionKind, ActionStatus, Outcome
from bot.chats import ChatRef, ChatSettings, Creators
from bot.party import LinkStatus, Party, PartyChat, PartyState
from bot.ports import LogEntry, RecordRow, SendScope, SentKind, SentMessage, UpdateClaim
from bot.ratelimits import longest_window_ms, window_wait_ms
from bot.records import Record, RecordKind
from storage import StoreConflict
from storage.rules import (
    FOLLOWERS,
    PartyLocks,
    WorkOnParty,
    check_addable,
    check_record,
    follow,
    thread_id,
    work_party_id,
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
_OWN_FIELDS = tuple(f.name for f in fields(Party) if f.name not in ("id", "chats"))
_KEEP_NEW = {follower.name: follower.keep_new for follower in FOLLOWERS}
_PAGE = 1_000  # records per page of iter_record_rows, as SqliteStore reads them
_ENDED = frozenset({PartyState.FINISHED, PartyState.CANCELLED})


def _instant(dt: datetime) -> datetime:
    """Return `dt` as SQLite gives it back: aware UTC, microseconds; naive ones raise TypeError."""
    return _EPOCH + timedelta(microseconds=(dt - _EPOCH) // _US)


def _maybe(dt: datetime | None) -> datetime | None:
    return None if dt is None else _instant(dt)


def _json(value: dict[str, Any]) -> str:
    # Kept as text, as SQLite keeps it: a payload that is not JSON-safe fails here too, and
    # nobody shares a mutable dict with the store.
    return json.dumps(value, separators=(",", ":"))


def _own_fields(party: Party, party_id: int) -> Party:
    """Return a detached copy of a party's own fields, normalised as the database would."""
    return Party(
        id=party_id, code=party.code, title=party.title, host_platform=party.host_platform,
        host_user_id=party.host_user_id, host_name=party.host_name, home=party.home,
        starts_at=_instant(party.starts_at), timezone=party.timezone,
        guide_name=party.guide_name, state=PartyState(party.state),
        created_at=_instant(party.created_at), go_at=_maybe(party.go_at),
        paused_at=_maybe(party.paused_at), paused_seconds=float(party.paused_seconds),
        resume_at=_maybe(party.resume_at), ready_target=party.ready_target,
        finished_at=_maybe(party.finished_at), seek_seconds=float(party.seek_seconds),
        follow_source=party.follow_source, chats=[], sequence=int(party.sequence),
        series=party.series,
    )


class MemoryWork(WorkOnParty):
    """A unit of work on one party (`bot.ports.PartyWork`) under the store's lock for it.

    Writes land in the store at once, each leaving an undo step, so the block reads its own
    writes and a failure puts everything back.
    """

    def __init__(self, store: MemoryStore, party_id: int, party: Party | None) -> None:
        self._store = store
        self.party_id = party_id
        self.party = party
        self._stored = None if party is None else _own_fields(party, party.id)
        self.undo: list[Callable[[], None]] = []

    async def save(self) -> None:
        """Write the party's own fields that changed since they were read or last saved."""
        party_id = self._party_id()
        assert self.party is not None and self._stored is not None
        fresh = _own_fields(self.party, party_id)
        changed = [name for name in _OWN_FIELDS
                   if getattr(fresh, name) != getattr(self._stored, name)]
        if not changed:
            return
        parties = self._store._parties
        if "code" in changed and any(p.code == fresh.code and pid != party_id
                                     for pid, p in parties.items()):
            raise StoreConflict(f"join code {fresh.code} is taken")
        stored = parties[party_id]
        before = {name: getattr(stored, name) for name in changed}
        for name in changed:
            setattr(stored, name, getattr(fresh, name))

        def undo() -> None:
            for name, value in before.items():
                setattr(stored, name, value)
        self.undo.append(undo)
        self._stored = fresh

    async def add_actions(self, actions: list[Action]) -> list[Action]:
        """Store pending actions of this party; return them with ids."""
        for a in actions:
            self._own(a.party_id)
        stored = await self._store.add_actions(actions)
        ids = [a.id for a in stored if a.id is not None]

        def undo() -> None:
            for action_id in ids:
                self._store._actions.pop(action_id, None)
        self.undo.append(undo)
        return stored

    async def cancel_actions(self, kinds: frozenset[ActionKind]) -> int:
        """Cancel this party's pending actions of these kinds; return how many."""
        party_id = self.party_id
        doomed = [a for a in self._store._pending() if a.party_id == party_id and a.kind in kinds]
        for action in doomed:
            action.status = ActionStatus.CANCELLED

        def undo() -> None:
            for action in doomed:
                action.status = ActionStatus.PENDING
        self.undo.append(undo)
        return len(doomed)

    async def pending_actions(self) -> list[Action]:
        """Return this party's pending actions by due time."""
        party_id = self.party_id
        store = self._store
        found = [a for a in store._pending() if a.party_id == party_id]
        found.sort(key=lambda a: (a.due_at, a.id))
        return [store._copy(a, store._actions[a.id][1]) for a in found if a.id is not None]

    async def _link(self, key: tuple[int, ChatRef], write: Callable[[], None]) -> None:
        links = self._store._links
        before = links.get(key)
        old_status = None if before is None else before.status
        write()

        def undo() -> None:
            if before is None:
                links.pop(key, None)
            else:
                links[key] = before
                before.status = old_status  # type: ignore[assignment]
        self.undo.append(undo)
        loaded = self._store._load(self._party_id())
        assert loaded is not None and self.party is not None
        self.party.chats = loaded.chats

    async def upsert_chat(self, link: PartyChat) -> None:
        """Add a chat to this party or change its link; `party.chats` follows."""
        self._own(link.party_id)
        await self._link((link.party_id, link.chat), lambda: self._store._upsert_link(link))

    async def set_link_status(self, chat: ChatRef, status: LinkStatus) -> None:
        """Change the status of a linked chat; `party.chats` follows."""
        party_id = self._party_id()
        await self._link((party_id, chat),
                         lambda: self._store._set_link(party_id, chat, status))

    async def add_sent_message(self, sent: SentMessage) -> None:
        """Remember a message posted for this party."""
        self._own(sent.party_id)
        sent_messages = self._store._sent
        key = (sent.chat, sent.message_id)
        before = sent_messages.get(key)
        await self._store.add_sent_message(sent)

        def undo() -> None:
            if before is None:
                sent_messages.pop(key, None)
            else:
                sent_messages[key] = before
        self.undo.append(undo)

    async def add_log(self, entry: LogEntry) -> None:
        """Append to this party's log."""
        self._own(entry.party_id)
        await self._store.add_log(entry)
        written = self._store._log[-1]
        self.undo.append(lambda: self._store._log.remove(written))


class MemoryStore:
    """Every `Store` method over dicts and lists, with the same results SQLite gives."""

    def __init__(self) -> None:
        self._parties: dict[int, Party] = {}
        self._links: dict[tuple[int, ChatRef], PartyChat] = {}
        self._records: dict[int, Record] = {}
        self._forgotten: dict[tuple[str, str, str], datetime] = {}
        self._sent: dict[tuple[ChatRef, str], tuple[int, SentMessage]] = {}
        self._actions: dict[int, tuple[Action, str]] = {}
        self._settings: dict[ChatRef, ChatSettings] = {}
        self._guides: dict[tuple[str, str], str] = {}
        self._log: list[tuple[LogEntry, str]] = []
        self._events: dict[tuple[int, str], int] = {}
        self._refs: dict[tuple[str, str], tuple[ChatRef, str]] = {}
        self._ids: dict[str, int] = {}
        self._leases: dict[str, tuple[str, datetime]] = {}
        self._updates: dict[tuple[str, int], tuple[str, datetime, bool]] = {}
        self._slots: dict[str, list[int]] = {}
        self._party_locks = PartyLocks()
        self._closed = False

    def _next_id(self, table: str) -> int:
        self._ids[table] = self._ids.get(table, 0) + 1
        return self._ids[table]

    async def close(self) -> None:
        """Nothing to flush; records are refused from now on, as SqliteStore refuses them."""
        self._closed = True

    # units of work

    def party(self, party_id: int) -> AbstractAsyncContextManager[MemoryWork]:
        """Begin a unit of work on a party (see `bot.ports.PartyWork`)."""
        return self._unit(party_id, lambda: self._load(party_id))

    def new_party(self, party: Party) -> AbstractAsyncContextManager[MemoryWork]:
        """Begin a unit of work that inserts a party with its home chat (approved)."""
        return self._unit(None, lambda: self._insert_party(party))

    @asynccontextmanager
    async def _unit(self, party_id: int | None,
                    begin: Callable[[], Party | None]) -> AsyncIterator[MemoryWork]:
        async with self._party_locks.hold(party_id):
            party = begin()
            work = MemoryWork(self, work_party_id(party_id, party), party)
            if party_id is None and party is not None:
                new_id = party.id
                work.undo.append(lambda: self._drop_party(new_id))
            try:
                yield work
            except BaseException:
                for step in reversed(work.undo):
                    step()
                raise

    def _drop_party(self, party_id: int) -> None:
        self._parties.pop(party_id, None)
        self._links = {key: link for key, link in self._links.items() if key[0] != party_id}

    # parties

    def _load(self, party_id: int) -> Party | None:
        own = self._parties.get(party_id)
        if own is None:
            return None
        party = _own_fields(own, party_id)
        party.chats = [replace(link) for (pid, _), link in self._links.items() if pid == party_id]
        party.chats.sort(key=lambda link: not link.is_home)
        return party

    async def create_party(self, party: Party) -> Party:
        """Insert a party with its home chat (approved); return it with its id."""
        return self._insert_party(party)

    def _insert_party(self, party: Party) -> Party:
        if any(p.code == party.code for p in self._parties.values()):
            raise StoreConflict(f"join code {party.code} is taken")
        party_id = self._next_id("parties")
        self._parties[party_id] = _own_fields(party, party_id)
        self._links[(party_id, party.home)] = PartyChat(
            party_id=party_id, chat=party.home, status=LinkStatus.APPROVED, is_home=True
        )
        loaded = self._load(party_id)
        assert loaded is not None
        return loaded

    async def update_party(self, party: Party) -> None:
        """Save the party's own fields (not its chats)."""
        if party.id not in self._parties:
            raise LookupError(f"no party {party.id}")
        if any(p.code == party.code and pid != party.id for pid, p in self._parties.items()):
            raise StoreConflict(f"join code {party.code} is taken")
        self._parties[party.id] = _own_fields(party, party.id)

    async def get_party(self, party_id: int) -> Party | None:
        """Return a party with its chats."""
        return self._load(party_id)

    async def get_party_by_code(self, code: str) -> Party | None:
        """Return the party with this join code."""
        for party_id, party in self._parties.items():
            if party.code == code:
                return self._load(party_id)
        return None

    async def parties_for_chat(self, chat: ChatRef,
                               states: frozenset[PartyState]) -> list[Party]:
        """Return the parties in these states that this chat takes part in (approved), by start."""
        found = [
            party for (party_id, ref), link in self._links.items()
            if ref == chat and link.status is LinkStatus.APPROVED
            and (party := self._load(party_id)) is not None and party.state in states
        ]
        return sorted(found, key=lambda p: (p.starts_at, p.id))

    async def party_history(self, chat: ChatRef, offset: int,
                            limit: int) -> tuple[list[Party], int]:
        """Return a page of this chat's finished and cancelled parties, newest end first,
        and how many there are in all."""
        ended = await self.parties_for_chat(chat, _ENDED)
        ended.sort(key=lambda p: (p.finished_at or p.starts_at, p.id), reverse=True)
        return ended[offset:offset + limit], len(ended)

    async def series_episode(self, series_id: int, episode: int) -> Party | None:
        """Return episode number `episode` of a series, if it was created."""
        for party_id in sorted(self._parties):
            series = self._parties[party_id].series
            if series is not None and (series.series_id, series.episode) == (series_id, episode):
                return self._load(party_id)
        return None

    async def upsert_party_chat(self, link: PartyChat) -> None:
        """Add a chat to a party or change its link status (and its thread)."""
        self._upsert_link(link)

    def _upsert_link(self, link: PartyChat) -> None:
        if link.party_id not in self._parties:
            raise StoreConflict(f"no party {link.party_id} to link {link.chat} to")
        thread_id(link)  # refuses a thread on another platform, as the databases do
        self._links[(link.party_id, link.chat)] = PartyChat(
            party_id=link.party_id, chat=link.chat, status=LinkStatus(link.status),
            is_home=link.is_home, requested_by=link.requested_by, thread=link.thread,
        )

    async def thread_parent(self, thread: ChatRef) -> ChatRef | None:
        """Return the linked chat a party's thread belongs to; None for any other chat."""
        for link in self._links.values():
            if link.thread == thread:
                return link.chat
        return None

    async def set_link_status(self, party_id: int, chat: ChatRef, status: LinkStatus) -> None:
        """Change the status of a linked chat."""
        self._set_link(party_id, chat, status)

    def _set_link(self, party_id: int, chat: ChatRef, status: LinkStatus) -> None:
        link = self._links.get((party_id, chat))
        if link is None:
            raise LookupError(f"{chat} is not linked to party {party_id}")
        link.status = LinkStatus(status)

    # records

    async def add_record(self, record: Record) -> Record:
        """Store a record; it is durable as soon as it is in the dict."""
        if self._closed:
            raise RuntimeError("the store is closed")
        check_record(record)
        key = None if record.event is None else (record.party_id, record.event)
        if key is not None and self._events.get(key) in self._records:
            return replace(self._records[self._events[key]])
        record_id = self._next_id("records")
        if key is not None:
            self._events[key] = record_id
        self._records[record_id] = stored = Record(
            party_id=record.party_id, kind=RecordKind(record.kind), platform=record.platform,
            chat_id=record.chat_id, user_id=record.user_id, display_name=record.display_name,
            at=_instant(record.at),
            position=None if record.position is None else float(record.position),
            value=record.value, prompt=record.prompt, message_id=record.message_id, id=record_id,
            event=record.event,
        )
        return stored

    async def iter_records(self, party_id: int) -> AsyncIterator[Record]:
        """Stream a party's records in (at, id) order, from a snapshot taken at the start."""
        snapshot = sorted(
            (r for r in self._records.values() if r.party_id == party_id),
            key=lambda r: (r.at, r.id),
        )
        for record in snapshot:
            yield record

    async def iter_record_rows(self, party_id: int) -> AsyncIterator[list[RecordRow]]:
        """Stream a party's records as `RecordRow` pages, in the order of `iter_records`."""
        page: list[RecordRow] = []
        async for r in self.iter_records(party_id):
            assert r.id is not None  # every stored record has one
            page.append((r.id, r.kind.value, r.platform, r.chat_id, r.user_id, r.display_name,
                         (r.at - _EPOCH) // _US, r.position, r.value, r.prompt, r.message_id))
            if len(page) == _PAGE:
                yield page
                page = []
        if page:
            yield page

    def _delete_records(self, keep: Any) -> int:
        doomed = [rid for rid, r in self._records.items() if not keep(r)]
        for rid in doomed:
            del self._records[rid]
        return len(doomed)

    async def delete_user_records(self, chat: ChatRef, user_id: str) -> int:
        """Delete every record of this user in this chat, across parties; return how many."""
        return self._delete_records(
            lambda r: (r.platform, r.chat_id, r.user_id) != (chat.platform, chat.chat_id, user_id)
        )

    async def delete_party_records(self, party_id: int, chat: ChatRef | None = None) -> int:
        """Delete every record of a party (only those made in `chat`, if given); return how many."""
        return self._delete_records(lambda r: r.party_id != party_id or (
            chat is not None and (r.platform, r.chat_id) != (chat.platform, chat.chat_id)))

    async def add_forgotten(self, chat: ChatRef, user_id: str, at: datetime) -> None:
        """Remember that this user asked to be forgotten; the first request's time is kept."""
        self._forgotten.setdefault((chat.platform, chat.chat_id, user_id), _instant(at))

    async def forgotten(self, chats: list[ChatRef]) -> set[tuple[str, str, str]]:
        """Return (platform, chat_id, user_id) of users forgotten in these chats."""
        wanted = {(c.platform, c.chat_id) for c in chats}
        return {key for key in self._forgotten if key[:2] in wanted}

    # messages the bot posted

    async def add_sent_message(self, sent: SentMessage) -> None:
        """Remember a message posted for a party; posting the same message again replaces it."""
        if sent.party_id not in self._parties:
            raise StoreConflict(f"no party {sent.party_id} for message {sent.message_id}")
        key = (sent.chat, sent.message_id)
        old = self._sent.get(key)
        order = old[0] if old is not None else self._next_id("sent_messages")
        self._sent[key] = (order, replace(sent, kind=SentKind(sent.kind)))

    async def find_sent_message(self, chat: ChatRef, message_id: str) -> SentMessage | None:
        """Return what a posted message was for."""
        found = self._sent.get((chat, message_id))
        return None if found is None else found[1]

    def _sent_where(self, keep: Any) -> list[SentMessage]:
        return [sent for _, sent in sorted(self._sent.values(), key=lambda x: x[0]) if keep(sent)]

    async def sent_messages(self, party_id: int, kind: SentKind | None = None) -> list[SentMessage]:
        """Return a party's posted messages, optionally of one kind, in posting order."""
        return self._sent_where(
            lambda s: s.party_id == party_id and (kind is None or s.kind == kind)
        )

    async def sent_for_action(self, action_id: int) -> list[SentMessage]:
        """Return the messages posted for one action."""
        return self._sent_where(lambda s: s.action_id == action_id)

    # platform names for posted messages

    async def save_message_ref(self, platform: str, ref: str, chat: ChatRef,
                               message_id: str) -> None:
        """Remember a platform's own name for a posted message; saving it again replaces it."""
        self._refs[(platform, ref)] = (chat, message_id)

    async def find_message_ref(self, platform: str, ref: str) -> tuple[ChatRef, str] | None:
        """Return the chat and message id a platform name was saved for."""
        return self._refs.get((platform, ref))

    async def move_chat(self, old: ChatRef, new: ChatRef) -> None:
        """Give everything stored under `old` to `new`; entries `new` already has are kept."""
        if old == new:
            return
        keep = _KEEP_NEW

        def chat_key(key: ChatRef, value: Any) -> tuple[ChatRef, Any] | None:
            return None if key != old else (new, replace(value, chat=new))

        def user_key(key: tuple[str, str, str], at: datetime
                     ) -> tuple[tuple[str, str, str], datetime] | None:
            return None if key[:2] != (old.platform, old.chat_id) else (
                (new.platform, new.chat_id, key[2]), at)

        def link_key(key: tuple[int, ChatRef], link: PartyChat
                     ) -> tuple[tuple[int, ChatRef], PartyChat] | None:
            return None if key[1] != old else ((key[0], new), replace(link, chat=new))

        def sent_key(key: tuple[ChatRef, str], value: tuple[int, SentMessage]
                     ) -> tuple[tuple[ChatRef, str], tuple[int, SentMessage]] | None:
            return None if key[0] != old else (
                (new, key[1]), (value[0], replace(value[1], chat=new)))

        def ref_key(key: tuple[str, str], value: tuple[ChatRef, str]
                    ) -> tuple[tuple[str, str], tuple[ChatRef, str]] | None:
            return None if value[0] != old else (key, (new, value[1]))

        def record_key(key: int, rec: Record) -> tuple[int, Record] | None:
            return None if (rec.platform, rec.chat_id) != (old.platform, old.chat_id) else (
                key, replace(rec, platform=new.platform, chat_id=new.chat_id))

        def guide_key(key: tuple[str, str], source: str) -> tuple[tuple[str, str], str] | None:
            return None if key[0] != str(old) else ((str(new), key[1]), source)

        for party in self._parties.values():
            if party.home == old:
                party.home = new
        self._links = follow(self._links, link_key, keep["party_chats"])
        self._sent = follow(self._sent, sent_key, keep["sent_messages"])
        self._refs = follow(self._refs, ref_key, keep["message_refs"])
        self._records = follow(self._records, record_key, keep["records"])
        self._forgotten = follow(self._forgotten, user_key, keep["forgotten"])
        self._settings = follow(self._settings, chat_key, keep["chat_settings"])
        self._guides = follow(self._guides, guide_key, keep["guides"])

    # actions

    @staticmethod
    def _copy(action: Action, payload: str) -> Action:
        return Action(
            party_id=action.party_id, kind=action.kind, due_at=action.due_at,
            payload=json.loads(payload), id=action.id, status=action.status,
            acquired_by=action.acquired_by, acquired_until=action.acquired_until,
            fence=action.fence,
        )

    async def add_actions(self, actions: list[Action]) -> list[Action]:
        """Store pending actions; return copies with ids."""
        check_addable(actions)
        prepared = [
            (Action(
                party_id=a.party_id, kind=ActionKind(a.kind), due_at=_instant(a.due_at),
                id=None, status=ActionStatus(a.status), acquired_by=a.acquired_by,
                acquired_until=_maybe(a.acquired_until),
            ), _json(a.payload))
            for a in actions
        ]
        stored = []
        for original, (action, payload) in zip(actions, prepared, strict=True):
            action.id = self._next_id("actions")
            self._actions[action.id] = (action, payload)
            # The caller's payload comes back as it was given, as SqliteStore does.
            returned = self._copy(action, payload)
            returned.payload = original.payload
            stored.append(returned)
        return stored

    def _pending(self) -> list[Action]:
        return [a for a, _ in self._actions.values() if a.status is ActionStatus.PENDING]

    async def next_wakeup(self) -> datetime | None:
        """Return the earliest instant a pending action can be claimed (due, or lease expiry)."""
        times = [
            a.due_at if a.acquired_until is None else max(a.due_at, a.acquired_until)
            for a in self._pending()
        ]
        return min(times, default=None)

    async def claim_due(self, now: datetime, owner: str, lease_until: datetime,
                        limit: int) -> list[Action]:
        """Lease up to `limit` pending actions due by `now`, earliest first, to `owner`.

        A lease ends at `acquired_until` itself, so the instant `next_wakeup` gives is claimable.
        """
        at = _instant(now)
        until = _instant(lease_until)
        due = sorted(
            (a for a in self._pending()
             if a.due_at <= at and (a.acquired_until is None or a.acquired_until <= at)),
            key=lambda a: (a.due_at, a.id),
        )[:max(limit, 0)]
        claimed = []
        for action in due:
            action.acquired_by = owner
            action.acquired_until = until
            action.fence += 1
            assert action.id is not None
            claimed.append(self._copy(action, self._actions[action.id][1]))
        return claimed

    def _held(self, action_id: int, fence: int, owner: str) -> Action | None:
        found = self._actions.get(action_id)
        if found is None or found[0].fence != fence or found[0].acquired_by != owner:
            return None
        return found[0]

    async def renew_leases(self, owner: str, leases: list[tuple[int, int]],
                           lease_until: datetime) -> list[int]:
        """Extend the leases (action id, fence) `owner` still holds; return the ids extended."""
        until = _instant(lease_until)
        renewed = []
        for action_id, fence in leases:
            action = self._held(action_id, fence, owner)
            if action is not None and action.status is ActionStatus.PENDING:
                action.acquired_until = until
                renewed.append(action_id)
        return renewed

    async def finish_actions(self, owner: str, outcomes: list[Outcome]) -> list[Outcome]:
        """Write outcomes still under `owner`'s lease and fence; return those written.

        The lease is kept as history.
        """
        written = []
        for outcome in outcomes:
            action = self._held(outcome.action_id, outcome.fence, owner)
            if action is not None:
                action.status = ActionStatus(outcome.status)
                written.append(outcome)
        return written

    async def cancel_actions(self, party_id: int, kinds: frozenset[ActionKind]) -> int:
        """Cancel a party's pending actions of these kinds; return how many."""
        count = 0
        for action in self._pending():
            if action.party_id == party_id and action.kind in kinds:
                action.status = ActionStatus.CANCELLED
                count += 1
        return count

    async def reap_leases(self, now: datetime, owner: str) -> int:
        """Drop leases that ran out by `now` or are held under `owner`; return how many."""
        at = _instant(now)
        count = 0
        for action in self._pending():
            if action.acquired_until is not None and (action.acquired_until <= at
                                                      or action.acquired_by == owner):
                action.acquired_by = None
                action.acquired_until = None
                count += 1
        return count

    # many workers on one database

    async def ping(self) -> None:
        """The memory store always answers."""

    async def hold_lease(self, name: str, owner: str, now: datetime, until: datetime) -> bool:
        """Take or extend the named lease for `owner`: free, run out, or already `owner`'s."""
        held = self._leases.get(name)
        if held is not None and held[0] != owner and held[1] > _instant(now):
            return False
        self._leases[name] = (owner, _instant(until))
        return True

    async def release_lease(self, name: str, owner: str) -> None:
        """Give up a lease `owner` holds."""
        if self._leases.get(name, ("", None))[0] == owner:
            del self._leases[name]

    async def claim_update(self, source: str, update_id: int, owner: str, now: datetime,
                           until: datetime) -> UpdateClaim:
        """Claim an inbound update: DONE if handled before, BUSY while another's claim runs."""
        key = (source, update_id)
        seen = self._updates.get(key)
        if seen is not None:
            holder, held_until, done = seen
            if done:
                return UpdateClaim.DONE
            if holder != owner and held_until > _instant(now):
                return UpdateClaim.BUSY
        self._updates[key] = (owner, _instant(until), False)
        return UpdateClaim.CLAIMED

    async def finish_update(self, source: str, update_id: int, now: datetime) -> None:
        """Mark an inbound update handled."""
        key = (source, update_id)
        if key in self._updates:
            self._updates[key] = (self._updates[key][0], _instant(now), True)

    async def prune_updates(self, before: datetime) -> int:
        """Forget updates finished before `before`."""
        old = [k for k, (_, at, done) in self._updates.items() if done and at < _instant(before)]
        for key in old:
            del self._updates[key]
        return len(old)

    async def take_send(self, scopes: list[SendScope], now_ms: int) -> tuple[int, str | None]:
        """Count one request against every scope, for all workers together, or say the wait."""
        for name, rates, spare in scopes:
            since = now_ms - longest_window_ms(rates)
            taken = self._slots[name] = [t for t in self._slots.get(name, []) if t > since]
            wait = window_wait_ms(rates, taken, now_ms, spare)
            if wait:
                return wait, name
        for name, rates, _ in scopes:
            if rates:
                self._slots[name].append(now_ms)
        return 0, None

    # chat settings and uploaded guides

    async def get_chat_settings(self, chat: ChatRef) -> ChatSettings:
        """Return a chat's settings, defaults when it has none stored."""
        stored = self._settings.get(chat)
        return ChatSettings(chat=chat) if stored is None else replace(stored)

    async def save_chat_settings(self, settings: ChatSettings) -> None:
        """Store a chat's settings."""
        self._settings[settings.chat] = replace(
            settings, reminders=tuple(settings.reminders), creators=Creators(settings.creators)
        )

    async def save_guide(self, scope: str, name: str, source: str) -> None:
        """Store an uploaded guide's TOML under its owner, replacing one of the same name."""
        self._guides[(scope, name)] = source

    async def get_guide_source(self, scope: str, name: str) -> str | None:
        """Return an uploaded guide's TOML."""
        return self._guides.get((scope, name))

    async def list_guides(self, scope: str) -> list[str]:
        """Return the names of guides uploaded by this owner, sorted."""
        return sorted(name for s, name in self._guides if s == scope)

    # party log

    async def add_log(self, entry: LogEntry) -> None:
        """Append to a party's log."""
        if entry.party_id not in self._parties:
            raise StoreConflict(f"no party {entry.party_id} to log to")
        self._log.append((replace(entry, at=_instant(entry.at), params={}), _json(entry.params)))

    async def party_log(self, party_id: int) -> list[LogEntry]:
        """Return a party's log in the order it was written."""
        return [
            replace(entry, params=json.loads(params))
            for entry, params in self._log if entry.party_id == party_id
        ]
