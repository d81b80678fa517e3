"""The CSV export: one row per record, UTF-8 (with a byte-order mark, so Excel reads it as UTF-8).

Rows are written by the `csv` module as records stream from the store, a few hundred at a
time. A cell that a spreadsheet would read as a formula or a command (starting with `=`, `+`,
`-`, `@`, a tab or a carriage return) gets a leading `'`, so opening the file never runs
anything; the cell still shows the text.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import TYPE_CHECKING

from bot.export.people import Identities
from bot.export.stream import Sink, Write, records
from bot.guide import Guide
from bot.party import Party
from bot.ports import Store

if TYPE_CHECKING:
    import _csv

COLUMNS = ("id", "at", "position_seconds", "platform", "chat_id", "user_id", "participant",
           "display_name", "kind", "prompt", "value", "message_id")
BOM = "\ufeff"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_FREE_TEXT = frozenset({"answer", "poll_vote"})


def neutralize(cell: str) -> str:
    """Return a cell a spreadsheet shows as text: a leading `'` when it could start a formula."""
    return "'" + cell if cell.startswith(FORMULA_STARTS) else cell


async def write_csv(store: Store, party: Party, guide: Guide | None, write: Write, *,
                    anonymize: bool, now: datetime) -> int:
    """Write the CSV export; return the record count.

    The cells of who and where are built once per person, name and chat (a small set) and
    reused: the loop does little more per record than format its time and neutralize its value.
    """
    ids = Identities.for_party(party, anonymize)
    forgotten = await store.forgotten([pc.chat for pc in party.chats])
    if anonymize:
        await ids.learn(store, party, forgotten)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    out = Sink(write)
    out.add(BOM + buffer.getvalue())
    batch: list[tuple[object, ...]] = []
    count = 0
    starts = FORMULA_STARTS
    # (platform, chat id, user id, name at the time) -> (platform, chat, user, number, name)
    who_cells: dict[tuple[str, str, str, str], tuple[str, str, str, int, str]] = {}
    small_cells: dict[str | None, str] = {None: ""}  # prompts and message ids: few, repeated
    text = ids.text
    append = batch.append
    async for rec in records(store, party.id, forgotten):
        key = (rec.platform, rec.chat_id, rec.user_id, rec.display_name)
        who = who_cells.get(key)
        if who is None:
            who = who_cells[key] = _who_cells(ids, *key)
        value = rec.value
        if anonymize and rec.kind in _FREE_TEXT:
            value = text(value)
        if value.startswith(starts):
            value = "'" + value
        prompt = small_cells.get(rec.prompt)
        if prompt is None:
            prompt = small_cells[rec.prompt] = neutralize(rec.prompt or "")
        message = "" if anonymize else small_cells.get(rec.message_id)
        if message is None:
            message = neutralize(rec.message_id or "")
            if len(small_cells) < 100_000:
                small_cells[rec.message_id] = message
        at = rec.at.isoformat()
        position = rec.position
        append((rec.id, at[:-6] + "Z" if at.endswith("+00:00") else at,
                "" if position is None else round(position, 3), who[0], who[1], who[2],
                who[3], who[4], rec.kind, prompt, value, message))
        count += 1
        if count % 512 == 0:
            out.add(_rows(buffer, writer, batch))
            batch.clear()
            await out.pump()
    if batch:
        out.add(_rows(buffer, writer, batch))
    await out.flush()
    return count


def _who_cells(ids: Identities, platform: str, chat_id: str, user_id: str,
               name: str) -> tuple[str, str, str, int, str]:
    person = ids.person(platform, user_id, name)
    shown_name = person.display_name if ids.anonymize else name
    return (neutralize(platform), neutralize(ids.chat(platform, chat_id)),
            "" if ids.anonymize else neutralize(user_id), person.number, neutralize(shown_name))


def _rows(buffer: io.StringIO, writer: _csv.Writer, rows: list[tuple[object, ...]]) -> str:
    buffer.seek(0)
    buffer.truncate()
    writer.writerows(rows)
    return buffer.getvalue()
