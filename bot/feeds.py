"""Feeds: a real player reports where the film is, and what that means for the party's clock."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol
from urllib.parse import quote, unquote, urlsplit

from bot import timeline
from bot.actions import Action, ActionStatus
from bot.errors import UserError
from bot.party import Party, PartyState

SCHEMES: dict[str, int] = {"syncplay": 8999, "jellyfin": 8096}
SOURCE_SHAPES = ("syncplay://HOST[:PORT]/ROOM", "jellyfin://HOST[:PORT]/USER")
DEFAULT_ALLOWED_HOSTS = "syncplay.pl"
TOLERANCE_SECONDS = 1.5
LOST_AFTER_SECONDS = 30.0
START_WITHIN_SECONDS = 10.0
MAX_TARGET_LENGTH = 100


@dataclass(frozen=True, slots=True)
class FeedReport:
    """What a source said at one instant: the film position, paused or not, and who did it."""

    position: float
    paused: bool
    by: str | None
    received_at: datetime
    source: str

    def position_at(self, now: datetime) -> float:
        """Return where the film is at `now` if the player went on as reported."""
        if self.paused:
            return self.position
        return self.position + max(0.0, (now - self.received_at).total_seconds())


class FeedRefused(Exception):
    """The source turned the bot away for good (a wrong password or API key): not retried."""


class Feed(Protocol):
    """A source reports position, paused, and who did it; it never changes the player."""

    source: str

    def reports(self) -> AsyncIterator[FeedReport]:
        """Yield reports for as long as the feed is followed, reconnecting on its own.

        Raises FeedRefused when the source refuses the bot (retrying would not help).
        """
        ...


@dataclass(frozen=True, slots=True)
class FeedSource:
    """A validated source address: which kind of player, where, and which room or user."""

    kind: str
    host: str
    port: int
    target: str

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.kind}://{host}:{self.port}/{quote(self.target, safe='')}"

    def where(self) -> str:
        """The server as people read it: the host, and the port when it is not the default."""
        return self.host if self.port == SCHEMES[self.kind] else f"{self.host}:{self.port}"


FeedOpener = Callable[[FeedSource], Feed]


@dataclass(frozen=True, slots=True)
class FeedStatus:
    """What `now` says of a followed party's player: its last report, and whether it is lost."""

    source: FeedSource
    last: FeedReport | None
    lost: bool
    refused: bool


class FollowControl(Protocol):
    """How the core follows players (`bot.following.Following` implements it).

    A followed party has one pending FOLLOW action; the worker whose scheduler claims it
    follows the player for as long as it holds the action's lease, so with many workers one
    follows each party, and another takes over when that one dies and its lease runs out.
    """

    def open(self, source: FeedSource) -> Feed:
        """Return the feed of a validated source; it connects to nothing until followed."""
        ...

    async def hold(self, action: Action) -> ActionStatus:
        """Follow the FOLLOW action's player until the party ends or stops following it.

        Returns PENDING when this worker stops (another, or this one restarted, takes over).
        """
        ...

    async def unfollow(self, party_id: int) -> None:
        """Stop following a party's player in this worker; its connection closes."""
        ...

    def status(self, party_id: int) -> FeedStatus | None:
        """Return what this worker knows of a party's player, None if it follows none."""
        ...


class FeedAction(StrEnum):
    """What a report asks of the party's clock."""

    NOTHING = "nothing"
    PAUSE = "pause"
    RESUME = "resume"
    SEEK = "seek"
    START = "start"
    LOST = "lost"


@dataclass(frozen=True, slots=True)
class FeedDecision:
    """The outcome of one report: the action, the film position it sets, and who did it.

    `moved` is True when the position differs from the party's clock by more than the
    tolerance, so a pause or a resume also sets the clock to `position`.
    """

    action: FeedAction
    position: float | None = None
    by: str | None = None
    source: str | None = None
    moved: bool = False


