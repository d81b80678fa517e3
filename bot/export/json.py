"""The JSON export (schema `watchparty.export` version 1, see docs/export-schema.md and .json).

Records are streamed from the store and written as they come, one line each; participants are
gathered on the way (one entry per person, a small set) and written after the records, so
memory holds a page of records and the people, never the whole party.
"""

from __future__ import annotations

import asyncio
import json
from contextlib import aclosing
from datetime import datetime
from json.encoder import encode_basestring
from typing import Any

from bot.export.people import Identities
from bot.export.stream import YIELD_EVERY, Sink, Write, record_rows, utc_text
from bot.guide import Guide
from bot.party import Party
from bot.ports import Store

SCHEMA = "watchparty.export"
VERSION = 1

__all__ = ["SCHEMA", "VERSION", "Identities", "write_json"]

_dump = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def iso(at: datetime | None) -> str | None:
    """Write an aware UTC instant as ISO 8601 with a `Z`."""
    return at.isoformat().replace("+00:00", "Z") if at is not None else None


def guide_doc(guide: Guide | None) -> dict[str, Any] | None:
    """The `guide` object of the export."""
    if guide is None:
        return None
    return {"name": guide.name, "title": guide.title, "runtime_seconds": guide.runtime_seconds,
            "chapters": [{"number": i, "title": ch.title, "ends_at_seconds": ch.ends_at_seconds,
                          "questions": list(ch.questions),
                          "poll": None if ch.poll is None else {
                              "question": ch.poll.question, "options": list(ch.poll.options)}}
                         for i, ch in enumerate(guide.chapters, start=1)]}


def party_doc(party: Party, ids: Identities) -> dict[str, Any]:
    """The `party` object of the export."""
    host = ids.person(party.host_platform, party.host_user_id, party.host_name)
    return {"code": party.code, "title": ids.text(party.title), "state": party.state.value,
            "timezone": party.timezone, "starts_at": iso(party.starts_at),
            "go_at": iso(party.go_at), "finished_at": iso(party.finished_at),
            "created_at": iso(party.created_at), "paused_seconds": party.paused_seconds,
            "host": host.number}


def chats_doc(party: Party, ids: Identities) -> list[dict[str, Any]]:
    """The `chats` array of the export."""
    return [{"platform": pc.chat.platform, "chat_id": ids.chat(pc.chat.platform,
                                                              pc.chat.chat_id),
             "home": pc.is_home, "status": pc.status.value} for pc in party.chats]


class _Fragments:
    """The JSON of who and where, encoded once per person, name and chat and then reused."""

    def __init__(self, ids: Identities) -> None:
        self.ids = ids
        self.who: dict[tuple[str, str, str, str], str] = {}
        self.small: dict[str | None, str] = {None: "null"}  # prompts and message ids

    def who_of(self, platform: str, chat_id: str, user_id: str, display_name: str) -> str:
        """`"platform":…,"chat_id":…,"participant":…,"display_name":…` of a record."""
        key = (platform, chat_id, user_id, display_name)
        fragment = self.who.get(key)
        if fragment is None:
            ids = self.ids
            person = ids.person(platform, user_id, display_name)
            name = person.display_name if ids.anonymize else display_name
            q = encode_basestring
            fragment = self.who[key] = (
                f'"platform":{q(platform)},"chat_id":{q(ids.chat(platform, chat_id))},'
                f'"participant":{person.number},"display_name":{q(name)}')
        return fragment

    def small_of(self, text: str | None) -> str:
        """A prompt or message id as JSON (there are few, each used by many records)."""
        encoded = self.small.get(text)
        if encoded is None:
            encoded = encode_basestring(text or "")
            if len(self.small) < 100_000:
                self.small[text] = encoded
        return encoded


_FREE_TEXT = frozenset({"answer", "poll_vote"})


async def write_json(store: Store, party: Party, guide: Guide | None, write: Write, *,
                     anonymize: bool, now: datetime, lines: bool = False) -> int:
    """Write the export as one JSON document, or as JSON Lines; return the record count."""
    ids = Identities.for_party(party, anonymize)
    forgotten = await store.forgotten([pc.chat for pc in party.chats])
    if anonymize:
        await ids.learn(store, party, forgotten)
    out = Sink(write)
    header = {"schema": SCHEMA, "version": VERSION, "exported_at": iso(now),
              "anonymized": anonymize}
    party_json = party_doc(party, ids)
    chats = chats_doc(party, ids)
    if lines:
        out.add(_dump({"type": "header", **header}) + "\n")
        out.add(_dump({"type": "party", **party_json}) + "\n")
        out.add(_dump({"type": "guide", "guide": guide_doc(guide)}) + "\n")
        for chat in chats:
            out.add(_dump({"type": "chat", **chat}) + "\n")
    else:
        out.add(_dump(header)[:-1] + ',"party":' + _dump(party_json)
                + ',"guide":' + _dump(guide_doc(guide)) + ',"chats":' + _dump(chats)
                + ',"records":[')
    count = 0
    parts = _Fragments(ids)
    who_cache, small, who_of, small_of = parts.who, parts.small, parts.who_of, parts.small_of
    q = encode_basestring
    chunk: list[str] = []
    head = '{"type":"record","id":' if lines else '{"id":'
    tail = "}\n" if lines else "}"
    # What goes before a record: nothing in JSON Lines; in a document a new line, and a comma
    # after the first record.
    sep = "" if lines else "\n"
    next_sep = "" if lines else ",\n"
    at_text = utc_text()
    async with aclosing(record_rows(store, party.id, forgotten)) as pages:
        async for rows in pages:
            # The hot path, written out (no Record, no dict, no json.dumps): one row, one line.
            for (record_id, kind, platform, chat_id, user_id, name, at, position, value, prompt_id,
                 message_id) in rows:
                who = who_cache.get((platform, chat_id, user_id, name))
                if who is None:
                    who = who_of(platform, chat_id, user_id, name)
                if anonymize:
                    message = "null"
                    if kind in _FREE_TEXT:
                        value = ids.text(value)
                else:
                    message = small.get(message_id) or small_of(message_id)
                prompt = small.get(prompt_id) or small_of(prompt_id)
                seconds = "null" if position is None else repr(round(position, 3))
                chunk.append(
                    f'{sep}{head}{record_id},"kind":"{kind}",{who},"at":"{at_text(at)}",'
                    f'"position_seconds":{seconds},"prompt":{prompt},"value":{q(value)},'
                    f'"message_id":{message}{tail}')
                sep = next_sep
            count += len(rows)
            out.add("".join(chunk))
            chunk.clear()
            await out.pump()
    log = [{"at": iso(entry.at), "event": entry.key, **entry.params}
           for entry in await store.party_log(party.id)]
    if not lines:
        out.add('\n],"participants":[')
    for index, person in enumerate(ids.people.values()):
        if lines:
            out.add(_dump({"type": "participant", **person.as_json()}) + "\n")
        else:
            out.add(("," if index else "") + "\n" + _dump(person.as_json()))
        await out.pump()
        if index % YIELD_EVERY == YIELD_EVERY - 1:
            await asyncio.sleep(0)
    if lines:
        for entry in log:
            out.add(_dump({"type": "log", **entry}) + "\n")
    else:
        out.add('\n],"log":' + _dump(log) + "}\n")
    await out.flush()
    return count
