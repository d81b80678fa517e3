"""An in-memory store for unit tests of the core; the contract tests hold it to SQLite's results."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.actions import Action, ActionKind, ActionStatus
from bot.chats import ChatRef, ChatSettings, Creators
from bot.party import LinkStatus, Party, PartyChat, PartyState
from bot.ports import LogEntry, RecordRow, SentKind, SentMessage
from bot.records import Record, RecordKind
from storage import StoreConflict

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
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
        finished_at=_maybe(party.finished_at), chats=[],
    )


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
        self._closed = False

    def _next_id(self, table: str) -> int:
        self._ids[table] = self._ids.get(table, 0) + 1
        return self._ids[table]

    async def close(self) -> None:
        """Nothing to flush; records are refused from now on, as SqliteStore refuses them."""
        self._closed = True

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

    async def parties_finished_before(self, before: datetime) -> list[Party]:
        """Return finished or cancelled parties that ended (or, never started, were due) earlier."""
        limit = _instant(before)
        found = []
        for party_id, party in self._parties.items():
            ended = party.finished_at or party.starts_at
            if party.state in _ENDED and ended < limit:
                loaded = self._load(party_id)
                assert loaded is not None
                found.append(loaded)
        return sorted(found, key=lambda p: (p.finished_at or p.starts_at, p.id))

    async def upsert_party_chat(self, link: PartyChat) -> None:
        """Add a chat to a party or change its link status."""
        if link.party_id not in self._parties:
            raise StoreConflict(f"no party {link.party_id} to link {link.chat} to")
        self._links[(link.party_id, link.chat)] = PartyChat(
            party_id=link.party_id, chat=link.chat, status=LinkStatus(link.status),
            is_home=link.is_home, requested_by=link.requested_by,
        )

    async def set_link_status(self, party_id: int, chat: ChatRef, status: LinkStatus) -> None:
        """Change the status of a linked chat."""
        link = self._links.get((party_id, chat))
        if link is None:
            raise LookupError(f"{chat} is not linked to party {party_id}")
        link.status = LinkStatus(status)

    # records

    async def add_record(self, record: Record) -> Record:
        """Store a record; it is durable as soon as it is in the dict."""
        if self._closed:
            raise RuntimeError("the store is closed")
        required = (record.party_id, record.kind, record.platform, record.chat_id,
                    record.user_id, record.display_name, record.at, record.value)
        if None in required:
            raise ValueError("a record needs party, kind, platform, chat, user, name and value")
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

    async def count_records(self, party_id: int) -> int:
        """Return how many records a party has."""
        return sum(1 for r in self._records.values() if r.party_id == party_id)

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
        for party in self._parties.values():
            if party.home == old:
                party.home = new
        links: dict[tuple[int, ChatRef], PartyChat] = {}
        for (party_id, chat), link in self._links.items():
            if chat == old:
                if (party_id, new) in self._links:
                    continue
                link.chat = chat = new
            links[(party_id, chat)] = link
        self._links = links  # rebuilt, so links keep the order they were made in
        for (chat, message_id), (order, sent) in list(self._sent.items()):
            if chat == old:
                del self._sent[(chat, message_id)]
                self._sent.setdefault((new, message_id), (order, replace(sent, chat=new)))
        for key, (chat, message_id) in list(self._refs.items()):
            if chat == old:
                self._refs[key] = (new, message_id)
        for record_id, rec in list(self._records.items()):
            if (rec.platform, rec.chat_id) == (old.platform, old.chat_id):
                self._records[record_id] = replace(rec, platform=new.platform,
                                                   chat_id=new.chat_id)
        for (platform, chat_id, user_id), at in list(self._forgotten.items()):
            if (platform, chat_id) == (old.platform, old.chat_id):
                del self._forgotten[(platform, chat_id, user_id)]
                self._forgotten.setdefault((new.platform, new.chat_id, user_id), at)
        settings = self._settings.pop(old, None)
        if settings is not None and new not in self._settings:
            self._settings[new] = replace(settings, chat=new)
        for (scope, name), source in list(self._guides.items()):
            if scope == str(old):
                del self._guides[(scope, name)]
                self._guides.setdefault((str(new), name), source)

    # actions

    @staticmethod
    def _copy(action: Action, payload: str) -> Action:
        return Action(
            party_id=action.party_id, kind=action.kind, due_at=action.due_at,
            payload=json.loads(payload), id=action.id, status=action.status,
            acquired_by=action.acquired_by, acquired_until=action.acquired_until,
        )

    async def add_actions(self, actions: list[Action]) -> list[Action]:
        """Store pending actions; return copies with ids."""
        if any(a.status != ActionStatus.PENDING or a.acquired_until or a.acquired_by
               for a in actions):
            raise ValueError("only pending, unleased actions can be added")
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
            assert action.id is not None
            claimed.append(self._copy(action, self._actions[action.id][1]))
        return claimed

    async def finish_actions(self, results: list[tuple[int, ActionStatus]]) -> None:
        """Mark claimed actions done, skipped or cancelled; their lease is kept as history."""
        for action_id, status in results:
            found = self._actions.get(action_id)
            if found is not None:
                found[0].status = ActionStatus(status)

    async def cancel_actions(self, party_id: int, kinds: frozenset[ActionKind]) -> int:
        """Cancel a party's pending actions of these kinds; return how many."""
        count = 0
        for action in self._pending():
            if action.party_id == party_id and action.kind in kinds:
                action.status = ActionStatus.CANCELLED
                count += 1
        return count

    async def pending_actions(self, party_id: int) -> list[Action]:
        """Return a party's pending actions by due time."""
        found = [(a.due_at, a.id, a) for a in self._pending() if a.party_id == party_id and a.id]
        found.sort(key=lambda x: (x[0], x[1]))
        return [self._copy(a, self._actions[action_id][1]) for _, action_id, a in found]

    async def release_leases(self) -> int:
        """Drop every lease of a pending action; return how many."""
        count = 0
        for action in self._pending():
            if action.acquired_until is not None or action.acquired_by is not None:
                action.acquired_by = None
                action.acquired_until = None
                count += 1
        return count

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