def decide(party: Party, report: FeedReport | None, now: datetime, *,
           followed_since: datetime, tolerance: float = TOLERANCE_SECONDS,
           lost_after: float = LOST_AFTER_SECONDS,
           start_within: float = START_WITHIN_SECONDS) -> FeedDecision:
    """Turn the latest report (None: none yet) into what the party's clock should do at `now`.

    A report older than `lost_after` seconds (or none since `followed_since`) means the feed is
    lost; the caller tells the chats once and lets the party run on its own clock.
    """
    if party.state not in (PartyState.SCHEDULED, PartyState.COUNTING_DOWN,
                           PartyState.PLAYING, PartyState.PAUSED):
        return FeedDecision(FeedAction.NOTHING)
    last_news = report.received_at if report is not None else followed_since
    if (now - last_news).total_seconds() > lost_after:
        return FeedDecision(FeedAction.LOST)
    if report is None:
        return FeedDecision(FeedAction.NOTHING)
    actual = report.position_at(now)

    def outcome(action: FeedAction, moved: bool = False) -> FeedDecision:
        return FeedDecision(action, actual, report.by, report.source, moved)

    if party.state in (PartyState.SCHEDULED, PartyState.COUNTING_DOWN):
        if not report.paused and actual <= start_within:
            return outcome(FeedAction.START)
        return FeedDecision(FeedAction.NOTHING)
    expected = timeline.position(party, now)
    moved = expected is None or abs(actual - expected) > tolerance
    if party.state is PartyState.PLAYING:
        if report.paused:
            return outcome(FeedAction.PAUSE, moved)
        return outcome(FeedAction.SEEK, True) if moved else FeedDecision(FeedAction.NOTHING)
    if not report.paused:
        return outcome(FeedAction.RESUME, moved)
    return outcome(FeedAction.SEEK, True) if moved else FeedDecision(FeedAction.NOTHING)


def parse_allowed_hosts(text: str) -> tuple[str, ...]:
    """Return the entries of FOLLOW_ALLOWED_HOSTS, lowercased; raise ValueError on a bad one."""
    entries: list[str] = []
    for raw in (text or DEFAULT_ALLOWED_HOSTS).split(","):
        entry = raw.strip().lower()
        if not entry:
            continue
        host, port = _split_host_port(entry)
        if not host or any(ch in host for ch in "/@?# ") or (port is not None and
                                                              not _valid_port(port)):
            raise ValueError(f"FOLLOW_ALLOWED_HOSTS entry {raw.strip()!r} is not a host name "
                             "or host:port (e.g. syncplay.pl, media.example.org:8096)")
        entries.append(entry)
    return tuple(entries) or (DEFAULT_ALLOWED_HOSTS,)


def _split_host_port(entry: str) -> tuple[str, str | None]:
    if entry.startswith("["):
        host, _, rest = entry[1:].partition("]")
        return host, rest[1:] if rest.startswith(":") else None
    if entry.count(":") == 1:
        host, port = entry.split(":")
        return host, port
    return entry, None


def _valid_port(port: str) -> bool:
    return port.isdigit() and 0 < int(port) < 65536


def _allows(allowed: Sequence[str], host: str, port: int) -> bool:
    for entry in allowed:
        allowed_host, allowed_port = _split_host_port(entry)
        if allowed_host == host and (allowed_port is None or int(allowed_port) == port):
            return True
    return False


def parse_source(text: str, allowed: Sequence[str]) -> FeedSource:
    """Validate a source address typed in a chat; connects to nothing.

    Refuses unknown schemes, credentials in the address, bad ports, a missing room or user,
    and hosts outside `allowed` (entries `host` or `host:port`).
    """
    raw = text.strip()
    scheme, sep, _ = raw.partition("://")
    if not sep or scheme.lower() not in SCHEMES:
        raise UserError("feed_scheme_unknown", text=raw, scheme=scheme if sep else "",
                        accepted=list(SOURCE_SHAPES))
    parts = urlsplit(raw)
    kind = parts.scheme.lower()
    if "@" in parts.netloc:
        raise UserError("feed_credentials", text=_without_credentials(raw))
    try:
        explicit = parts.port
    except ValueError:
        explicit = 0
    if explicit == 0:
        raise UserError("feed_port_invalid", text=raw, port=parts.netloc.rpartition(":")[2])
    port = explicit if explicit is not None else SCHEMES[kind]
    host = (parts.hostname or "").lower()
    target = unquote(parts.path.strip("/"))
    shape = SOURCE_SHAPES[list(SCHEMES).index(kind)]
    if (not host or not target or "/" in target or parts.query or parts.fragment
            or len(target) > MAX_TARGET_LENGTH or not target.isprintable()):
        raise UserError("feed_url_invalid", text=raw, shape=shape, maximum=MAX_TARGET_LENGTH)
    source = FeedSource(kind, host, port, target)
    ensure_allowed(source, allowed)
    return source


def ensure_allowed(source: FeedSource, allowed: Sequence[str]) -> None:
    """Raise a UserError naming the allowed hosts unless `source`'s host and port are among them."""
    if not _allows(allowed, source.host, source.port):
        raise UserError("feed_host_not_allowed", host=source.host, port=source.port,
                        allowed=list(allowed))


def _without_credentials(raw: str) -> str:
    scheme, _, rest = raw.partition("://")
    netloc, slash, path = rest.partition("/")
    return f"{scheme}://{netloc.rpartition('@')[2]}{slash}{path}"
