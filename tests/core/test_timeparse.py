"""parse_when and the other small readers of user input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.errors import UserError
from bot.timeparse import (
    format_position,
    parse_bool,
    parse_duration,
    parse_position,
    parse_reminders,
    parse_when,
    validate_zone,
)

ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe"]


def wall(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> datetime:
    """A naive wall-clock time."""
    return datetime(y, mo, d, h, mi, s)  # noqa: DTZ001


def local(zone: str, *parts: int) -> datetime:
    """The UTC instant of a wall-clock time in `zone` (first occurrence if repeated)."""
    return wall(*parts).replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)


def utc(*parts: int) -> datetime:
    return wall(*parts).replace(tzinfo=UTC)


def refused(key: str, text: str, zone: str, now: datetime) -> UserError:
    with pytest.raises(UserError) as caught:
        parse_when(text, zone, now)
    assert caught.value.key == key, caught.value
    return caught.value


# 2026-05-15 is a Friday; no DST change is near in any of the zones.
FRIDAY_NOON = (2026, 5, 15, 12, 0, 37)


@pytest.mark.parametrize("zone", ZONES)
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("in 45m", (2026, 5, 15, 12, 45, 37)),
        ("in 45 minutes", (2026, 5, 15, 12, 45, 37)),
        ("in 2 hours", (2026, 5, 15, 14, 0, 37)),
        ("in an hour", (2026, 5, 15, 13, 0, 37)),
        ("in 1h30m", (2026, 5, 15, 13, 30, 37)),
        ("20:00", (2026, 5, 15, 20, 0, 0)),
        ("8pm", (2026, 5, 15, 20, 0, 0)),
        ("8:30 pm", (2026, 5, 15, 20, 30, 0)),
        ("tomorrow 8pm", (2026, 5, 16, 20, 0, 0)),
        ("Tomorrow at 20:00", (2026, 5, 16, 20, 0, 0)),
        ("friday 20:30", (2026, 5, 15, 20, 30, 0)),
        ("Friday 20:30", (2026, 5, 15, 20, 30, 0)),
        ("fri 8pm", (2026, 5, 15, 20, 0, 0)),
        ("saturday 20:30", (2026, 5, 16, 20, 30, 0)),
        ("wednesday 19:00", (2026, 5, 20, 19, 0, 0)),
        ("next friday 8pm", (2026, 5, 22, 20, 0, 0)),
        ("tonight 9pm", (2026, 5, 15, 21, 0, 0)),
        ("Dec 24 19:00", (2026, 12, 24, 19, 0, 0)),
        ("24 December 7pm", (2026, 12, 24, 19, 0, 0)),
        ("in 2 days", (2026, 5, 17, 12, 0, 37)),
        ("2026-12-01T20:00:00", (2026, 12, 1, 20, 0, 0)),
        ("2026-12-01 20:00", (2026, 12, 1, 20, 0, 0)),
    ],
)
def test_accepted_forms_in_every_zone(zone: str, text: str, expected: tuple[int, ...]) -> None:
    now = local(zone, *FRIDAY_NOON)
    result = parse_when(text, zone, now)
    assert result == local(zone, *expected)
    assert result.utcoffset() == timedelta(0)
    assert result.microsecond == 0


@pytest.mark.parametrize("zone", ZONES)
def test_iso_with_offset_ignores_the_party_zone(zone: str) -> None:
    now = local(zone, *FRIDAY_NOON)
    assert parse_when("2026-12-01T20:00:00+01:00", zone, now) == utc(2026, 12, 1, 19)
    assert parse_when("2026-12-01T20:00:00Z", zone, now) == utc(2026, 12, 1, 20)
    assert parse_when("2026-12-01T20:00:00-05:00", zone, now) == utc(2026, 12, 2, 1)


def test_iso_fractions_are_dropped() -> None:
    now = utc(2026, 5, 15, 12)
    assert parse_when("2026-12-01T20:00:00.750+00:00", "UTC", now) == utc(2026, 12, 1, 20)


def test_iso_without_offset_is_in_the_party_zone() -> None:
    now = utc(2026, 5, 15, 12)
    assert parse_when("2026-12-01T20:00:00", "America/New_York", now) == utc(2026, 12, 2, 1)
    assert parse_when("2026-07-01T20:00:00", "Asia/Kolkata", now) == utc(2026, 7, 1, 14, 30)


def test_explicit_zone_in_text_wins() -> None:
    # 21:00 in Berlin is 19:00 UTC: 8pm UTC is still ahead today.
    now = local("Europe/Berlin", 2026, 5, 15, 21, 0)
    assert parse_when("8pm UTC", "Europe/Berlin", now) == utc(2026, 5, 15, 20)
    assert parse_when("tomorrow 8pm +0200", "UTC", now) == utc(2026, 5, 16, 18)


def test_zone_name_is_case_insensitive() -> None:
    now = utc(2026, 5, 15, 10)
    assert parse_when("20:00", "europe/berlin", now) == utc(2026, 5, 15, 18)
    assert parse_when("20:00", "utc", now) == utc(2026, 5, 15, 20)


def test_result_has_whole_seconds_even_if_now_has_fractions() -> None:
    now = utc(2026, 5, 15, 12, 0, 0).replace(microsecond=999_999)
    assert parse_when("in 45m", "UTC", now) == utc(2026, 5, 15, 12, 45, 0)


def test_naive_now_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        parse_when("20:00", "UTC", datetime(2026, 5, 15, 12))  # noqa: DTZ001


# ---------------------------------------------------------------- today / tomorrow rules


def test_weekday_that_is_today_with_time_ahead_means_today() -> None:
    now = local("Europe/Berlin", 2026, 5, 15, 12, 0)
    assert parse_when("friday 20:30", "Europe/Berlin", now) == local(
        "Europe/Berlin", 2026, 5, 15, 20, 30
    )


def test_weekday_that_is_today_with_time_passed_means_next_week() -> None:
    now = local("Europe/Berlin", 2026, 5, 15, 21, 0)
    assert parse_when("friday 20:30", "Europe/Berlin", now) == local(
        "Europe/Berlin", 2026, 5, 22, 20, 30
    )


def test_next_weekday_on_that_day_means_next_week() -> None:
    now = local("Europe/Berlin", 2026, 5, 15, 12, 0)
    assert parse_when("next friday 20:30", "Europe/Berlin", now) == local(
        "Europe/Berlin", 2026, 5, 22, 20, 30
    )


@pytest.mark.parametrize("text", ["20:00", "8pm", "at 20:00", "20:00:00"])
def test_bare_time_already_passed_means_tomorrow(text: str) -> None:
    now = local("America/New_York", 2026, 5, 15, 21, 0)
    assert parse_when(text, "America/New_York", now) == local(
        "America/New_York", 2026, 5, 16, 20, 0
    )


def test_date_already_passed_this_year_means_next_year() -> None:
    now = local("UTC", 2026, 12, 25, 12, 0)
    assert parse_when("Dec 24 19:00", "UTC", now) == utc(2027, 12, 24, 19)


# ---------------------------------------------------------------- DST


def test_relative_offset_across_spring_forward_counts_real_time() -> None:
    # Berlin 2026-03-29: 02:00 CET jumps to 03:00 CEST.
    now = local("Europe/Berlin", 2026, 3, 29, 1, 30)  # 00:30 UTC
    assert parse_when("in 2 hours", "Europe/Berlin", now) == utc(2026, 3, 29, 2, 30)
    assert parse_when("in 45m", "Europe/Berlin", now) == utc(2026, 3, 29, 1, 15)


def test_relative_offset_across_fall_back_counts_real_time() -> None:
    # Berlin 2026-10-25: 03:00 CEST falls back to 02:00 CET.
    now = utc(2026, 10, 25, 0, 30)  # 02:30 CEST, the first 02:30
    assert parse_when("in 1 hour", "Europe/Berlin", now) == utc(2026, 10, 25, 1, 30)
    now_ny = local("America/New_York", 2026, 11, 1, 0, 30)  # EDT
    assert parse_when("in 2 hours", "America/New_York", now_ny) == now_ny + timedelta(hours=2)


def test_named_time_after_spring_forward_gets_summer_offset() -> None:
    now = local("Europe/Berlin", 2026, 3, 28, 12, 0)  # CET, +01:00
    assert parse_when("tomorrow 20:00", "Europe/Berlin", now) == utc(2026, 3, 29, 18)
    assert parse_when("sunday 20:00", "Europe/Berlin", now) == utc(2026, 3, 29, 18)


def test_named_time_after_fall_back_gets_winter_offset() -> None:
    now = local("Europe/Berlin", 2026, 10, 24, 12, 0)  # CEST, +02:00
    assert parse_when("tomorrow 20:00", "Europe/Berlin", now) == utc(2026, 10, 25, 19)
    now_ny = local("America/New_York", 2026, 10, 31, 12, 0)  # EDT, -04:00
    assert parse_when("tomorrow 8pm", "America/New_York", now_ny) == utc(2026, 11, 2, 1)


def test_calendar_relative_keeps_the_wall_clock_across_a_change() -> None:
    now = local("Europe/Berlin", 2026, 3, 28, 12, 0)
    assert parse_when("in 1 day", "Europe/Berlin", now) == local(
        "Europe/Berlin", 2026, 3, 29, 12, 0
    )
    assert parse_when("in 24 hours", "Europe/Berlin", now) == now + timedelta(hours=24)


@pytest.mark.parametrize(
    ("zone", "now_local", "text", "missing"),
    [
        ("Europe/Berlin", (2026, 3, 29, 1, 0), "02:30", (2026, 3, 29, 2, 30)),
        ("Europe/Berlin", (2026, 3, 28, 12, 0), "2026-03-29T02:30:00", (2026, 3, 29, 2, 30)),
        ("America/New_York", (2026, 3, 7, 12, 0), "tomorrow 2:30am", (2026, 3, 8, 2, 30)),
        ("Australia/Lord_Howe", (2026, 10, 3, 12, 0), "tomorrow 2:15am", (2026, 10, 4, 2, 15)),
    ],
)
def test_nonexistent_local_time_is_refused(
    zone: str, now_local: tuple[int, ...], text: str, missing: tuple[int, ...]
) -> None:
    error = refused("time_nonexistent", text, zone, local(zone, *now_local))
    assert error.params == {
        "text": text,
        "zone": zone,
        "local": wall(*missing),
    }


@pytest.mark.parametrize(
    ("zone", "now_local", "text", "expected"),
    [
        # Berlin: 02:30 happens at 00:30 UTC (CEST) and again at 01:30 UTC (CET).
        ("Europe/Berlin", (2026, 10, 24, 20, 0), "tomorrow 02:30", (2026, 10, 25, 0, 30)),
        ("Europe/Berlin", (2026, 10, 24, 20, 0), "2026-10-25T02:30:00", (2026, 10, 25, 0, 30)),
        # New York: 01:30 happens at 05:30 UTC (EDT) and again at 06:30 UTC (EST).
        ("America/New_York", (2026, 10, 31, 20, 0), "tomorrow 1:30am", (2026, 11, 1, 5, 30)),
        # Lord Howe: 01:45 happens at 14:45 UTC (+11:00) and again at 15:15 UTC (+10:30).
        ("Australia/Lord_Howe", (2026, 4, 4, 12, 0), "tomorrow 1:45am", (2026, 4, 4, 14, 45)),
    ],
)
def test_ambiguous_local_time_takes_the_first_occurrence(
    zone: str, now_local: tuple[int, ...], text: str, expected: tuple[int, ...]
) -> None:
    assert parse_when(text, zone, local(zone, *now_local)) == utc(*expected)


# ---------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    "text", ["yesterday 8pm", "2 hours ago", "tonight 8pm", "2026-05-15T20:00:00", "today 8pm"]
)
def test_time_in_the_past_says_what_was_understood(text: str) -> None:
    now = local("Europe/Berlin", 2026, 5, 15, 21, 0)
    error = refused("time_past", text, "Europe/Berlin", now)
    assert error.params["text"] == text
    assert error.params["zone"] == "Europe/Berlin"
    understood = error.params["understood"]
    assert understood.utcoffset() == timedelta(0)
    assert understood < now


def test_past_iso_with_offset() -> None:
    error = refused("time_past", "2020-01-01T00:00:00Z", "UTC", utc(2026, 5, 15))
    assert error.params["understood"] == utc(2020, 1, 1)


def test_now_itself_is_not_the_past() -> None:
    now = utc(2026, 5, 15, 12, 0, 0)
    assert parse_when("now", "UTC", now) == now


@pytest.mark.parametrize("text", ["in 366 days", "2027-06-01T20:00:00Z", "in 3 years"])
def test_more_than_a_year_ahead_is_too_far(text: str) -> None:
    now = utc(2026, 5, 15, 12)
    error = refused("time_too_far", text, "UTC", now)
    assert error.params["text"] == text
    assert error.params["zone"] == "UTC"
    assert error.params["understood"] - now > timedelta(days=365)


def test_exactly_365_days_ahead_is_allowed() -> None:
    now = utc(2026, 5, 15, 12)
    assert parse_when("in 365 days", "UTC", now) == now + timedelta(days=365)


@pytest.mark.parametrize(
    "text",
    [
        "asdf",
        "",
        "   ",
        "25:99",
        "32 Dec",
        "Dec 32",
        "a",
        "8",
        "at 8",
        "20:00 Europe/Berlin",
        "1700000000",
        "monday 8",
        "2026-13-45T20:00:00",
        "x" * 200,
    ],
)
def test_garbage_is_unreadable(text: str) -> None:
    error = refused("time_unreadable", text, "UTC", utc(2026, 5, 15, 12))
    assert error.params == {"text": text}


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "", "Berlin", "../../etc/passwd"])
def test_unknown_zone(zone: str) -> None:
    error = refused("timezone_unknown", "20:00", zone, utc(2026, 5, 15, 12))
    assert error.params == {"zone": zone}


# ---------------------------------------------------------------- zones


@pytest.mark.parametrize(
    ("name", "canonical"),
    [
        ("UTC", "UTC"),
        ("utc", "UTC"),
        ("Europe/Berlin", "Europe/Berlin"),
        ("europe/berlin", "Europe/Berlin"),
        (" AMERICA/NEW_YORK ", "America/New_York"),
        ("asia/kolkata", "Asia/Kolkata"),
        ("australia/lord_howe", "Australia/Lord_Howe"),
    ],
)
def test_validate_zone_returns_canonical_name(name: str, canonical: str) -> None:
    assert validate_zone(name) == canonical


@pytest.mark.parametrize("name", ["", "Nowhere/City", "CEST+1", "/etc/localtime"])
def test_validate_zone_refuses_unknown(name: str) -> None:
    with pytest.raises(UserError) as caught:
        validate_zone(name)
    assert caught.value.key == "timezone_unknown"
    assert caught.value.params == {"zone": name}


# ---------------------------------------------------------------- durations and reminders


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("15m", 900),
        ("1m", 60),
        ("2h", 7200),
        ("90s", 90),
        ("1h30m", 5400),
        ("1h 30m", 5400),
        ("2 hours", 7200),
        ("10 min", 600),
        ("1d", 86400),
        ("7d", 7 * 86400),
        ("15M", 900),
    ],
)
def test_parse_duration(text: str, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("abc", "unreadable"),
        ("15", "unreadable"),
        ("m", "unreadable"),
        ("15x", "unreadable"),
        ("1h1h", "unreadable"),
        ("-5m", "unreadable"),
        ("", "unreadable"),
        ("0m", "zero"),
        ("8d", "too_long"),
        ("7d1s", "too_long"),
    ],
)
def test_parse_duration_refuses(text: str, reason: str) -> None:
    with pytest.raises(UserError) as caught:
        parse_duration(text)
    assert caught.value.key == "reminders_invalid"
    assert caught.value.params == {"text": text, "part": text, "reason": reason}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("15m,1m", (900, 60)),
        ("1m,15m", (900, 60)),
        ("15m, 1m", (900, 60)),
        ("15m,15m,900s", (900,)),
        ("1h,15m,1m,", (3600, 900, 60)),
        ("1d,1h,30m,15m,1m", (86400, 3600, 1800, 900, 60)),
        ("none", ()),
        ("off", ()),
        (" OFF ", ()),
    ],
)
def test_parse_reminders(text: str, expected: tuple[int, ...]) -> None:
    assert parse_reminders(text) == tuple(timedelta(seconds=s) for s in expected)


@pytest.mark.parametrize(
    ("text", "part", "reason"),
    [
        ("15m,abc", "abc", "unreadable"),
        ("15m,8d", "8d", "too_long"),
        ("15m,0s", "0s", "zero"),
        ("1m,2m,3m,4m,5m,6m", "6m", "too_many"),
        ("", "", "unreadable"),
        (",", ",", "unreadable"),
    ],
)
def test_parse_reminders_refuses(text: str, part: str, reason: str) -> None:
    with pytest.raises(UserError) as caught:
        parse_reminders(text)
    assert caught.value.key == "reminders_invalid"
    assert caught.value.params == {"text": text, "part": part, "reason": reason}


# ---------------------------------------------------------------- film positions


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("1:34:00", 5640), ("14:30", 870), ("0:00:05", 5), ("94:00", 5640), (" 0:41:07 ", 2467)],
)
def test_parse_position(text: str, seconds: int) -> None:
    assert parse_position(text) == seconds


@pytest.mark.parametrize("text", ["1:60:00", "14:60", "abc", "1:2:3", "", "-1:00", "1h34", "90"])
def test_parse_position_refuses(text: str) -> None:
    with pytest.raises(UserError) as caught:
        parse_position(text)
    assert caught.value.key == "position_invalid"
    assert caught.value.params == {"text": text}


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (2467, "0:41:07"),
        (2467.99, "0:41:07"),
        (0, "0:00:00"),
        (5, "0:00:05"),
        (5640, "1:34:00"),
        (36000, "10:00:00"),
        (-3.5, "0:00:00"),
    ],
)
def test_format_position(seconds: float, text: str) -> None:
    assert format_position(seconds) == text


def test_position_round_trip() -> None:
    for seconds in (0, 59, 60, 3599, 3600, 5640, 86399):
        assert parse_position(format_position(seconds)) == seconds


# ---------------------------------------------------------------- booleans


@pytest.mark.parametrize("text", ["yes", "YES", "y", "true", "True", "on", "1", " yes "])
def test_parse_bool_true(text: str) -> None:
    assert parse_bool(text) is True


@pytest.mark.parametrize("text", ["no", "NO", "n", "false", "off", "0"])
def test_parse_bool_false(text: str) -> None:
    assert parse_bool(text) is False


@pytest.mark.parametrize("text", ["", "maybe", "2", "yess"])
def test_parse_bool_refuses(text: str) -> None:
    with pytest.raises(UserError) as caught:
        parse_bool(text)
    assert caught.value.key == "bool_invalid"
    assert caught.value.params == {"text": text}
