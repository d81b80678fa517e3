"""Feeds retry a source that went silent or away, waiting longer each time."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

from adapters.retry import Backoff
from adapters.syncplay import SyncplayFeed
from bot.clock import SystemClock
from bot.feeds import Feed
from tests.adapters.follower import Follower


def test_backoff_doubles_up_to_its_cap() -> None:
    backoff = Backoff(first=0.5, most=4.0)
    waits = [backoff.first]
    for _ in range(5):
        waits.append(backoff.after(waits[-1]))
    assert waits == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]


async def test_a_syncplay_server_that_goes_silent_is_dropped_and_dialled_again(
        follow: Callable[[Feed], Follower]) -> None:
    """A server that accepts and then says nothing: the feed gives up on it and reconnects."""
    first_lines: list[dict[str, object]] = []
    dialled = asyncio.Condition()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        first_lines.append(json.loads(await reader.readline()))
        async with dialled:
            dialled.notify_all()
        await reader.read()  # until the feed hangs up
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        follow(SyncplayFeed("127.0.0.1", port, "room", clock=SystemClock(), read_timeout=0.3,
                            backoff=Backoff(first=0.1, most=0.2)))
        async with asyncio.timeout(20), dialled:
            await dialled.wait_for(lambda: len(first_lines) >= 3)
        # each connection starts the same way: asking whether the server speaks TLS
        assert all(line == {"TLS": {"startTLS": "send"}} for line in first_lines)
    finally:
        server.close()
        await server.wait_closed()
