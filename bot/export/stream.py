"""Streaming plumbing shared by every export format: records in, text out, the loop kept free.

Exports run inside the bot's event loop while it goes on answering commands, so nothing here
works on more than a page of records at a time: `records` hands them over one by one and
returns control to the loop every `YIELD_EVERY` records (a store that never waits, such as the
memory store, would otherwise hold the loop for the whole export), `record_rows` does the same
with plain rows, `YIELD_EVERY` at a time, for the formats that need no `Record` (CSV, JSON),
and `Sink` gathers output into chunks of about `CHUNK` characters before awaiting the writer.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta

from bot.ports import RecordRow, Store
from bot.records import Record

Write = Callable[[str], Awaitable[None]]

YIELD_EVERY = 256
CHUNK = 1 << 16


async def records(store: Store, party_id: int,
                  forgotten: set[tuple[str, str, str]]) -> AsyncIterator[Record]:
    """Stream a party's records in time order, leaving out people who asked to be forgotten."""
    count = 0
    sleep = asyncio.sleep
    async for rec in store.iter_records(party_id):
        count += 1
        if count % YIELD_EVERY == 0:
            await sleep(0)
        if forgotten and (rec.platform, rec.chat_id, rec.user_id) in forgotten:
            continue
        yield rec


async def record_rows(
    store: Store, party_id: int, forgotten: set[tuple[str, str, str]],
) -> AsyncGenerator[list[RecordRow], None]:
    """Stream a party's records as rows, at most `YIELD_EVERY` at a time, as `records` does.

    For the formats that need no `Record`: the loop gets control back after every batch, and
    the store reads the next page (in its own thread) while this one is being written.
    """
    sleep = asyncio.sleep
    pages = store.iter_record_rows(party_id)
    ahead = asyncio.ensure_future(anext(pages))
    try:
        while True:
            try:
                page = await ahead
            except StopAsyncIteration:
                return
            ahead = asyncio.ensure_future(anext(pages))
            if forgotten:
                page = [row for row in page if (row[2], row[3], row[4]) not in forgotten]
            for start in range(0, len(page), YIELD_EVERY):
                yield page[start:start + YIELD_EVERY]
                await sleep(0)
    finally:
        # A reader that stops early: the page being read is dropped and the cursor released.
        if not ahead.done():
            ahead.cancel()
        await asyncio.wait([ahead])
        if not ahead.cancelled():
            ahead.exception()  # retrieved, so it is not reported as lost
        aclose = getattr(pages, "aclose", None)
        if aclose is not None:
            await aclose()


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def utc_text() -> Callable[[int], str]:
    """A formatter of `RecordRow` instants: ISO 8601 with a `Z`, as `datetime.isoformat` writes.

    Rows come in time order, so the date and time of day are built once per second.
    """
    second = None
    prefix = ""

    def text(us: int) -> str:
        nonlocal second, prefix
        whole, fraction = divmod(us, 1_000_000)
        if whole != second:
            second = whole
            prefix = (_EPOCH + timedelta(seconds=whole)).isoformat()[:-6]  # less "+00:00"
        return f"{prefix}.{fraction:06d}Z" if fraction else prefix + "Z"

    return text


class Sink:
    """Collects output text and passes it to an async writer in chunks of about CHUNK chars."""

    def __init__(self, write: Write, chunk: int = CHUNK) -> None:
        self._write = write
        self._chunk = chunk
        self._parts: list[str] = []
        self._size = 0

    def add(self, text: str) -> None:
        """Queue some text; call `pump` now and then to pass it on."""
        self._parts.append(text)
        self._size += len(text)

    async def pump(self) -> None:
        """Write what is queued when it has grown to a chunk."""
        if self._size >= self._chunk:
            await self.flush()

    async def flush(self) -> None:
        """Write everything queued."""
        if self._parts:
            text = "".join(self._parts)
            self._parts.clear()
            self._size = 0
            await self._write(text)


class BytesWriter:
    """A writer that keeps the export as UTF-8 bytes in memory, for a chat attachment."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    async def __call__(self, text: str) -> None:
        """Append text."""
        self._parts.append(text.encode("utf-8"))

    def getvalue(self) -> bytes:
        """Return everything written, and forget it."""
        data = b"".join(self._parts)
        self._parts.clear()
        return data
