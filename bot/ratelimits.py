"""Send limits: the grammar of 'bot=30/1s; chat=1/1s,20/60s', and the buckets that enforce it.

The outbox asks a `BucketFactory` for one bucket per scope (the bot, each chat); the default
keeps sliding windows in this process, and a store shared by several workers can plug in its own.
"""

from __future__ import annotations

import itertools
import re
from collections import deque
from dataclasses import dataclass
from typing import Protocol, cast

from pyrate_limiter import InMemoryBucket, Rate, RateItem

_LIMITS_HELP = (
    "expected 'bot=COUNT/WINDOW; chat=COUNT/WINDOW[,COUNT/WINDOW…]' with WINDOW a number and "
    "a unit ms, s or m (e.g. 'bot=50/1s; chat=5/5s' or 'bot=30/1s; chat=1/1s,20/60s'); "
    "a scope may be 'none', and the whole text may be 'unlimited'"
)
_RATE_RE = re.compile(r"^(\d+)\s*/\s*(\d+(?:\.\d+)?|\.\d+)?\s*(ms|s|m)$")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000}

RateSpec = tuple[tuple[int, float], ...]


def _format_rate(count: int, seconds: float) -> str:
    return f"{count}/{seconds:g}s"


def _check_rates(scope: str, rates: RateSpec) -> RateSpec:
    """Return the rates ordered by window, or raise ValueError naming what is wrong."""
    ordered = tuple(sorted(rates, key=lambda r: r[1]))
    for count, seconds in ordered:
        if count < 1:
            raise ValueError(f"{scope}: a count must be at least 1, got {count}")
        ms = seconds * 1000
        if ms < 1 or abs(ms - round(ms)) > 1e-6:
            raise ValueError(
                f"{scope}: a window must be a whole number of milliseconds, at least 1ms, "
                f"got {seconds:g}s"
            )
    for (c1, s1), (c2, s2) in itertools.pairwise(ordered):
        shorter, longer = _format_rate(c1, s1), _format_rate(c2, s2)
        if s1 == s2:
            raise ValueError(f"{scope}: two limits over the same window ({shorter}, {longer})")
        if c2 <= c1:
            raise ValueError(
                f"{scope}: {longer} never applies because {shorter} is stricter; "
                "a longer window needs a larger count"
            )
        if c2 / s2 > c1 / s1:
            raise ValueError(
                f"{scope}: {longer} never applies because {shorter} is stricter; "
                "a longer window must allow fewer messages per second"
            )
    return ordered


@dataclass(frozen=True)
class RateLimits:
    """A platform's send limits: (count, seconds) windows for the whole bot and for each chat."""

    per_bot: RateSpec = ()
    per_chat: RateSpec = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "per_bot", _check_rates("bot", tuple(self.per_bot)))
        object.__setattr__(self, "per_chat", _check_rates("chat", tuple(self.per_chat)))

    @classmethod
    def parse(cls, text: str) -> RateLimits:
        """Read limits such as 'bot=50/1s; chat=5/5s'; raise ValueError saying what is wrong."""
        body = text.strip()
        if not body:
            raise ValueError(f"rate limits are empty; {_LIMITS_HELP}")
        if body.lower() in ("unlimited", "none"):
            return cls()
        scopes: dict[str, RateSpec] = {}
        for part in body.split(";"):
            part = part.strip()
            if not part:
                continue
            name, eq, value = part.partition("=")
            name = name.strip().lower()
            if not eq:
                raise ValueError(f"{part!r} has no '='; {_LIMITS_HELP}")
            if name not in ("bot", "chat"):
                raise ValueError(f"unknown scope {name!r} (known: bot, chat); {_LIMITS_HELP}")
            if name in scopes:
                raise ValueError(f"scope {name!r} given twice; {_LIMITS_HELP}")
            scopes[name] = cls._parse_scope(name, value.strip())
        try:
            return cls(per_bot=scopes.get("bot", ()), per_chat=scopes.get("chat", ()))
        except ValueError as exc:
            raise ValueError(f"{exc}; {_LIMITS_HELP}") from None

    @staticmethod
    def _parse_scope(name: str, value: str) -> RateSpec:
        if value.lower() == "none":
            return ()
        rates: list[tuple[int, float]] = []
        for piece in value.split(","):
            piece = piece.strip()
            match = _RATE_RE.match(piece)
            if match is None:
                raise ValueError(f"{name}: cannot read {piece!r} as COUNT/WINDOW; {_LIMITS_HELP}")
            count, number, unit = match.groups()
            seconds = float(number or "1") * _UNIT_MS[unit] / 1000
            rates.append((int(count), seconds))
        return tuple(rates)

    def __str__(self) -> str:
        def scope(rates: RateSpec) -> str:
            return ",".join(_format_rate(c, s) for c, s in rates) or "none"

        return f"bot={scope(self.per_bot)}; chat={scope(self.per_chat)}"


DISCORD_LIMITS = RateLimits(per_bot=((50, 1.0),), per_chat=((5, 5.0),))
TELEGRAM_LIMITS = RateLimits(per_bot=((30, 1.0),), per_chat=((1, 1.0), (20, 60.0)))
UNLIMITED = RateLimits()


