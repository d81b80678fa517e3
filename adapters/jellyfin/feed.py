"""A Jellyfin user's session as a feed: poll GET /Sessions, report its PlayState."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import aiohttp

from adapters.retry import Backoff
from bot.feeds import FeedRefused, FeedReport
from bot.ports import Clock

log = logging.getLogger(__name__)

SOURCE = "Jellyfin"
TICKS_PER_SECOND = 10_000_000  # PositionTicks are 100 ns
POLL_SECONDS = 1.0
TIMEOUT_SECONDS = 5.0
MAX_CHECK_IN_AGE = 30.0


def playing_session(sessions: Any, user: str) -> dict[str, Any] | None:
    """Return `user`'s session that has something playing, the most recently active one."""
    if not isinstance(sessions, list):
        raise ValueError("/Sessions did not answer a list")
    wanted = user.casefold()
    candidates = [s for s in sessions if isinstance(s, dict)
                  and str(s.get("UserName", "")).casefold() == wanted
                  and isinstance(s.get("NowPlayingItem"), dict)
                  and isinstance(s.get("PlayState"), dict)]
    if not candidates:
        return None
    return max(candidates, key=lambda s: str(s.get("LastActivityDate") or ""))


class JellyfinFeed:
    """Polls a Jellyfin server about once a second for one user's playing session."""

    def __init__(self, base_url: str, user: str, *, api_key: str, clock: Clock,
                 interval: float = POLL_SECONDS, timeout: float = TIMEOUT_SECONDS,
                 backoff: Backoff | None = None) -> None:
        self.source = SOURCE
        self.base_url = base_url.rstrip("/")
        self.user = user
        self._api_key = api_key
        self._clock = clock
        self._interval = interval
        self._timeout = timeout
        self._backoff = backoff or Backoff()

    async def reports(self) -> AsyncIterator[FeedReport]:
        """Yield the user's playing position at every poll that finds it; back off on errors."""
        headers = {"Authorization": f'MediaBrowser Token="{self._api_key}"',
                   "Accept": "application/json"}
        timeout = aiohttp.ClientTimeout(total=self._timeout)
        delay = self._backoff.first
        async with aiohttp.ClientSession(headers=headers, timeout=timeout) as http:
            while True:
                try:
                    session = playing_session(await self._sessions(http), self.user)
                    report = self._report(session) if session is not None else None
                except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                    log.info("jellyfin %s: %s; retrying in %.1fs", self.base_url,
                             exc.__class__.__name__, delay)
                    await self._clock.sleep(delay)
                    delay = self._backoff.after(delay)
                    continue
                delay = self._backoff.first
                if report is not None:
                    yield report
                await self._clock.sleep(self._interval)

    async def _sessions(self, http: aiohttp.ClientSession) -> Any:
        async with http.get(f"{self.base_url}/Sessions") as response:
            if response.status in (401, 403):
                raise FeedRefused(f"Jellyfin refused the API key (HTTP {response.status})")
            response.raise_for_status()
            return await response.json(content_type=None)

    def _report(self, session: dict[str, Any]) -> FeedReport:
        state = session["PlayState"]
        ticks = state.get("PositionTicks") or 0
        if not isinstance(ticks, int | float) or isinstance(ticks, bool):
            raise ValueError("PositionTicks is not a number")
        now = self._clock.now()
        paused = bool(state.get("IsPaused"))
        position = ticks / TICKS_PER_SECOND
        if not paused:
            position += _since_check_in(session.get("LastPlaybackCheckIn"), now)
        return FeedReport(max(0.0, position), paused, str(session.get("UserName") or self.user),
                          now, self.source)


def _since_check_in(value: Any, now: datetime) -> float:
    """Seconds since the player last told Jellyfin its position (it does so every few seconds).

    Jellyfin stores the position the player last reported and does not carry it forward, so a
    playing position is aged by the time since then, by the server's clock (capped: a clock
    that disagrees with ours must not invent a seek).
    """
    try:
        checked_in = datetime.fromisoformat(str(value))
    except ValueError:
        return 0.0
    if checked_in.tzinfo is None:
        checked_in = checked_in.replace(tzinfo=UTC)
    return min(MAX_CHECK_IN_AGE, max(0.0, (now - checked_in).total_seconds()))
