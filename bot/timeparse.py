"""Reading what people type: party times, time zones, durations, film positions and yes/no.

Every failure is a `UserError` with a key and parameters; the renderer words it.

`parse_when` rules, in the order they apply:

- ISO 8601 (`2026-12-01T20:00:00+01:00`, `...Z`) is read by `datetime.fromisoformat`; without an
  offset it is a wall-clock time in the party's zone.
- Everything else goes to dateparser (English), relative to `now` seen in the party's zone.
- A purely relative expression in hours, minutes or seconds ("in 45m", "in 2 hours") is added
  to the UTC instant, so it is right across a DST change. One in calendar units ("in 2 days",
  "tomorrow", "next week") keeps the wall-clock time of day.
- A weekday named that is today, with the time still ahead ("friday 20:30" on Friday at noon),
  means today; dateparser would pick next week. "next friday" keeps dateparser's reading.
- A bare time already passed today ("20:00" at 21:00) means tomorrow.
- A wall-clock result is converted with zoneinfo, not dateparser: a time that does not exist
  (the spring-forward gap) is refused; an ambiguous one (the fall-back hour) is taken at its
  first occurrence (fold=0, i.e. still on summer time).
- An explicit zone in the text ("8pm UTC", "20:00 +0200") wins over the party's zone.
- The result is whole seconds; it may equal `now` but not precede it, and may be at most
  365 days ahead.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta, tzinfo
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import dateparser

from bot.clock import utc
from bot.errors import UserError

MAX_AHEAD = timedelta(days=365)
MAX_WHEN_LENGTH = 120  # dateparser gets slow on long input, and no real time needs more
MAX_REMINDER = timedelta(days=7)
MAX_REMINDERS = 5

_ISO_START = re.compile(r"^\d{4}-\d{2}-\d{2}(?:[T ]|$)")
_BARE_NUMBER = re.compile(r"^(?:at\s+)?\d{1,4}$")
_BARE_TIME = re.compile(
    r"^(?:at\s+)?(?:\d{1,2}(?:[:.h]\d{2}){0,2}\s*(?:[ap]\.?m\.?)?|noon|midnight)$"
)
_WEEKDAY = re.compile(
    r"\b(?:mon|monday|tue|tues|tuesday|wed|weds|wednesday|thu|thur|thurs|thursday"
    r"|fri|friday|sat|saturday|sun|sunday)\b"
)
_MONTH = (
    r"jan|january|feb|february|mar|march|apr|april|may|jun|june|jul|july|aug|august"
    r"|sep|sept|september|oct|october|nov|november|dec|december"
)
_WEEKDAY_INDEX = {
    name[:3]: index
    for index, name in enumerate(
        ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
    )
}
_MONTH_NAME = re.compile(r"\b(?:" + _MONTH + r")\b")
_MONTH_INDEX = {
    name: index
    for index, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )
}
# Text without a digit must contain one of these, or dateparser reads noise ("a") as a date.
_STRONG_WORD = re.compile(
    r"\b(?:now|today|tonight|tomorrow|yesterday|ago|noon|midnight"
    r"|minutes?|mins?|hours?|hrs?|days?|weeks?|fortnight|months?|"
    + _MONTH
    + r")\b|"
    + _WEEKDAY.pattern
)
_CALENDAR_UNIT = re.compile(r"\b(?:days?|weeks?|fortnights?|months?|years?|tomorrow|today)\b")
_CLOCK_UNIT = re.compile(r"\d\s*(?:h|m|s)\b|\b(?:hours?|hrs?|minutes?|mins?|seconds?|secs?)\b")
_FOUR_DIGITS = re.compile(r"\b(\d{4})\b")

# Parsing twice with bases this far apart tells relative expressions (whose result moves by
# exactly this much) from wall-clock ones (whose result stays, or jumps by a day or more).
_PROBE_SHIFT = timedelta(hours=1, minutes=1, seconds=1)


# --------------------------------------------------------------------------- zones


@lru_cache(maxsize=1)
def _zone_names() -> dict[str, str]:
    names = {name.lower(): name for name in available_timezones()}
    names["utc"] = "UTC"
    return names


def validate_zone(name: str) -> str:
    """Return the canonical IANA name of a time zone, looked up case-insensitively."""
    canonical = _zone_names().get(name.strip().lower())
    if canonical is None:
        raise UserError("timezone_unknown", zone=name)
    return canonical


def _zone(name: str) -> ZoneInfo:
    canonical = validate_zone(name)
    try:
        return ZoneInfo(canonical)
    except (ZoneInfoNotFoundError, ValueError) as exc:  # listed but unloadable: a broken tzdata
        raise UserError("timezone_unknown", zone=name) from exc


# --------------------------------------------------------------------------- when


def _localize(naive: datetime, zone: ZoneInfo, text: str, zone_name: str) -> datetime:
    """Turn a wall-clock time in `zone` into UTC, refusing times skipped by a DST change."""
    aware = naive.replace(tzinfo=zone, fold=0)  # fold=0: first occurrence of a repeated hour
    instant = aware.astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) != naive:
        raise UserError("time_nonexistent", text=text, zone=zone_name, local=naive)
    return instant


def _dateparse(text: str, base: datetime) -> datetime | None:
    settings: dict[str, Any] = {
        "RELATIVE_BASE": base,
        "PREFER_DATES_FROM": "future",
        "PARSERS": ["relative-time", "absolute-time"],
    }
    return dateparser.parse(text, languages=["en"], settings=settings)


def _check_range(instant: datetime, now: datetime, text: str, zone: str) -> datetime:
    if instant < now:
        raise UserError("time_past", text=text, understood=instant, zone=zone)
    if instant - now > MAX_AHEAD:
        raise UserError("time_too_far", text=text, understood=instant, zone=zone)
    return instant


def _whole_seconds(dt: datetime) -> datetime:
    return dt.astimezone(UTC).replace(microsecond=0)


def _parse_iso(text: str) -> datetime | None:
    if not _ISO_START.match(text):
        return None
    try:
        return datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        return None


def _plausible(lowered: str, local: datetime, base: datetime) -> bool:
    """Catch dateparser's misreadings: the result must match the year, weekday and month named."""
    years = {int(y) for y in _FOUR_DIGITS.findall(lowered)}
    if local.year not in years and local.year not in (base.year, base.year + 1):
        return False  # "32 Dec" read as the year 2032
    weekdays = {_WEEKDAY_INDEX[m.group(0)[:3]] for m in _WEEKDAY.finditer(lowered)}
    if len(weekdays) == 1 and local.weekday() not in weekdays:
        return False  # "monday 8" read as the 8th month
    months = {_MONTH_INDEX[m.group(0)[:3]] for m in _MONTH_NAME.finditer(lowered)}
    return not (len(months) == 1 and local.month not in months)


