"""Exports of a party's discussion log, streamed from the store.

`write_export` writes any format to an async text writer (the CLI streams it to a file);
`export_bytes` returns it as UTF-8 bytes for a chat attachment. Every format reads the records
a page at a time and yields to the event loop as it goes, so a running bot keeps answering
while a moderator exports; see each module for how its memory stays bounded.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from bot.export.csv import write_csv
from bot.export.html import write_html
from bot.export.json import write_json
from bot.export.markdown import write_markdown
from bot.export.stream import BytesWriter, Write
from bot.guide import Guide
from bot.party import Party
from bot.ports import Store

Writer = Callable[..., Awaitable[int]]


@dataclass(frozen=True, slots=True)
class Format:
    """One export format: its file extension and the function that writes it."""

    name: str
    extension: str
    media_type: str
    writer: Writer


FORMATS: dict[str, Format] = {
    "json": Format("json", "json", "application/json", write_json),
    "jsonl": Format("jsonl", "jsonl", "application/jsonl", partial(write_json, lines=True)),
    "csv": Format("csv", "csv", "text/csv", write_csv),
    "md": Format("md", "md", "text/markdown", write_markdown),
    "html": Format("html", "html", "text/html", write_html),
}
CHAT_FORMATS = ("json", "csv", "md", "html")


async def write_export(store: Store, party: Party, guide: Guide | None, fmt: str, write: Write,
                       *, anonymize: bool, now: datetime) -> int:
    """Write a party's export in format `fmt` (a key of FORMATS); return the record count."""
    count: int = await FORMATS[fmt].writer(store, party, guide, write, anonymize=anonymize,
                                           now=now)
    return count


async def export_bytes(store: Store, party: Party, guide: Guide | None, fmt: str, *,
                       anonymize: bool, now: datetime) -> bytes:
    """Return a party's export as UTF-8 bytes, for sending as a file in a chat.

    The records are streamed as for a file; only the finished file is held, as bytes.
    """
    out = BytesWriter()
    await write_export(store, party, guide, fmt, out, anonymize=anonymize, now=now)
    return out.getvalue()


def filename(party: Party, fmt: str) -> str:
    """The export's file name, e.g. `watchparty-K7Q2MX.html`."""
    return f"watchparty-{party.code}.{FORMATS[fmt].extension}"
