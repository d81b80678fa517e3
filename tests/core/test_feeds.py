"""The feed port: what a player's report means for the party's clock, and which sources pass."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest
from pydantic import ValidationError

from bot import render
from bot.clock import ManualClock
from bot.errors import UserError
from bot.feeds import FeedAction, FeedDecision, FeedReport, FeedSource, decide, parse_source
from bot.party import Party, PartyState
from tests.fakes import HOME, START
from tests.fakes import test_settings as settings_for

ALLOWED = ("syncplay.pl", "media.example.org:8096", "127.0.0.1")


def party(state: PartyState = PartyState.SCHEDULED, go_at: datetime | None = None,
          paused_at: datetime | None = None, paused_seconds: float = 0.0) -> Party:
    """A party in `state` whose GO was at `go_at`."""
    return Party(id=1, code="K7Q2MX", title="Feed Night", host_platform="test",
                 host_user_id="u-host", host_name="Hana", home=HOME,
                 starts_at=START + timedelta(minutes=5), timezone="UTC", guide_name=None,
                 state=state, created_at=START, go_at=go_at, paused_at=paused_at,
                 paused_seconds=paused_seconds)


def report(clock: ManualClock, position: float, paused: bool = False,
           by: str | None = "ana", age: float = 0.0) -> FeedReport:
    """A report received `age` seconds ago."""
    return FeedReport(position, paused, by, clock.now() - timedelta(seconds=age), "syncplay")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


async def playing_for(clock: ManualClock, seconds: float) -> Party:
    """A party that went GO at START and has played `seconds` on the fake clock."""
    await clock.advance(seconds)
    return party(PartyState.PLAYING, go_at=START)


def verdict(p: Party, r: FeedReport | None, clock: ManualClock, **kw: float) -> FeedDecision:
    return decide(p, r, clock.now(), followed_since=START, **kw)


async def test_a_report_within_the_tolerance_changes_nothing(clock: ManualClock) -> None:
    p = await playing_for(clock, 600)
    assert verdict(p, report(clock, 601.4), clock).action is FeedAction.NOTHING
    assert verdict(p, report(clock, 598.6), clock).action is FeedAction.NOTHING


async def test_a_jump_beyond_the_tolerance_is_a_seek_to_the_reported_position(
        clock: ManualClock) -> None:
    p = await playing_for(clock, 600)
    ahead = verdict(p, report(clock, 645.0, by="bo"), clock)
    assert ahead == FeedDecision(FeedAction.SEEK, 645.0, "bo", "syncplay", True)
    assert verdict(p, report(clock, 300.0), clock).position == 300.0


async def test_the_tolerance_is_a_parameter(clock: ManualClock) -> None:
    p = await playing_for(clock, 600)
    assert verdict(p, report(clock, 601.0), clock, tolerance=0.5).action is FeedAction.SEEK
    assert verdict(p, report(clock, 604.0), clock, tolerance=5.0).action is FeedAction.NOTHING


async def test_a_playing_report_is_carried_forward_to_now(clock: ManualClock) -> None:
    p = await playing_for(clock, 600)
    # said 590 s ten seconds ago, still playing: the player is at 600 now, where the party is
    assert verdict(p, report(clock, 590.0, age=10), clock).action is FeedAction.NOTHING
    # a paused report is not carried forward
    paused = verdict(p, report(clock, 590.0, paused=True, age=10), clock)
    assert (paused.action, paused.position, paused.moved) == (FeedAction.PAUSE, 590.0, True)


async def test_a_pause_in_the_room_pauses_the_party_where_the_room_stopped(
        clock: ManualClock) -> None:
    p = await playing_for(clock, 600)
    decision = verdict(p, report(clock, 600.5, paused=True, by="ana"), clock)
    assert decision == FeedDecision(FeedAction.PAUSE, 600.5, "ana", "syncplay", False)


async def test_play_in_the_room_resumes_a_paused_party(clock: ManualClock) -> None:
    await clock.advance(900)
    # paused at 600 s of film, 300 s ago
    p = party(PartyState.PAUSED, go_at=START, paused_at=START + timedelta(seconds=600))
    assert verdict(p, report(clock, 600.0, paused=True), clock).action is FeedAction.NOTHING
    resumed = verdict(p, report(clock, 600.2, by="cy"), clock)
    assert resumed == FeedDecision(FeedAction.RESUME, 600.2, "cy", "syncplay", False)
    elsewhere = verdict(p, report(clock, 1200.0), clock)
    assert (elsewhere.action, elsewhere.moved) == (FeedAction.RESUME, True)


async def test_a_seek_while_paused_moves_the_paused_clock(clock: ManualClock) -> None:
    await clock.advance(900)
    p = party(PartyState.PAUSED, go_at=START, paused_at=START + timedelta(seconds=600))
    decision = verdict(p, report(clock, 120.0, paused=True), clock)
    assert (decision.action, decision.position) == (FeedAction.SEEK, 120.0)


async def test_paused_time_is_not_film_time(clock: ManualClock) -> None:
    # GO 1000 s ago, 400 s of it paused: the film is at 600
    await clock.advance(1000)
    p = party(PartyState.PLAYING, go_at=START, paused_seconds=400)
    assert verdict(p, report(clock, 600.0), clock).action is FeedAction.NOTHING
    assert verdict(p, report(clock, 1000.0), clock).action is FeedAction.SEEK


async def test_a_scheduled_party_starts_when_the_room_plays_near_the_beginning(
        clock: ManualClock) -> None:
    p = party(PartyState.SCHEDULED)
    assert verdict(p, report(clock, 0.0, paused=True), clock).action is FeedAction.NOTHING
    started = verdict(p, report(clock, 1.2, by="ana"), clock)
    assert started == FeedDecision(FeedAction.START, 1.2, "ana", "syncplay", False)
    counting = party(PartyState.COUNTING_DOWN)
    assert verdict(counting, report(clock, 0.5), clock).action is FeedAction.START
    # a room already deep into the film does not start the party
    assert verdict(p, report(clock, 2400.0), clock).action is FeedAction.NOTHING
    assert verdict(p, report(clock, 20.0), clock, start_within=30).action is FeedAction.START


async def test_thirty_seconds_without_news_is_a_lost_feed(clock: ManualClock) -> None:
    p = await playing_for(clock, 600)
    assert verdict(p, report(clock, 570.0, age=30), clock).action is FeedAction.NOTHING
    assert verdict(p, report(clock, 569.0, age=31), clock).action is FeedAction.LOST
    assert verdict(p, report(clock, 590.0, age=10), clock, lost_after=5).action \
        is FeedAction.LOST


async def test_no_report_yet_is_lost_only_after_thirty_seconds_of_following(
        clock: ManualClock) -> None:
    p = await playing_for(clock, 20)
    assert verdict(p, None, clock).action is FeedAction.NOTHING
    await clock.advance(11)
    assert verdict(p, None, clock).action is FeedAction.LOST


async def test_a_finished_party_ignores_its_feed(clock: ManualClock) -> None:
    await clock.advance(60)
    for state in (PartyState.FINISHED, PartyState.CANCELLED):
        done = party(state, go_at=START)
        assert verdict(done, report(clock, 0.0, paused=True), clock).action \
            is FeedAction.NOTHING
        assert verdict(done, None, clock).action is FeedAction.NOTHING


@pytest.mark.parametrize(("text", "expected"), [
    ("syncplay://syncplay.pl/movie-night", FeedSource("syncplay", "syncplay.pl", 8999,
                                                      "movie-night")),
    ("syncplay://SyncPlay.PL:8997/Film%20Club", FeedSource("syncplay", "syncplay.pl", 8997,
                                                           "Film Club")),
    ("jellyfin://media.example.org:8096/ana", FeedSource("jellyfin", "media.example.org", 8096,
                                                         "ana")),
    ("  jellyfin://127.0.0.1:9000/bo/ ", FeedSource("jellyfin", "127.0.0.1", 9000, "bo")),
])
def test_source_addresses_that_pass(text: str, expected: FeedSource) -> None:
    assert parse_source(text, ALLOWED) == expected


def refusal(text: str, allowed: tuple[str, ...] = ALLOWED) -> tuple[str, str]:
    with pytest.raises(UserError) as caught:
        parse_source(text, allowed)
    return caught.value.key, render.error(caught.value).plain()


@pytest.mark.parametrize("text", ["http://syncplay.pl/room", "syncplay.pl/room", "vlc://x/y",
                                  "", "plex://media.example.org/ana"])
def test_an_unknown_scheme_is_refused_naming_the_accepted_shapes(text: str) -> None:
    key, shown = refusal(text)
    assert key == "feed_scheme_unknown"
    assert "syncplay://HOST[:PORT]/ROOM" in shown and "jellyfin://HOST[:PORT]/USER" in shown


@pytest.mark.parametrize("text", ["syncplay://ana:hunter2@syncplay.pl/room",
                                  "jellyfin://ana@media.example.org:8096/ana",
                                  "syncplay://:hunter2@syncplay.pl/room"])
def test_credentials_in_the_address_are_refused_and_not_repeated(text: str) -> None:
    key, shown = refusal(text)
    assert key == "feed_credentials"
    assert "hunter2" not in shown and "operator" in shown


@pytest.mark.parametrize(("text", "port"), [("syncplay://syncplay.pl:99999/room", "99999"),
                                            ("syncplay://syncplay.pl:abc/room", "abc"),
                                            ("syncplay://syncplay.pl:0/room", "0"),
                                            ("jellyfin://media.example.org:-1/ana", "-1")])
def test_a_bad_port_is_refused(text: str, port: str) -> None:
    key, shown = refusal(text)
    assert key == "feed_port_invalid"
    assert f"“{port}”" in shown and "1 to 65535" in shown


@pytest.mark.parametrize("text", ["syncplay://syncplay.pl", "syncplay://syncplay.pl/",
                                  "jellyfin://media.example.org:8096/a/b",
                                  "syncplay://syncplay.pl/room?password=x",
                                  "syncplay://syncplay.pl/room#x",
                                  "syncplay:///room", "syncplay://syncplay.pl/" + "r" * 101])
def test_an_address_without_a_room_or_user_is_refused_with_its_shape(text: str) -> None:
    key, shown = refusal(text)
    assert key == "feed_url_invalid"
    assert "://HOST[:PORT]/" in shown


@pytest.mark.parametrize("text", ["syncplay://evil.example.com/room",
                                  "syncplay://syncplay.pl.evil.example.com/room",
                                  "jellyfin://media.example.org:8097/ana",
                                  "syncplay://media.example.org/room"])
def test_a_host_the_operator_does_not_allow_is_refused_naming_the_allowed_ones(
        text: str) -> None:
    key, shown = refusal(text)
    assert key == "feed_host_not_allowed"
    assert "syncplay.pl, media.example.org:8096, 127.0.0.1" in shown


async def test_a_refused_address_connects_to_nothing() -> None:
    connections: list[object] = []
    seen = asyncio.Event()

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer.get_extra_info("peername"))
        seen.set()
        writer.close()

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        for text in (f"syncplay://127.0.0.1:{port}/room",
                     f"syncplay://me:pw@127.0.0.1:{port}/room",
                     f"jellyfin://127.0.0.1:{port}/ana"):
            with pytest.raises(UserError):
                parse_source(text, ("syncplay.pl",))
        # the listener is reachable, so a connection attempt would have been seen
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.close()
        await writer.wait_closed()
        async with asyncio.timeout(10):
            await seen.wait()
        assert len(connections) == 1
    finally:
        server.close()
        await server.wait_closed()


def test_settings_read_the_allowed_hosts_and_treat_empty_secrets_as_unset() -> None:
    default = settings_for()
    assert default.allowed_feed_hosts() == ("syncplay.pl",)
    assert default.syncplay_password is None and default.jellyfin_api_key is None
    custom = settings_for(follow_allowed_hosts=" Syncplay.PL, media.example.org:8096 ,",
                           syncplay_password="", jellyfin_api_key="k3y")
    assert custom.allowed_feed_hosts() == ("syncplay.pl", "media.example.org:8096")
    assert custom.syncplay_password is None
    assert custom.jellyfin_api_key is not None
    assert custom.jellyfin_api_key.get_secret_value() == "k3y"
    assert settings_for(follow_allowed_hosts="").allowed_feed_hosts() == ("syncplay.pl",)


@pytest.mark.parametrize("bad", ["syncplay.pl:99999", "user@host", "http://syncplay.pl"])
def test_a_bad_allowed_hosts_setting_says_what_is_accepted(bad: str) -> None:
    with pytest.raises(ValidationError, match="host name or host:port"):
        settings_for(follow_allowed_hosts=bad)
