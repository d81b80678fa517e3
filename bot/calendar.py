"""A party as an RFC 5545 calendar file (`.ics`), built with the icalendar library."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import icalendar

from bot.guide import Guide
from bot.party import Party, PartyState
from bot.planning import NO_GUIDE_RUNTIME

PRODID = "-//watchparty//watch parties on Discord and Telegram//EN"
UID_DOMAIN = "watchparty.invalid"


def uid_of(party: Party) -> str:
    """The event's UID: one per party, the same in every file made of it (edits included)."""
    return f"party-{party.id}-{party.code}@{UID_DOMAIN}"


def filename(party: Party) -> str:
    """The file's name, e.g. `watchparty-K7Q2MX.ics`."""
    return f"watchparty-{party.code}.ics"


def runtime_of(guide: Guide | None) -> timedelta:
    """How long the event lasts: the guide's runtime, or the core's two hours without one."""
    return timedelta(seconds=guide.runtime_seconds) if guide is not None else NO_GUIDE_RUNTIME


def description(party: Party) -> str:
    """The event's description: the join code and how to join, on either platform."""
    lines = [f"Watch party “{party.title}”, hosted by {party.host_name}.",
             f"Join code: {party.code}",
             "How to join: press Going on the announcement in the chat, or send "
             f"/watchparty join {party.code} there. Another Discord channel or Telegram group "
             f"can take part with /watchparty link {party.code}.",
             "At the start, have the film loaded and paused at 0:00; press play when the bot "
             "posts GO."]
    series = party.series
    if series is not None:
        total = f" of {series.episodes}" if series.episodes is not None else ""
        lines.insert(1, f"Episode {series.episode}{total}; each episode gets its own join code.")
    return "\n".join(lines)


def calendar_bytes(party: Party, guide: Guide | None, first_reminder: timedelta | None,
                   now: datetime) -> bytes:
    """One VCALENDAR with one VEVENT for the party (its series as an RRULE with its count).

    A single party's DTSTART is in UTC. A series' is in the party's zone (with its VTIMEZONE):
    RFC 5545 repeats a UTC start at the same UTC time, which would move every episode after a
    DST change by an hour, while the bot keeps them at the same local time.
    """
    cal = icalendar.Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    event = icalendar.Event()
    event.add("uid", uid_of(party))
    event.add("dtstamp", now)
    event.add("sequence", party.sequence)
    event.add("summary", party.title)
    event.add("description", description(party))
    event.add("location", f"Watch party · join code {party.code}")
    runtime = runtime_of(guide)
    # A cancelled episode is one cancelled event: its file must not cancel the episodes after.
    series = party.series if party.state is not PartyState.CANCELLED else None
    if series is not None and not series.is_last:
        local = party.starts_at.astimezone(ZoneInfo(party.timezone))
        event.add("dtstart", local)
        event.add("dtend", local + runtime)
        rule: dict[str, object] = {"freq": "weekly" if series.repeat_days % 7 == 0 else "daily",
                                   "interval": series.repeat_days // 7
                                   if series.repeat_days % 7 == 0 else series.repeat_days}
        if series.episodes is not None:
            rule["count"] = series.episodes - series.episode + 1
        event.add("rrule", rule)
    else:
        event.add("dtstart", party.starts_at)
        event.add("dtend", party.starts_at + runtime)
    event.add("status", "CANCELLED" if party.state is PartyState.CANCELLED else "CONFIRMED")
    if first_reminder is not None:
        alarm = icalendar.Alarm()
        alarm.add("action", "DISPLAY")
        alarm.add("description", f"{party.title} starts soon (join code {party.code})")
        alarm.add("trigger", -first_reminder)
        event.add_component(alarm)
    cal.add_component(event)
    if series is not None and not series.is_last:
        cal.add_missing_timezones()
    return bytes(cal.to_ical())
