"""A Syncplay room as a feed: connect, join as a watcher, report the room's clock, reconnect."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import AsyncIterator
from typing import Any

from adapters.retry import Backoff
from adapters.syncplay import protocol
from bot.feeds import FeedRefused, FeedReport
from bot.ports import Clock

log = logging.getLogger(__name__)

SOURCE = "Syncplay"
READ_TIMEOUT_SECONDS = 10.0  # the server sends State every second and drops us after 12.5 s


class SyncplayFeed:
    """Follows one room of a Syncplay server; it never sends play, pause or seek."""

    def __init__(self, host: str, port: int, room: str, *, clock: Clock,
                 username: str = "watchparty", password: str | None = None,
                 ssl_context: ssl.SSLContext | None = None, backoff: Backoff | None = None,
                 read_timeout: float = READ_TIMEOUT_SECONDS) -> None:
        self.source = SOURCE
        self.host, self.port, self.room = host, port, room
        self.username = username
        self._wanted_name = username
        self._password = password
        self._clock = clock
        self._ssl = ssl_context
        self._backoff = backoff or Backoff()
        self._read_timeout = read_timeout
        self._offer_tls = True
        self.encrypted = False

    async def reports(self) -> AsyncIterator[FeedReport]:
        """Yield the room's clock at every server State, reconnecting with backoff."""
        delay = self._backoff.first
        while True:
            try:
                async for report in self._session():
                    delay = self._backoff.first
                    yield report
                log.info("syncplay %s:%s closed the connection", self.host, self.port)
            except (OSError, TimeoutError, ValueError) as exc:
                log.info("syncplay %s:%s: %s; retrying in %.1fs", self.host, self.port,
                         exc.__class__.__name__, delay)
            await self._clock.sleep(delay)
            delay = self._backoff.after(delay)

    async def _session(self) -> AsyncIterator[FeedReport]:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(self.host, self.port), self._read_timeout)
        self.encrypted = False
        logged = False
        ping = protocol.Ping()
        try:
            if self._offer_tls:
                writer.write(protocol.encode(protocol.start_tls()))
            else:
                writer.write(protocol.encode(
                    protocol.hello(self._wanted_name, self.room, self._password)))
            await writer.drain()
            while True:
                line = await asyncio.wait_for(reader.readline(), self._read_timeout)
                if not line:
                    return
                if not line.strip():
                    continue
                for command, body in protocol.decode(line).items():
                    if command == "TLS" and not logged:
                        await self._answer_tls(body, writer)
                    elif command == "Hello" and isinstance(body, dict):
                        logged = True
                        self.username = str(body.get("username") or self._wanted_name)
                        log.info("following syncplay room %r on %s:%s as %r (%s)", self.room,
                                 self.host, self.port, self.username,
                                 "TLS" if self.encrypted else "plain")
                    elif command == "Error":
                        self._refused(body, logged)
                    elif command == "State" and logged and isinstance(body, dict):
                        writer.write(protocol.encode(ping.answer(body)))
                        await writer.drain()
                        state = protocol.play_state(body)
                        if state is not None:
                            yield self._report(state, ping)
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def _answer_tls(self, body: Any, writer: asyncio.StreamWriter) -> None:
        answer = str(body.get("startTLS", "")) if isinstance(body, dict) else ""
        if "true" in answer:
            context = self._ssl or ssl.create_default_context()
            await writer.start_tls(context, server_hostname=self.host)
            self.encrypted = True
        writer.write(protocol.encode(protocol.hello(self._wanted_name, self.room,
                                                    self._password)))
        await writer.drain()

    def _refused(self, body: Any, logged: bool) -> None:
        message = str(body.get("message", "")) if isinstance(body, dict) else str(body)
        if not logged and "startTLS" in message:
            # a server older than TLS support: the next connection goes straight to Hello
            self._offer_tls = False
            raise ConnectionError("server does not know startTLS")
        if not logged:
            raise FeedRefused(f"the Syncplay server refused the bot: {message}")
        raise ConnectionError(f"the Syncplay server dropped the bot: {message}")

    def _report(self, state: protocol.PlayState, ping: protocol.Ping) -> FeedReport:
        position = state.position if state.paused else state.position + ping.forward_delay
        return FeedReport(max(0.0, position), state.paused, state.set_by, self._clock.now(),
                          self.source)
