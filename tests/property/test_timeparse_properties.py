"""Times, zones, durations, reminders, positions and yes/no from arbitrary text: a value in range
or a clear refusal, never a crash."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import example, given
from hypothesis import strategies as st

from bot import timeparse
from bot.errors import UserError
from tests.property.checks import PROPERTY, assert_renders

NOW = datetime(2026, 3, 27, 12, 0, tzinfo=UTC)
WORDS = st.sampled_from(["in", "at", "tomorrow", "friday", "next", "8pm", "20:00", "45m", "2h",
                         "noon", "midnight", "dec", "32", "2026-12-01T20:00", "+01:00", "utc",
                         "ago", "days", "weeks", "years", "-", "9999", "0", "1e9", "am", "pm"])
TIMELIKE = st.text(max_size=40) | st.lists(WORDS | st.text(max_size=5), max_size=6).map(" ".join)
ZONES = st.sampled_from(["UTC", "Europe/Berlin", "America/New_York", "Asia/Kathmandu",
                         "Pacific/Kiritimati", "europe/berlin"]) | st.text(max_size=20)


@PROPERTY
@given(TIMELIKE, ZONES, st.integers(-10**9, 10**9))
@example("in 99999999 years", "UTC", 0)
@example("9999-12-31T23:59:59", "Pacific/Kiritimati", 0)
@example("0001-01-01T00:00:00", "America/New_York", 0)
def test_a_time_is_ahead_within_a_year_or_refused(text: str, zone: str, shift: int) -> None:
    now = NOW + timedelta(seconds=shift)
    try:
        instant = timeparse.parse_when(text, zone, now)
    except UserError as err:
        assert_renders(err, text + zone)
        return
    assert instant.tzinfo is UTC and instant.microsecond == 0
    assert now.replace(microsecond=0) <= instant <= now + timedelta(days=366)


@PROPERTY
@given(st.text(max_size=30) | st.lists(WORDS | st.text(max_size=4), max_size=6).map(",".join))
@example("999999d")
@example("0s, 1m")
def test_reminders_are_a_short_sorted_list_or_refused(text: str) -> None:
    try:
        reminders = timeparse.parse_reminders(text)
    except UserError as err:
        assert_renders(err, text)
        return
    assert len(reminders) <= timeparse.MAX_REMINDERS
    assert list(reminders) == sorted(set(reminders), reverse=True)
    assert all(timedelta(0) < r <= timeparse.MAX_REMINDER for r in reminders)


@PROPERTY
@given(st.text(max_size=20) | st.from_regex(r"\A\d{1,5}(:\d{1,3}){0,3}\Z"))
@example("")  # position_invalid had no text: "That didn't work (position_invalid)."
def test_a_position_reads_back_or_is_refused(text: str) -> None:
    try:
        seconds = timeparse.parse_position(text)
    except UserError as err:
        assert_renders(err, text)
        return
    assert seconds >= 0
    assert timeparse.parse_position(timeparse.format_position(seconds)) == seconds


@PROPERTY
@given(st.text(max_size=20))
def test_durations_zones_and_booleans_are_read_or_refused(text: str) -> None:
    for read in (timeparse.parse_duration, timeparse.validate_zone, timeparse.parse_bool):
        try:
            read(text)
        except UserError as err:
            assert_renders(err, text)
