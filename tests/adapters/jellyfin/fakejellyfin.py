"""A loopback Jellyfin server that answers GET /Sessions, written from Jellyfin's API docs.

`/Sessions` answers a list of SessionInfoDto objects; a session that plays has a
`NowPlayingItem`, and its `PlayState` holds what the player last reported (`PositionTicks`, in
100 ns ticks, and `IsPaused`), stamped `LastPlaybackCheckIn`. The server does not carry the
position forward between the player's progress reports, so neither does this fake. Requests
authenticate with `Authorization: MediaBrowser Token="…"` (the documented scheme), or the
deprecated `X-Emby-Token` header; anything else is answered 401.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from tests.loopback import LoopbackServer

TICKS = 10_000_000
TOKEN_RE = re.compile(r'Token="([^"]*)"')


def jellyfin_time(at: datetime) -> str:
    """Jellyfin's timestamps: UTC with seven fractional digits and a Z."""
    return at.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


@dataclass
class Player:
    """One user's playing session, as its client last reported it to the server."""

    user: str
    title: str = "The Social Dilemma"
    paused: bool = True
    reported: float = 0.0
    checked_in: datetime = field(default_factory=lambda: datetime.now(UTC))
    _since: float = field(default_factory=time.monotonic)
    session_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def position(self) -> float:
        """Where the film really is on this player now."""
        return self.reported if self.paused else self.reported + time.monotonic() - self._since

    def _report(self, paused: bool, position: float) -> None:
        self.paused, self.reported = paused, position
        self._since, self.checked_in = time.monotonic(), datetime.now(UTC)

    def play(self) -> None:
        """Press play (the client reports progress at once)."""
        self._report(False, self.position())

    def pause(self) -> None:
        """Press pause."""
        self._report(True, self.position())

    def seek(self, position: float) -> None:
        """Drag the slider."""
        self._report(self.paused, position)

    def session(self) -> dict[str, Any]:
        """This player as /Sessions lists it."""
        return {
            "Id": self.session_id, "UserId": uuid.uuid5(uuid.NAMESPACE_OID, self.user).hex,
            "UserName": self.user, "Client": "Jellyfin Web", "DeviceName": "Firefox",
            "DeviceId": f"device-{self.user}", "ApplicationVersion": "10.10.7",
            "IsActive": True, "SupportsRemoteControl": True,
            "LastActivityDate": jellyfin_time(self.checked_in),
            "LastPlaybackCheckIn": jellyfin_time(self.checked_in),
            "PlayState": {"PositionTicks": round(self.reported * TICKS), "CanSeek": True,
                          "IsPaused": self.paused, "IsMuted": False,
                          "RepeatMode": "RepeatNone", "PlayMethod": "DirectPlay"},
            "NowPlayingItem": {"Name": self.title, "Id": uuid.uuid4().hex, "Type": "Movie",
                               "RunTimeTicks": 5640 * TICKS, "MediaType": "Video"},
        }


def idle_session(user: str) -> dict[str, Any]:
    """A signed-in session that plays nothing (the dashboard on a phone, say)."""
    return {"Id": uuid.uuid4().hex, "UserName": user, "Client": "Jellyfin Android",
            "DeviceName": "Phone", "IsActive": True,
            "LastActivityDate": jellyfin_time(datetime.now(UTC)),
            "LastPlaybackCheckIn": "0001-01-01T00:00:00.0000000Z",
            "PlayState": {"CanSeek": False, "IsPaused": False, "IsMuted": False,
                          "RepeatMode": "RepeatNone"}}


class FakeJellyfin(LoopbackServer):
    """The fake server: players, idle sessions, and every request it saw."""

    def __init__(self, api_key: str = "jf-test-key") -> None:
        super().__init__()
        self.api_key = api_key
        self.players: list[Player] = []
        self.idle: list[dict[str, Any]] = []
        self.requests: list[tuple[str, int, str]] = []  # path and query, status, auth header
        self.fail_next = 0
        self._seen = asyncio.Condition()

    def player(self, user: str) -> Player:
        """Add a playing session for `user`."""
        self.players.append(Player(user))
        return self.players[-1]

    def routes(self, app: web.Application) -> None:
        """The one endpoint the feed polls."""
        app.router.add_get("/Sessions", self._sessions)

    async def wait_requests(self, count: int) -> None:
        """Wait until the server has seen `count` requests in all."""
        async with asyncio.timeout(20), self._seen:
            await self._seen.wait_for(lambda: len(self.requests) >= count)

    def _authorized(self, request: web.Request) -> tuple[bool, str]:
        header = request.headers.get("Authorization", "")
        if header.startswith("MediaBrowser "):
            token = TOKEN_RE.search(header)
            return token is not None and token.group(1) == self.api_key, "Authorization"
        if "X-Emby-Token" in request.headers:
            return request.headers["X-Emby-Token"] == self.api_key, "X-Emby-Token"
        return False, "none"

    async def _sessions(self, request: web.Request) -> web.Response:
        ok, how = self._authorized(request)
        status = 200 if ok else 401
        if ok and self.fail_next:
            self.fail_next -= 1
            status = 500
        self.requests.append((request.path_qs, status, how))
        async with self._seen:
            self._seen.notify_all()
        if status == 401:
            return web.Response(status=401, text="Unauthorized")
        if status == 500:
            return web.Response(status=500, text="Internal Server Error")
        sessions = [p.session() for p in self.players] + self.idle
        return web.json_response(sessions)
