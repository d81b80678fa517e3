"""A Syncplay player written for the tests: it has a file, and plays, pauses and seeks.

It speaks the protocol the way the reference client does (syncplay/protocols.py,
SyncClientProtocol): every server `State` is answered with the player's own position, and a
change of its own is sent at once and followed by the server's forced update, which the player
acknowledges before it does anything else.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any

FILE = {"name": "the-social-dilemma.mkv", "duration": 5640.0, "size": 1_400_000_000}


@dataclass(frozen=True)
class View:
    """The room's clock as the server told this player, and when."""

    position: float
    paused: bool
    set_by: str | None
    do_seek: bool
    forced: bool
    at: float


class ScriptedHost:
    """A player in a Syncplay room, driven by the test."""

    def __init__(self, port: int, room: str, name: str = "ana",
                 password: str | None = None) -> None:
        self.port, self.room, self.wanted = port, room, name
        self.name = name
        self.password = password
        self.views: list[View] = []
        self.joined: list[str] = []
        self._paused = True
        self._base = 0.0
        self._since = time.monotonic()
        self._writer: asyncio.StreamWriter | None = None
        self._task: asyncio.Task[None] | None = None
        self._changed = asyncio.Condition()
        self._client_ignoring = 0
        self._forced_seen = 0

    def position(self, at: float | None = None) -> float:
        """Where this player's film is now (or at monotonic instant `at`, since its last change)."""
        if self._paused:
            return self._base
        return self._base + (time.monotonic() if at is None else at) - self._since

    async def join(self) -> None:
        """Connect, say Hello, set the file; return once the server has sent a State."""
        reader, self._writer = await asyncio.open_connection("127.0.0.1", self.port)
        hello: dict[str, Any] = {"username": self.wanted, "room": {"name": self.room},
                                 "version": "1.2.255", "realversion": "1.6.9",
                                 "features": {"sharedPlaylists": True, "chat": True,
                                              "featureList": True, "readiness": True,
                                              "managedRooms": True}}
        if self.password:
            hello["password"] = hashlib.md5(self.password.encode()).hexdigest()
        self._send({"Hello": hello})
        self._task = asyncio.create_task(self._read(reader))
        await self.wait_until(lambda: bool(self.views), "the first State")
        self._send({"Set": {"file": FILE}})
        self._send({"List": None})

    async def leave(self) -> None:
        """Disconnect."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()

    async def play(self) -> None:
        """Press play."""
        await self._change(paused=False, position=self.position(), seek=False)

    async def pause(self) -> None:
        """Press pause."""
        await self._change(paused=True, position=self.position(), seek=False)

    async def seek(self, position: float) -> None:
        """Drag the slider to `position`."""
        await self._change(paused=self._paused, position=position, seek=True)

    async def _change(self, *, paused: bool, position: float, seek: bool) -> None:
        forced_before = self._forced_seen
        self._paused, self._base, self._since = paused, position, time.monotonic()
        self._client_ignoring += 1
        state: dict[str, Any] = {
            "playstate": {"position": position, "paused": paused},
            "ping": {"clientLatencyCalculation": time.time(), "clientRtt": 0},
            "ignoringOnTheFly": {"client": self._client_ignoring}}
        if seek:
            state["playstate"]["doSeek"] = True
        self._send({"State": state})
        await self.wait_until(lambda: self._forced_seen > forced_before,
                              "the server's forced update")

    def _send(self, message: dict[str, Any]) -> None:
        assert self._writer is not None
        self._writer.write(json.dumps(message).encode() + b"\r\n")

    async def wait_until(self, done: Any, what: str, within: float = 15.0) -> None:
        """Wait until `done()` holds after a message from the server."""
        try:
            async with asyncio.timeout(within), self._changed:
                await self._changed.wait_for(done)
        except TimeoutError:
            raise AssertionError(f"the host never saw {what}") from None

    async def _read(self, reader: asyncio.StreamReader) -> None:
        while line := await reader.readline():
            message = json.loads(line)
            if "Error" in message:
                raise RuntimeError(f"the server refused the host: {message['Error']}")
            if "Hello" in message:
                self.name = message["Hello"]["username"]
            for name, user in message.get("Set", {}).get("user", {}).items():
                if user.get("event", {}).get("joined"):
                    self.joined.append(name)
            if "State" in message:
                self._answer(message["State"])
            async with self._changed:
                self._changed.notify_all()

    def _answer(self, state: dict[str, Any]) -> None:
        ignoring = state.get("ignoringOnTheFly", {})
        forced = "server" in ignoring
        if ignoring.get("client") == self._client_ignoring:
            self._client_ignoring = 0
        playstate = state["playstate"]
        self.views.append(View(playstate["position"], playstate["paused"], playstate["setBy"],
                               bool(playstate["doSeek"]), forced, time.monotonic()))
        answer: dict[str, Any] = {
            "ping": {"latencyCalculation": state["ping"]["latencyCalculation"],
                     "clientLatencyCalculation": time.time(), "clientRtt": 0}}
        if self._client_ignoring == 0 or forced:
            answer["playstate"] = {"position": self.position(), "paused": self._paused}
        echo: dict[str, int] = {}
        if forced:
            echo["server"] = ignoring["server"]
        if self._client_ignoring:
            echo["client"] = self._client_ignoring
        if echo:
            answer["ignoringOnTheFly"] = echo
        self._send({"State": answer})
        if forced:
            self._forced_seen += 1
