"""The Jellyfin feed against a fake Jellyfin: a user's playing session drives the reports."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fakejellyfin import FakeJellyfin, Player, idle_session

from adapters.feeds import open_source
from adapters.jellyfin import JellyfinFeed
from adapters.retry import Backoff
from bot.clock import SystemClock
from bot.errors import UserError
from bot.feeds import Feed, FeedRefused, FeedReport
from tests.adapters.follower import Follower
from tests.fakes import test_settings as settings_for

CLOCK = SystemClock()


def feed_for(server: FakeJellyfin, user: str, api_key: str | None = None) -> JellyfinFeed:
    return JellyfinFeed(f"http://127.0.0.1:{server.port}", user, clock=CLOCK,
                        api_key=api_key or server.api_key, interval=0.2,
                        backoff=Backoff(first=0.2, most=1.0))


def near(report: FeedReport, player: Player) -> bool:
    """The report, carried forward to now, is within the product's 1.5 s of the player."""
    return abs(report.position_at(CLOCK.now()) - player.position()) < 1.5


def aged(report: FeedReport, player: Player, seconds: float) -> bool:
    """The report came at least `seconds` after the player's last progress report."""
    return (report.received_at - player.checked_in).total_seconds() >= seconds


async def test_the_feed_follows_the_users_playing_session(
        jellyfin: FakeJellyfin, follow: Callable[[Feed], Follower]) -> None:
    other = jellyfin.player("Bo")
    other.seek(4000.0)
    other.play()
    jellyfin.idle.append(idle_session("Ana"))
    ana = jellyfin.player("Ana")
    bot = follow(feed_for(jellyfin, "ana"))
    first = await bot.until(lambda r: True, "at all")
    assert (first.position, first.paused, first.by, first.source) == (0.0, True, "Ana",
                                                                       "Jellyfin")
    mark = len(bot.reports)
    ana.play()
    # Jellyfin keeps the position the player last reported: two seconds on, a feed that did
    # not age it would be two seconds behind
    playing = await bot.until(lambda r: not r.paused and aged(r, ana, 2.0), "of play", mark)
    assert near(playing, ana)

    mark = len(bot.reports)
    ana.pause()
    paused = await bot.until(lambda r: r.paused, "of the pause", mark)
    assert paused.position == pytest.approx(ana.position(), abs=1e-6)

    mark = len(bot.reports)
    ana.seek(2490.0)
    sought = await bot.until(lambda r: r.position == 2490.0, "of the seek", mark)
    assert sought.paused

    mark = len(bot.reports)
    ana.play()
    resumed = await bot.until(lambda r: not r.paused, "of unpause", mark)
    assert resumed.position >= 2490.0 and near(resumed, ana)
    assert all(r.by == "Ana" for r in bot.reports)
    assert {how for _, _, how in jellyfin.requests} == {"Authorization"}
    assert all("Sessions" in path and jellyfin.api_key not in path
               for path, _, _ in jellyfin.requests)


async def test_no_playing_session_means_no_reports_until_the_user_plays(
        jellyfin: FakeJellyfin, follow: Callable[[Feed], Follower]) -> None:
    jellyfin.idle.append(idle_session("Ana"))
    jellyfin.player("Bo").play()
    bot = follow(feed_for(jellyfin, "Ana"))
    await jellyfin.wait_requests(3)
    assert bot.reports == []
    jellyfin.player("Ana").seek(42.0)
    report = await bot.until(lambda r: True, "once Ana plays")
    assert (report.position, report.by) == (42.0, "Ana")


async def test_a_wrong_api_key_is_refused_without_retrying(
        jellyfin: FakeJellyfin, follow: Callable[[Feed], Follower]) -> None:
    jellyfin.player("Ana")
    bot = follow(feed_for(jellyfin, "Ana", api_key="not-the-key"))
    failure = await bot.ended()
    assert isinstance(failure, FeedRefused) and "HTTP 401" in str(failure)
    assert [status for _, status, _ in jellyfin.requests] == [401]
    assert bot.reports == []


async def test_errors_and_a_restarted_server_are_retried(
        jellyfin: FakeJellyfin, follow: Callable[[Feed], Follower]) -> None:
    ana = jellyfin.player("Ana")
    ana.seek(300.0)
    bot = follow(feed_for(jellyfin, "Ana"))
    await bot.until(lambda r: r.position == 300.0, "before the restart")

    await jellyfin.stop()
    stopped = len(bot.reports)
    ana.seek(900.0)
    jellyfin.fail_next = 2
    restarted = len(jellyfin.requests)
    await jellyfin.start()
    again = await bot.until(lambda r: r.position == 900.0, "after the restart", stopped)
    assert again.paused
    assert [status for _, status, _ in jellyfin.requests[restarted:restarted + 3]] == [
        500, 500, 200]


async def test_a_refused_address_makes_no_request(
        jellyfin: FakeJellyfin, follow: Callable[[Feed], Follower]) -> None:
    jellyfin.player("Ana").seek(12.0)
    address = f"jellyfin://127.0.0.1:{jellyfin.port}/Ana"
    refusals = [
        (address, settings_for(follow_allowed_hosts="syncplay.pl",
                               jellyfin_api_key=jellyfin.api_key), "feed_host_not_allowed"),
        (address.replace("://", "://ana:pw@"),
         settings_for(follow_allowed_hosts="127.0.0.1", jellyfin_api_key=jellyfin.api_key),
         "feed_credentials"),
        (address, settings_for(follow_allowed_hosts="127.0.0.1"), "feed_jellyfin_key_missing"),
    ]
    for text, settings, key in refusals:
        with pytest.raises(UserError) as caught:
            open_source(text, settings, CLOCK)
        assert caught.value.key == key
    assert jellyfin.requests == []
    feed = open_source(address, settings_for(follow_allowed_hosts=f"127.0.0.1:{jellyfin.port}",
                                             jellyfin_api_key=jellyfin.api_key), CLOCK)
    report = await follow(feed).until(lambda r: True, "from the allowed address")
    assert (report.position, report.by) == (12.0, "Ana")
    assert jellyfin.requests
