"""The Syncplay protocol's messages as the bot speaks them (JSON lines; see syncplay/protocols.py).

The bot only ever answers the server's `State` with ping and the server's ignoring-on-the-fly
count, never with a `playstate`: a watcher without a playstate or a file cannot pause, play or
seek the room, nor become the watcher the room's position is taken from.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any

CLIENT_VERSION = "1.2.255"  # what every 1.3+ client sends so that 1.2 servers accept it
REAL_VERSION = "1.7.0"
FEATURES = {"sharedPlaylists": False, "chat": False, "featureList": True, "readiness": False,
            "managedRooms": False}
PING_AVERAGE_WEIGHT = 0.85  # syncplay.constants.PING_MOVING_AVERAGE_WEIGHT


def encode(message: dict[str, Any]) -> bytes:
    """Return one protocol line."""
    return json.dumps(message).encode("utf-8") + b"\r\n"


def decode(line: bytes) -> dict[str, Any]:
    """Return the message on one line; raise ValueError when it is not a JSON object."""
    message = json.loads(line.decode("utf-8"))
    if not isinstance(message, dict):
        raise ValueError("a Syncplay message is a JSON object")
    return message


def start_tls() -> dict[str, Any]:
    """Ask the server whether it speaks TLS on this connection."""
    return {"TLS": {"startTLS": "send"}}


def hello(username: str, room: str, password: str | None) -> dict[str, Any]:
    """Join `room`; the server compares the MD5 hex digest of its password, not the password."""
    body: dict[str, Any] = {"username": username, "room": {"name": room},
                            "version": CLIENT_VERSION, "realversion": REAL_VERSION,
                            "features": FEATURES}
    if password:
        body["password"] = hashlib.md5(password.encode("utf-8")).hexdigest()
    return {"Hello": body}


@dataclass(frozen=True, slots=True)
class PlayState:
    """The room's clock as one `State` carried it."""

    position: float
    paused: bool
    set_by: str | None
    do_seek: bool


def play_state(state: dict[str, Any]) -> PlayState | None:
    """Return the room's clock from a server `State`, or None when it carries none."""
    playstate = state.get("playstate")
    if not isinstance(playstate, dict) or playstate.get("paused") is None:
        return None
    set_by = playstate.get("setBy")
    return PlayState(float(playstate.get("position") or 0.0), bool(playstate["paused"]),
                     str(set_by) if set_by else None, bool(playstate.get("doSeek")))


class Ping:
    """Round-trip bookkeeping, as the reference client keeps it, to age the room's position."""

    def __init__(self) -> None:
        self.rtt = 0.0
        self._average = 0.0
        self.forward_delay = 0.0

    def receive(self, ping: dict[str, Any]) -> None:
        """Take the server's echo of our last timestamp into account."""
        sent = ping.get("clientLatencyCalculation")
        if not sent:
            return
        rtt = time.time() - float(sent)
        server_rtt = float(ping.get("serverRtt") or 0.0)
        if rtt < 0 or server_rtt < 0:
            return
        self.rtt = rtt
        self._average = (self._average * PING_AVERAGE_WEIGHT + rtt * (1 - PING_AVERAGE_WEIGHT)
                         if self._average else rtt)
        self.forward_delay = self._average / 2 + max(0.0, rtt - server_rtt)

    def answer(self, state: dict[str, Any]) -> dict[str, Any]:
        """Return the watcher's answer to a server `State`: ping only, never a playstate."""
        found = state.get("ping")
        ping: dict[str, Any] = found if isinstance(found, dict) else {}
        self.receive(ping)
        body: dict[str, Any] = {"ping": {"clientLatencyCalculation": time.time(),
                                         "clientRtt": self.rtt}}
        if ping.get("latencyCalculation"):
            body["ping"]["latencyCalculation"] = ping["latencyCalculation"]
        ignoring = state.get("ignoringOnTheFly")
        if isinstance(ignoring, dict) and ignoring.get("server"):
            # echoing the count tells the server we saw its forced update; until then it
            # sends us nothing but forced ones
            body["ignoringOnTheFly"] = {"server": ignoring["server"]}
        return {"State": body}
