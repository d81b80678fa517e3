"""Series: a party that comes back every N days at the same local time in its zone."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.errors import UserError
from bot.party import Party, Series

MAX_EPISODES = 500
MAX_REPEAT_DAYS = 365
_EVERY = re.compile(r"^every[\s_-]+(\d{1,3})[\s_-]*(days?|weeks?|d|w)$")
_SHORT = re.compile(r"^(\d{1,3})\s*(d|w)$")
_NAMED = {"daily": 1, "weekly": 7, "every day": 1, "every week": 7, "fortnightly": 14,
          "biweekly": 14}
ACCEPTED_REPEATS = ("daily", "weekly", "every N days", "every N weeks")


def parse_repeat(text: str) -> int:
    """Return the days between episodes for `daily`, `weekly`, `every N days`, `every N weeks`."""
    words = " ".join(text.strip().lower().split())
    days: int | None = _NAMED.get(words)
    match = _EVERY.match(words) or _SHORT.match(words)
    if days is None and match is not None:
        days = int(match[1]) * (7 if match[2].startswith("w") else 1)
    if days is None or not 1 <= days <= MAX_REPEAT_DAYS:
        raise UserError("repeat_invalid", text=text, accepted=list(ACCEPTED_REPEATS),
                        maximum=MAX_REPEAT_DAYS)
    return days


def parse_episodes(text: str) -> int:
    """Return how many episodes a series has (2 to MAX_EPISODES)."""
    stripped = text.strip()
    if not (stripped.isascii() and stripped.isdigit()) or not 2 <= int(stripped) <= MAX_EPISODES:
        raise UserError("episodes_invalid", text=text, maximum=MAX_EPISODES)
    return int(stripped)


def anchor_for(starts_at: datetime, zone: str, episode: int, repeat_days: int) -> str:
    """Episode 1's local start, given episode `episode` starts at `starts_at`."""
    local = starts_at.astimezone(ZoneInfo(zone)).replace(tzinfo=None)
    return (local - timedelta(days=repeat_days * (episode - 1))).isoformat()


def episode_start(series: Series, zone: str, episode: int) -> datetime:
    """The instant episode `episode` starts: the anchor's wall-clock time, N days on, in `zone`.

    A local time that does not exist that day (the clocks jumped forward over it) is read with
    the offset before the jump, so it lands an hour later, as people expect.
    """
    local = datetime.fromisoformat(series.anchor) + timedelta(
        days=series.repeat_days * (episode - 1))
    return local.replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)


def next_start(party: Party) -> datetime | None:
    """When the episode after this one starts, or None when none follows."""
    series = party.series
    if series is None or series.is_last:
        return None
    return episode_start(series, party.timezone, series.episode + 1)


def repeat_words(days: int) -> str:
    """`daily`, `weekly`, `every 2 weeks`, `every 3 days`."""
    if days == 1:
        return "daily"
    if days == 7:
        return "weekly"
    if days % 7 == 0:
        return f"every {days // 7} weeks"
    return f"every {days} days"
