"""The JSON export (schema `watchparty.export` version 1, see docs/export-schema.md).

Records are streamed from the store and written as they come; participants are gathered on the
way (one entry per person, a small set) and written after the records.
"""

from __future__ import annotations

import io
import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from bot.guide import Guide
from bot.party import Party
from bot.ports import Store
from bot.records import Record

SCHEMA = "watchparty.export"
VERSION = 1

Write = Callable[[str], Awaitable[None]]


def _iso(at: datetime | None) -> str | None:
    return at.isoformat().replace("+00:00", "Z") if at is not None else None


class Identities:
    """Maps people and chats to what the export shows: real, or `Participant N` when anonymized."""

    def __init__(self, anonymize: bool) -> None:
        self.anonymize = anonymize
        self.people: dict[tuple[str, str], dict[str, Any]] = {}
        self.chats: dict[tuple[str, str], str] = {}

    def person(self, platform: str, user_id: str, name: str) -> dict[str, Any]:
        """Return the export's view of a person, registering them on first sight."""
        key = (platform, user_id)
        entry = self.people.get(key)
        if entry is None:
            number = len(self.people) + 1
            if self.anonymize:
                entry = {"participant": number, "platform": platform,
                         "display_name": f"Participant {number}", "user_id": None}
            else:
                entry = {"participant": number, "platform": platform, "display_name": name,
                         "user_id": user_id}
            self.people[key] = entry
        return entry

    def chat(self, platform: str, chat_id: str) -> str | None:
        """Return a chat's id, or a stand-in such as `chat-2` when anonymized."""
        key = (platform, chat_id)
        if key not in self.chats:
            self.chats[key] = f"chat-{len(self.chats) + 1}" if self.anonymize else chat_id
        return self.chats[key]


def _guide(guide: Guide | None) -> dict[str, Any] | None:
    if guide is None:
        return None
    return {"name": guide.name, "title": guide.title, "runtime_seconds": guide.runtime_seconds,
            "chapters": [{"number": i, "title": ch.title, "ends_at_seconds": ch.ends_at_seconds,
                          "questions": list(ch.questions),
                          "poll": None if ch.poll is None else {
                              "question": ch.poll.question, "options": list(ch.poll.options)}}
                         for i, ch in enumerate(guide.chapters, start=1)]}


def _party(party: Party, ids: Identities) -> dict[str, Any]:
    host = ids.person(party.host_platform, party.host_user_id, party.host_name)
    return {"code": party.code, "title": party.title, "state": party.state.value,
            "timezone": party.timezone, "starts_at": _iso(party.starts_at),
            "go_at": _iso(party.go_at), "finished_at": _iso(party.finished_at),
            "created_at": _iso(party.created_at), "paused_seconds": party.paused_seconds,
            "host": host["participant"]}


def _chats(party: Party, ids: Identities) -> list[dict[str, Any]]:
    return [{"platform": pc.chat.platform, "chat_id": ids.chat(pc.chat.platform,
                                                              pc.chat.chat_id),
             "home": pc.is_home, "status": pc.status.value} for pc in party.chats]


def _record(rec: Record, ids: Identities) -> dict[str, Any]:
    who = ids.person(rec.platform, rec.user_id, rec.display_name)
    return {"id": rec.id, "kind": rec.kind.value, "platform": rec.platform,
            "chat_id": ids.chat(rec.platform, rec.chat_id), "participant": who["participant"],
            "display_name": who["display_name"], "at": _iso(rec.at),
            "position_seconds": None if rec.position is None else round(rec.position, 3),
            "prompt": rec.prompt, "value": rec.value,
            "message_id": None if ids.anonymize else rec.message_id}


async def write_json(store: Store, party: Party, guide: Guide | None, write: Write, *,
                     anonymize: bool, now: datetime, lines: bool = False) -> int:
    """Write the export as one JSON document, or as JSON Lines; return the record count."""
    ids = Identities(anonymize)
    forgotten = await store.forgotten([pc.chat for pc in party.chats])
    header = {"schema": SCHEMA, "version": VERSION, "exported_at": _iso(now),
              "anonymized": anonymize}
    party_doc = _party(party, ids)
    chats = _chats(party, ids)
    dump = json.dumps
    if lines:
        await write(dump({"type": "header", **header}, ensure_ascii=False) + "\n")
        await write(dump({"type": "party", **party_doc}, ensure_ascii=False) + "\n")
        await write(dump({"type": "guide", "guide": _guide(guide)}, ensure_ascii=False) + "\n")
        for chat in chats:
            await write(dump({"type": "chat", **chat}, ensure_ascii=False) + "\n")
    else:
        head = dump(header, ensure_ascii=False)[:-1]
        await write(head + ', "party": ' + dump(party_doc, ensure_ascii=False)
                    + ', "guide": ' + dump(_guide(guide), ensure_ascii=False)
                    + ', "chats": ' + dump(chats, ensure_ascii=False) + ', "records": [')
    count = 0
    async for rec in store.iter_records(party.id):
        if (rec.platform, rec.chat_id, rec.user_id) in forgotten:
            continue
        doc = _record(rec, ids)
        if lines:
            await write(dump({"type": "record", **doc}, ensure_ascii=False) + "\n")
        else:
            await write(("," if count else "") + "\n" + dump(doc, ensure_ascii=False))
        count += 1
    participants = list(ids.people.values())
    log = [{"at": _iso(entry.at), "event": entry.key, **entry.params}
           for entry in await store.party_log(party.id)]
    if lines:
        for person in participants:
            await write(dump({"type": "participant", **person}, ensure_ascii=False) + "\n")
        for entry in log:
            await write(dump({"type": "log", **entry}, ensure_ascii=False) + "\n")
    else:
        await write('\n], "participants": ' + dump(participants, ensure_ascii=False)
                    + ', "log": ' + dump(log, ensure_ascii=False) + "}\n")
    return count


async def export_json_bytes(store: Store, party: Party, guide: Guide | None, *, anonymize: bool,
                            now: datetime) -> bytes:
    """Return the JSON export as bytes, for sending as a file in a chat."""
    buffer = io.StringIO()

    async def write(text: str) -> None:
        buffer.write(text)

    await write_json(store, party, guide, write, anonymize=anonymize, now=now)
    return buffer.getvalue().encode("utf-8")
