"""The CSV export: one row per record, UTF-8 (with a byte-order mark, so Excel reads it as UTF-8).

Rows are written as records stream from the store, a few hundred at a time, quoted as the
`csv` module quotes (minimally, lines ending in CRLF) but put together by hand. A cell that a
spreadsheet would read as a formula or a command (starting with `=`, `+`, `-`, `@`, a tab or a
carriage return) gets a leading `'`, so opening the file never runs anything; the cell still
shows the text.
"""

from __future__ import annotations

from contextlib import aclosing
from datetime import datetime

from bot.export.people import Identities
from bot.export.stream import Sink, Write, record_rows, utc_text
from bot.guide import Guide
from bot.party import Party
from bot.ports import Store

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

    The cells of who and where, prompts and message ids are written once per person, name,
    chat or id (a small set) and reused; the line of a record is put together by hand from
    its row, quoting as the `csv` module does, so no `Record` is built and no `csv` call made.
    """
    ids = Identities.for_party(party, anonymize)
    forgotten = await store.forgotten([pc.chat for pc in party.chats])
    if anonymize:
        await ids.learn(store, party, forgotten)
    out = Sink(write)
    out.add(BOM + ",".join(COLUMNS) + "\r\n")
    count = 0
    starts = FORMULA_STARTS
    # (platform, chat id, user id, name at the time) -> its five cells, as CSV
    who_cells: dict[tuple[str, str, str, str], str] = {}
    small_cells: dict[str | None, str] = {None: ""}  # prompts and message ids: few, repeated
    text = ids.text
    at_text = utc_text()
    cell = _cell
    async with aclosing(record_rows(store, party.id, forgotten)) as pages:
        async for rows in pages:
            lines: list[str] = []
            append = lines.append
            for (record_id, kind, platform, chat_id, user_id, name, at, position, value, prompt_id,
                 message_id) in rows:
                key = (platform, chat_id, user_id, name)
                who = who_cells.get(key)
                if who is None:
                    who = who_cells[key] = _who_cells(ids, *key)
                if anonymize and kind in _FREE_TEXT:
                    value = text(value)
                value = cell("'" + value if value.startswith(starts) else value)
                prompt = small_cells.get(prompt_id)
                if prompt is None:
                    prompt = small_cells[prompt_id] = cell(neutralize(prompt_id or ""))
                message = "" if anonymize else small_cells.get(message_id)
                if message is None:
                    message = cell(neutralize(message_id or ""))
                    if len(small_cells) < 100_000:
                        small_cells[message_id] = message
                seconds = "" if position is None else round(position, 3)
                append(f"{record_id},{at_text(at)},{seconds},{who},{kind},{prompt},{value},"
                       f"{message}\r\n")
            count += len(lines)
            out.add("".join(lines))
            await out.pump()
    await out.flush()
    return count


def _who_cells(ids: Identities, platform: str, chat_id: str, user_id: str, name: str) -> str:
    """The platform, chat, user, participant and display name cells of a record, as CSV."""
    person = ids.person(platform, user_id, name)
    shown_name = person.display_name if ids.anonymize else name
    return (f"{_cell(neutralize(platform))},{_cell(neutralize(ids.chat(platform, chat_id)))},"
            f"{'' if ids.anonymize else _cell(neutralize(user_id))},{person.number},"
            f"{_cell(neutralize(shown_name))}")


def _cell(text: str) -> str:
    """A cell as the `csv` module writes it: quoted when it holds a quote, comma or line end."""
    if '"' in text:
        return '"' + text.replace('"', '""') + '"'
    if "," in text or "\n" in text or "\r" in text:
        return '"' + text + '"'
    return text
