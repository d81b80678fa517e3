"""How instants, distances in time and sizes are written for people."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo


def local_time(at: datetime, zone: str) -> str:
    """Write an instant in a zone, e.g. `Fri 27 Mar 2026, 20:00 CET`."""
    local = at.astimezone(ZoneInfo(zone))
    return f"{local:%a %d %b %Y, %H:%M} {local.tzname()}"


def clock_time(at: datetime, zone: str) -> str:
    """Write the time of day of an instant in a zone, to the second, e.g. `20:00:00 CET`."""
    local = at.astimezone(ZoneInfo(zone))
    return f"{local:%H:%M:%S} {local.tzname()}"


def relative(at: datetime, now: datetime) -> str:
    """Write how far an instant is from now, e.g. `in 45 minutes` or `3 hours ago`."""
    seconds = (at - now).total_seconds()
    ahead = seconds >= 0
    seconds = abs(seconds)
    if seconds < 60:
        amount = f"{int(seconds)} second{'s' if int(seconds) != 1 else ''}"
    elif seconds < 3600:
        minutes = round(seconds / 60)
        amount = f"{minutes} minute{'s' if minutes != 1 else ''}"
    elif seconds < 48 * 3600:
        hours = round(seconds / 3600)
        amount = f"{hours} hour{'s' if hours != 1 else ''}"
    else:
        days = round(seconds / 86400)
        amount = f"{days} days"
    return f"in {amount}" if ahead else f"{amount} ago"


def file_size(size: int) -> str:
    """Write a number of bytes as people read it, e.g. `23.4 MB` (1 MB = 1,048,576 bytes)."""
    if size < 1024 * 1024:
        return f"{max(1, round(size / 1024))} KB"
    return f"{size / (1024 * 1024):.1f} MB"