def _natural(text: str, lowered: str, zone: ZoneInfo, zone_name: str, now: datetime) -> datetime:
    """Read natural language with dateparser and apply this module's corrections."""
    unreadable = UserError("time_unreadable", text=text)
    if _BARE_NUMBER.match(lowered):  # "8" would be read as August
        raise unreadable
    if not any(ch.isdigit() for ch in lowered) and not _STRONG_WORD.search(lowered):
        raise unreadable
    base = now.astimezone(zone).replace(tzinfo=None)
    first = _dateparse(text, base)
    if first is None:
        raise unreadable

    if first.tzinfo is not None:
        # The text named its own zone ("8pm UTC"): read it again relative to now in that zone.
        offset_zone: tzinfo = first.tzinfo
        offset_base = now.astimezone(offset_zone).replace(tzinfo=None)
        again = _dateparse(text, offset_base)
        result = again if again is not None and again.tzinfo is not None else first
        return _whole_seconds(result)

    second = _dateparse(text, base + _PROBE_SHIFT)
    delta = first - base
    relative = second is not None and second.tzinfo is None and second - first == _PROBE_SHIFT
    if relative and not (_CALENDAR_UNIT.search(lowered) and not _CLOCK_UNIT.search(lowered)):
        return _whole_seconds(now + delta)

    local = first
    if not relative:
        if not _plausible(lowered, local, base):
            raise unreadable
        local = local.replace(microsecond=0)
        if _WEEKDAY.search(lowered) and "next" not in lowered:
            earlier = local - timedelta(days=7)
            if earlier.date() == base.date() and earlier > base:
                local = earlier
        if _BARE_TIME.match(lowered) and local <= base:
            local += timedelta(days=1)
    return _localize(local.replace(microsecond=0), zone, text, zone_name)


def parse_when(text: str, zone: str, now: datetime) -> datetime:
    """Return the aware UTC instant (whole seconds) that `text` names in the zone `zone`.

    `now` must be aware (the Clock's). Raises UserError: timezone_unknown(zone),
    time_unreadable(text), time_nonexistent(text, zone, local), time_past(text, understood,
    zone), time_too_far(text, understood, zone).
    """
    zone_name = validate_zone(zone)
    tz = _zone(zone_name)
    now = utc(now).replace(microsecond=0)
    cleaned = " ".join(text.split())
    if not cleaned or len(cleaned) > MAX_WHEN_LENGTH:
        raise UserError("time_unreadable", text=text)
    lowered = cleaned.lower()

    iso = _parse_iso(cleaned)
    if iso is not None:
        if iso.tzinfo is None:
            instant = _localize(iso.replace(microsecond=0), tz, text, zone_name)
        else:
            instant = _whole_seconds(iso)
    else:
        instant = _natural(cleaned, lowered, tz, zone_name, now)
    return _check_range(instant, now, text, zone_name)


