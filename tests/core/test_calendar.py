"""Calendar files, parsed back with icalendar: UID, SEQUENCE, DTSTART, VALARM, RRULE."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import icalendar

from bot import buttons
from bot import commands as c
from bot.party import PartyState
from tests.fakes import GUEST, HOME, HOST, MOD, Bot


async def calendar_of(bot: Bot, party: str | None) -> icalendar.Event:
    """The one VEVENT of the calendar file a guest gets."""
    reply = await bot.do(c.CalendarFile(party), actor=GUEST)
    assert reply is not None and reply.private and reply.attachment is not None
    assert reply.attachment.filename.endswith(".ics")
    cal = icalendar.Calendar.from_ical(reply.attachment.data)
    assert cal["VERSION"] == "2.0" and "watchparty" in str(cal["PRODID"])
    [event] = cal.walk("VEVENT")
    return event


async def test_a_party_as_a_calendar_file(bot: Bot) -> None:
    await bot.do(c.ChangeSettings(reminders="30m,5m"), actor=MOD)
    await bot.do(c.CreateParty("Film Club", "2026-03-27T20:00:00+00:00", "short-film"))
    [party] = await bot.store.parties_for_chat(HOME, frozenset(PartyState))
    event = await calendar_of(bot, party.code)
    uid = str(event["UID"])
    assert party.code in uid
    assert event["SEQUENCE"] == 0
    assert event.decoded("DTSTART") == datetime(2026, 3, 27, 20, 0, tzinfo=UTC)
    assert event["DTSTART"].to_ical() == b"20260327T200000Z"  # in UTC
    assert event.decoded("DTEND") == datetime(2026, 3, 27, 20, 30, tzinfo=UTC)  # the runtime
    assert str(event["SUMMARY"]) == "Film Club"
    description = str(event["DESCRIPTION"])
    assert f"Join code: {party.code}" in description
    assert f"/watchparty join {party.code}" in description
    assert f"/watchparty link {party.code}" in description
    [alarm] = event.walk("VALARM")
    assert alarm.decoded("TRIGGER") == -timedelta(minutes=30)  # the chat's first reminder
    assert str(alarm["ACTION"]) == "DISPLAY"
    assert "RRULE" not in event

    # An edit keeps the UID and raises SEQUENCE; DTSTART follows the new time.
    await bot.do(c.EditParty(party.code, when="2026-03-28T18:15:00+00:00",
                             title="Film Club (moved)"), actor=HOST)
    event = await calendar_of(bot, None)
    assert str(event["UID"]) == uid and event["SEQUENCE"] == 1
    assert event.decoded("DTSTART") == datetime(2026, 3, 28, 18, 15, tzinfo=UTC)
    assert str(event["SUMMARY"]) == "Film Club (moved)"
    await bot.do(c.EditParty(party.code, guide="none"), actor=HOST)
    event = await calendar_of(bot, party.code)
    assert event["SEQUENCE"] == 2
    assert event.decoded("DTEND") - event.decoded("DTSTART") == timedelta(hours=2)

    # The announcement's Add to calendar button asks for the same file.
    [announcement] = bot.gateway.posts(HOME, "Film Club\nStarts")
    [button] = announcement.message.buttons[1]
    assert button.label == "Add to calendar"
    assert buttons.parse(button.data) == c.CalendarFile(f"#{party.id}")

    await bot.do(c.CancelParty(party.code), actor=HOST)
    event = await calendar_of(bot, party.code)
    assert str(event["STATUS"]) == "CANCELLED" and str(event["UID"]) == uid


async def test_no_reminders_no_alarm(bot: Bot) -> None:
    await bot.do(c.ChangeSettings(reminders="none"), actor=MOD)
    await bot.do(c.CreateParty("Quiet", "in 2 hours"))
    event = await calendar_of(bot, None)
    assert event.walk("VALARM") == []


async def test_a_series_file_repeats_with_its_count_at_local_time(bot: Bot) -> None:
    await bot.do(c.CreateParty("Anime", "2026-03-27T20:00:00+01:00", "short-film",
                               "Europe/Berlin", repeat="every 2 weeks", episodes="4"))
    event = await calendar_of(bot, None)
    assert event["RRULE"]["FREQ"] == ["WEEKLY"] and event["RRULE"]["INTERVAL"] == [2]
    assert event["RRULE"]["COUNT"] == [4]
    start = event.decoded("DTSTART")
    assert start == datetime(2026, 3, 27, 20, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    assert start.astimezone(UTC) == datetime(2026, 3, 27, 19, 0, tzinfo=UTC)
    assert "Episode 1 of 4" in str(event["DESCRIPTION"])
    # Expanded in the party's zone, the episodes keep 20:00 after the clocks change.
    second = start + timedelta(weeks=2)
    assert second.astimezone(UTC) == datetime(2026, 4, 10, 18, 0, tzinfo=UTC)
    await bot.do(c.CreateParty("Daily", "2026-03-27T21:00:00+00:00", repeat="daily"),
                 actor=HOST)
    parties = await bot.store.parties_for_chat(HOME, frozenset(PartyState))
    daily = next(p for p in parties if p.title == "Daily")
    event = await calendar_of(bot, daily.code)
    assert event["RRULE"]["FREQ"] == ["DAILY"] and "COUNT" not in event["RRULE"]
    # A cancelled episode's file cancels that evening only, not the episodes after it.
    await bot.do(c.CancelParty(daily.code), actor=HOST)
    event = await calendar_of(bot, daily.code)
    assert str(event["STATUS"]) == "CANCELLED" and "RRULE" not in event
    assert event["DTSTART"].to_ical() == b"20260327T210000Z"
