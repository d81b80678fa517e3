"""PostgreSQL rows and domain objects, both ways, and the SQL that reads them."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from bot.actions import Action, ActionKind, ActionStatus
from bot.chats import ChatRef
from bot.party import LinkStatus, Party, PartyChat, PartyState
from bot.ports import SentKind, SentMessage
from bot.records import Record, RecordKind
from storage.rules import check_record, series_of, series_values

encode_json = json.JSONEncoder(separators=(",", ":")).encode

PARTY_FIELDS = (
    "code", "title", "host_platform", "host_user_id", "host_name", "home_platform",
    "home_chat_id", "starts_at", "timezone", "guide_name", "state", "created_at", "go_at",
    "paused_at", "paused_seconds", "resume_at", "ready_target", "finished_at", "seek_seconds",
    "follow_source", "sequence", "series_id", "episode", "episodes", "repeat_days",
    "series_anchor",
)
PARTY_COLUMNS = "id, " + ", ".join(PARTY_FIELDS)
CHAT_COLUMNS = "party_id, platform, chat_id, status, is_home, requested_by, thread_id"
RECORD_COLUMNS = ("id, party_id, kind, platform, chat_id, user_id, display_name, at, position,"
                  " value, prompt, message_id, event")
# bot.ports.RecordRow, in its order: `at` as integer microseconds since the epoch (numeric
# arithmetic in PostgreSQL 14+, so exact).
ROW_COLUMNS = ("id, kind, platform, chat_id, user_id, display_name,"
               " (EXTRACT(EPOCH FROM at) * 1000000)::bigint, position, value, prompt,"
               " message_id")
ACTION_COLUMNS = "id, party_id, kind, due_at, payload, status, acquired_by, acquired_until, fence"
SENT_COLUMNS = "party_id, platform, chat_id, message_id, kind, prompt, action_id"


def aware(dt: datetime) -> datetime:
    """Return `dt` unchanged if it is aware; a naive datetime raises TypeError (as SQLite's)."""
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise TypeError(f"a naive datetime cannot be stored: {dt!r}")
    return dt


def maybe_aware(dt: datetime | None) -> datetime | None:
    """`aware` for an optional instant."""
    return None if dt is None else aware(dt)


def utc(dt: datetime) -> datetime:
    """Return an aware instant in UTC, to the microsecond, as PostgreSQL gives it back."""
    return dt if dt.tzinfo is UTC else dt.astimezone(UTC)


def party_values(party: Party) -> tuple[Any, ...]:
    """Return a party's own fields in PARTY_FIELDS order, as they are stored."""
    return (
        party.code, party.title, party.host_platform, party.host_user_id, party.host_name,
        party.home.platform, party.home.chat_id, aware(party.starts_at), party.timezone,
        party.guide_name, PartyState(party.state).value, aware(party.created_at),
        maybe_aware(party.go_at), maybe_aware(party.paused_at), float(party.paused_seconds),
        maybe_aware(party.resume_at), party.ready_target, maybe_aware(party.finished_at),
        float(party.seek_seconds), party.follow_source, int(party.sequence),
        *series_values(party.series),
    )


def party_fields(party: Party) -> dict[str, Any]:
    """Return a party's own fields as a column → value dict, instants compared in UTC."""
    values = party_values(party)
    return {name: (utc(v) if isinstance(v, datetime) else v)
            for name, v in zip(PARTY_FIELDS, values, strict=True)}


def party_chat(row: Sequence[Any]) -> PartyChat:
    """Return a link from a CHAT_COLUMNS row."""
    return PartyChat(party_id=row[0], chat=ChatRef(row[1], row[2]), status=LinkStatus(row[3]),
                     is_home=row[4], requested_by=row[5],
                     thread=None if row[6] is None else ChatRef(row[1], row[6]))


def party(row: Sequence[Any], chats: list[PartyChat]) -> Party:
    """Return a party from a PARTY_COLUMNS row and its links."""
    return Party(
        id=row[0], code=row[1], title=row[2], host_platform=row[3], host_user_id=row[4],
        host_name=row[5], home=ChatRef(row[6], row[7]), starts_at=row[8], timezone=row[9],
        guide_name=row[10], state=PartyState(row[11]), created_at=row[12], go_at=row[13],
        paused_at=row[14], paused_seconds=row[15], resume_at=row[16], ready_target=row[17],
        finished_at=row[18], seek_seconds=row[19], follow_source=row[20], chats=chats,
        sequence=row[21], series=series_of(row[22:27]),
    )


_KINDS = {kind.value: kind for kind in RecordKind}


def record(row: Sequence[Any]) -> Record:
    """Return a record from a RECORD_COLUMNS row."""
    return Record(row[1], _KINDS[row[2]], row[3], row[4], row[5], row[6], row[7], row[8],
                  row[9], row[10], row[11], row[0], row[12])


def record_row(rec: Record) -> tuple[Any, ...]:
    """Return the row written for a record, refusing one that would fail its batch."""
    check_record(rec)
    kind = rec.kind
    at = rec.at
    if at.tzinfo is not UTC:
        at = utc(aware(at))
    position = rec.position
    if position is not None and type(position) is not float:
        position = float(position)
    return (rec.party_id, kind._value_ if type(kind) is RecordKind else RecordKind(kind).value,
            rec.platform, rec.chat_id, rec.user_id, rec.display_name, at, position, rec.value,
            rec.prompt, rec.message_id, rec.event)


EVENT = 11  # where a record row holds its event


def with_id(rec: Record, row: tuple[Any, ...], record_id: int) -> Record:
    """Return the record as it now reads back from the database, id included."""
    kind = rec.kind if type(rec.kind) is RecordKind else RecordKind(rec.kind)
    return Record(rec.party_id, kind, rec.platform, rec.chat_id, rec.user_id, rec.display_name,
                  row[6], row[7], rec.value, rec.prompt, rec.message_id, record_id, rec.event)


def action(row: Sequence[Any]) -> Action:
    """Return an action from an ACTION_COLUMNS row."""
    return Action(
        id=row[0], party_id=row[1], kind=ActionKind(row[2]), due_at=row[3],
        payload=json.loads(row[4]), status=ActionStatus(row[5]), acquired_by=row[6],
        acquired_until=row[7], fence=row[8],
    )


def action_columns(actions: Sequence[Action]) -> tuple[list[Any], ...]:
    """Return new actions as column arrays (party, kind, due, payload) for one INSERT."""
    encode = encode_json
    return ([a.party_id for a in actions], [ActionKind(a.kind).value for a in actions],
            [aware(a.due_at) for a in actions], [encode(a.payload) for a in actions])


def added(actions: Sequence[Action], ids: Sequence[int]) -> list[Action]:
    """Return the actions as stored, with their new ids."""
    return [Action(party_id=a.party_id, kind=ActionKind(a.kind), due_at=utc(a.due_at),
                   payload=a.payload, id=action_id)
            for a, action_id in zip(actions, ids, strict=True)]


def sent(row: Sequence[Any]) -> SentMessage:
    """Return a posted message from a SENT_COLUMNS row."""
    return SentMessage(party_id=row[0], chat=ChatRef(row[1], row[2]), message_id=row[3],
                       kind=SentKind(row[4]), prompt=row[5], action_id=row[6])


def sent_values(message: SentMessage) -> tuple[Any, ...]:
    """Return a posted message's SENT_COLUMNS values."""
    return (message.party_id, message.chat.platform, message.chat.chat_id, message.message_id,
            SentKind(message.kind).value, message.prompt, message.action_id)