# --------------------------------------------------------------------------- durations

_UNIT_SECONDS = {
    "d": 86400, "day": 86400, "days": 86400,
    "h": 3600, "hr": 3600, "hrs": 3600, "hour": 3600, "hours": 3600,
    "m": 60, "min": 60, "mins": 60, "minute": 60, "minutes": 60,
    "s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1,
}  # fmt: skip
_DURATION_PART = re.compile(r"\s*(\d{1,6})\s*([a-z]+)\s*")


def _duration_seconds(text: str) -> int | None:
    lowered = text.strip().lower()
    if not lowered:
        return None
    total, pos, seen = 0, 0, set()
    while pos < len(lowered):
        match = _DURATION_PART.match(lowered, pos)
        if match is None:
            return None
        unit = _UNIT_SECONDS.get(match.group(2))
        if unit is None or unit in seen:
            return None
        seen.add(unit)
        total += int(match.group(1)) * unit
        pos = match.end()
    return total


def duration_seconds(text: str) -> int | None:
    """Return the whole seconds of "30s", "2m", "1h30m" (units d, h, m, s, spelled out too)."""
    return _duration_seconds(text)


def parse_duration(text: str) -> timedelta:
    """Read a duration such as "15m", "2h", "90s" or "1h30m" (more than 0, at most 7 days).

    Raises UserError("reminders_invalid", text, part, reason) with reason "unreadable", "zero"
    or "too_long"; `part` is the whole text here.
    """
    seconds = _duration_seconds(text)
    if seconds is None:
        raise UserError("reminders_invalid", text=text, part=text, reason="unreadable")
    if seconds == 0:
        raise UserError("reminders_invalid", text=text, part=text, reason="zero")
    if seconds > MAX_REMINDER.total_seconds():
        raise UserError("reminders_invalid", text=text, part=text, reason="too_long")
    return timedelta(seconds=seconds)


def parse_reminders(text: str) -> tuple[timedelta, ...]:
    """Read a comma-separated reminder list ("15m,1m"): largest first, no duplicates, at most 5.

    "none" or "off" means no reminders. Raises UserError("reminders_invalid", text, part,
    reason) naming the offending part; reason is "unreadable", "zero", "too_long", "too_many".
    """
    stripped = text.strip()
    if stripped.lower() in ("none", "off"):
        return ()
    parts = [part.strip() for part in stripped.split(",")]
    found: set[timedelta] = set()
    for part in parts:
        if not part:
            continue
        try:
            found.add(parse_duration(part))
        except UserError as exc:
            raise UserError(
                "reminders_invalid", text=text, part=part, reason=exc.params["reason"]
            ) from None
        if len(found) > MAX_REMINDERS:
            raise UserError("reminders_invalid", text=text, part=part, reason="too_many")
    if not found:
        raise UserError("reminders_invalid", text=text, part=stripped, reason="unreadable")
    return tuple(sorted(found, reverse=True))


# --------------------------------------------------------------------------- film positions

_POSITION = re.compile(r"^(?:(\d{1,3}):([0-5]\d)|(\d{1,4})):([0-5]\d)$")


def parse_position_or_none(text: str) -> int | None:
    """Return the seconds of a film position ("1:34:00", "14:30", "0:00:05"), or None."""
    match = _POSITION.match(text.strip())
    if match is None:
        return None
    hours, minutes, bare_minutes, seconds = match.groups()
    if hours is not None:
        return int(hours) * 3600 + int(minutes) * 60 + int(seconds)
    return int(bare_minutes) * 60 + int(seconds)


def parse_position(text: str) -> int:
    """Return the seconds of a film position: H:MM:SS ("1:34:00") or M:SS ("14:30").

    Raises UserError("position_invalid", text=text).
    """
    seconds = parse_position_or_none(text)
    if seconds is None:
        raise UserError("position_invalid", text=text)
    return seconds


def format_position(seconds: float) -> str:
    """Format a film position as H:MM:SS ("0:41:07"), rounding down; negatives show 0:00:00."""
    whole = max(0, math.floor(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


# --------------------------------------------------------------------------- yes / no

_TRUE = frozenset({"yes", "y", "true", "on", "1"})
_FALSE = frozenset({"no", "n", "false", "off", "0"})


def parse_bool(text: str) -> bool:
    """Read yes/no, true/false, on/off or 1/0 (any case). Raises UserError("bool_invalid")."""
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise UserError("bool_invalid", text=text)