class Bucket(Protocol):
    """The limits of one scope (the bot, or one chat), in milliseconds of the outbox's Clock."""

    def leaves_room_at(self, now_ms: int, at_ms: int) -> bool:
        """Return True when one request now still leaves room for one more at `at_ms`."""
        ...

    def delay_ms(self, now_ms: int) -> int:
        """Return how long until one more request is allowed (0: now), consuming nothing."""
        ...

    def take(self, now_ms: int) -> bool:
        """Record one request at `now_ms`; return False (recording nothing) if it is not allowed."""
        ...

    def idle(self, now_ms: int) -> bool:
        """Return True when no past request still counts against any window."""
        ...


class BucketFactory(Protocol):
    """Makes the bucket of one scope: `name` is 'discord:bot' or a chat, `rates` its windows."""

    def __call__(self, name: str, rates: RateSpec) -> Bucket:
        """Return the bucket enforcing `rates` for the scope `name`."""
        ...


class Window:
    """The sliding-window limits of one scope (the bot, or one chat), kept by pyrate-limiter.

    Time is passed in explicitly as milliseconds of the outbox's Clock, so a fake clock drives it.
    """

    def __init__(self, name: str, rates: RateSpec) -> None:
        self._name = name
        self._bucket: InMemoryBucket | None = (
            InMemoryBucket([Rate(count, round(seconds * 1000)) for count, seconds in rates])
            if rates else None
        )
        self._free_at_ms = 0  # known not to admit before this instant; 0 = ask the bucket
        # The bucket needs time that never goes back; a wall clock stepped back counts as still.
        self._latest_ms = 0
        self._rates = tuple((count, round(seconds * 1000)) for count, seconds in rates)
        self._taken: deque[int] = deque(maxlen=max((c for c, _ in rates), default=1))

    def leaves_room_at(self, now_ms: int, at_ms: int) -> bool:
        """Return True when one request now still leaves room for one more at `at_ms`."""
        for count, window_ms in self._rates:
            start = at_ms - window_ms
            if now_ms <= start:
                continue
            used = 1 + sum(1 for t in self._taken if t > start)
            if used + 1 > count:
                return False
        return True

    def delay_ms(self, now_ms: int) -> int:
        """Return how long until one more request is allowed (0: now), consuming nothing."""
        if self._bucket is None:
            return 0
        at = max(now_ms, self._latest_ms)
        if at < self._free_at_ms:
            return self._free_at_ms - at
        probe = RateItem(self._name, at)
        if self._bucket.put(probe):
            # put() is the library's admission check and it consumes; a check must not, or a
            # message waiting for the bot bucket would burn its chat's allowance.
            items = self._bucket.items
            if items and items[-1] is probe:
                items.pop()
            else:  # pragma: no cover - put() appends; kept for safety
                items.remove(probe)
            return 0
        wait = max(1, cast(int, self._bucket.waiting(probe)))
        self._free_at_ms = at + wait
        return wait

    def take(self, now_ms: int) -> bool:
        """Record one request at `now_ms`; return False (recording nothing) if it is not allowed."""
        if self._bucket is None:
            return True
        at = max(now_ms, self._latest_ms)
        self._bucket.leak(at)
        self._free_at_ms = 0
        if not self._bucket.put(RateItem(self._name, at)):
            return False
        self._latest_ms = at
        self._taken.append(at)
        return True

    def idle(self, now_ms: int) -> bool:
        """Return True when no past request still counts against any window."""
        if self._bucket is None:
            return True
        self._bucket.leak(max(now_ms, self._latest_ms))
        return self._bucket.count() == 0


def memory_buckets(name: str, rates: RateSpec) -> Bucket:
    """The default factory: sliding windows kept in this process."""
    return Window(name, rates)


class SharedBudget(Protocol):
    """Send budgets counted for every worker together (the store, with several workers)."""

    async def take_send(self, scopes: list[tuple[str, RateSpec, int]],
                        now_ms: int) -> tuple[int, str | None]:
        """Count one request against every scope; else (ms to wait, the full scope's name)."""
        ...


def go_spare(rates: RateSpec) -> int:
    """How many requests of each of a bot's windows only a GO may use: a tenth, at least one
    (none for a window of one request)."""
    count = min((c for c, _ in rates), default=0)
    return max(1, count // 10) if count > 1 else 0


def window_wait_ms(rates: RateSpec, taken: list[int], now_ms: int, spare: int = 0) -> int:
    """How long until one more request fits `rates`, given the instants (ms) of those `taken`.

    A request counts against a window while it is younger than the window. `spare` requests of
    each window stay free (for a GO); a window of one request keeps none. 0: it fits now.
    Every store's shared budget decides with this, so all of them agree.
    """
    wait = 0
    ordered = sorted(taken)
    for count, seconds in rates:
        window = round(seconds * 1000)
        allowed = max(1, count - spare)
        inside = [t for t in ordered if t > now_ms - window]
        if len(inside) >= allowed:
            wait = max(wait, inside[len(inside) - allowed] + window - now_ms)
    return max(0, wait)


def longest_window_ms(rates: RateSpec) -> int:
    """The longest window of `rates` in milliseconds (how long a request counts at most)."""
    return max((round(seconds * 1000) for _, seconds in rates), default=0)
