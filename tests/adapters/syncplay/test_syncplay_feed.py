"""The Syncplay feed against a real Syncplay server, with a scripted player hosting the room."""

from __future__ import annotations

import asyncio
import itertools
import ssl
from collections.abc import Callable
from pathlib import Path

import pytest
from scripted_host import ScriptedHost
from syncplay_server import PASSWORD, SyncplayServer, skip_module_without_syncplay

from adapters.feeds import open_source
from adapters.retry import Backoff
from adapters.syncplay import SyncplayFeed
from bot.clock import SystemClock
from bot.errors import UserError
from bot.feeds import Feed, FeedRefused, FeedReport
from tests.adapters.follower import Follower
from tests.fakes import test_settings as settings_for

skip_module_without_syncplay()

CLOCK = SystemClock()
FAST = Backoff(first=0.2, most=1.0)
_rooms = itertools.count(1)


def new_room() -> str:
    return f"film-club-{next(_rooms)}"


async def hosting(hosts: list[ScriptedHost], server: SyncplayServer, room: str,
                  password: str | None = None) -> ScriptedHost:
    host = ScriptedHost(server.port, room, password=password)
    hosts.append(host)
    await host.join()
    return host


def feed_for(server: SyncplayServer, room: str, password: str | None = None,
             context: ssl.SSLContext | None = None) -> SyncplayFeed:
    return SyncplayFeed("127.0.0.1", server.port, room, clock=CLOCK, password=password,
                        backoff=FAST, ssl_context=context)


def near(report: FeedReport, host: ScriptedHost) -> bool:
    """The report, carried forward to now, is within the product's 1.5 s of the player."""
    return abs(report.position_at(CLOCK.now()) - host.position()) < 1.5


async def test_the_feed_follows_play_pause_seek_and_unpause_in_the_room(
        syncplay_server: SyncplayServer, hosts: list[ScriptedHost],
        follow: Callable[[Feed], Follower]) -> None:
    room = new_room()
    host = await hosting(hosts, syncplay_server, room)
    feed = feed_for(syncplay_server, room)
    bot = follow(feed)
    first = await bot.until(lambda r: True, "at all")
    assert (first.position, first.paused, first.source) == (0.0, True, "Syncplay")
    assert not feed.encrypted  # this server offers no TLS: the bot went on in plain

    mark = len(bot.reports)
    await host.play()
    playing = await bot.until(lambda r: not r.paused, "of play", mark)
    assert playing.by == "ana" and near(playing, host)

    mark = len(bot.reports)
    await host.pause()
    paused = await bot.until(lambda r: r.paused, "of the pause", mark)
    assert (paused.position, paused.by) == (host.position(), "ana")

    mark = len(bot.reports)
    await host.seek(2490.0)
    sought = await bot.until(lambda r: r.position == 2490.0, "of the seek", mark)
    assert (sought.paused, sought.by) == (True, "ana")

    mark = len(bot.reports)
    await host.play()
    resumed = await bot.until(lambda r: not r.paused, "of unpause", mark)
    assert resumed.position >= 2490.0 and near(resumed, host)

    mark = len(bot.reports)
    await host.seek(600.0)
    back = await bot.until(lambda r: r.position < 1000, "of the seek back", mark)
    assert not back.paused and near(back, host)


async def test_the_bot_never_changes_the_rooms_clock(
        syncplay_server: SyncplayServer, hosts: list[ScriptedHost],
        follow: Callable[[Feed], Follower]) -> None:
    room = new_room()
    host = await hosting(hosts, syncplay_server, room)
    await host.seek(120.0)
    before = len(host.views)
    bot = follow(feed_for(syncplay_server, room))
    await bot.until(lambda r: r.position == 120.0 and r.paused, "of the paused room")
    await bot.until(lambda r: True, "after a few answers", 3)
    await host.wait_until(lambda: len(host.views) >= before + 3, "the host's next States")
    assert host.joined == ["watchparty"]
    seen = host.views[before:]
    assert all(v.paused and v.position == 120.0 and v.set_by == "ana" for v in seen), seen
    assert not any(v.forced or v.do_seek for v in seen), seen

    await host.play()
    playing_from = len(host.views)
    mark = len(bot.reports)
    await bot.until(lambda r: not r.paused, "of play", mark)
    await bot.until(lambda r: True, "after more answers", mark + 3)
    await host.wait_until(lambda: len(host.views) >= playing_from + 3, "the host's next States")
    seen = host.views[playing_from:]
    assert not any(v.paused or v.forced or v.do_seek for v in seen), seen
    assert all(abs(v.position - host.position(v.at)) < 1.5 for v in seen), seen
    assert all(r.by in (None, "ana") for r in bot.reports)


async def test_a_protected_server_takes_the_operators_password(
        protected_server: SyncplayServer, hosts: list[ScriptedHost],
        follow: Callable[[Feed], Follower]) -> None:
    room = new_room()
    host = await hosting(hosts, protected_server, room, password=PASSWORD)
    await host.seek(75.0)
    bot = follow(feed_for(protected_server, room, password=PASSWORD))
    report = await bot.until(lambda r: r.position == 75.0, "with the password")
    assert report.paused and report.by == "ana"


@pytest.mark.parametrize(("password", "said"), [("wrong", "Wrong password supplied"),
                                                (None, "Password required")])
async def test_a_wrong_or_missing_password_is_refused_without_retrying(
        protected_server: SyncplayServer, password: str | None, said: str,
        follow: Callable[[Feed], Follower]) -> None:
    bot = follow(feed_for(protected_server, new_room(), password=password))
    failure = await bot.ended()
    assert isinstance(failure, FeedRefused) and said in str(failure)
    assert bot.reports == []


async def test_a_restarted_server_is_followed_again(
        own_server: SyncplayServer, hosts: list[ScriptedHost],
        follow: Callable[[Feed], Follower]) -> None:
    room = new_room()
    host = await hosting(hosts, own_server, room)
    await host.seek(300.0)
    bot = follow(feed_for(own_server, room))
    await bot.until(lambda r: r.position == 300.0, "before the restart")

    await asyncio.to_thread(own_server.restart)
    restarted = CLOCK.now()
    host = await hosting(hosts, own_server, room)
    await host.seek(900.0)
    mark = len(bot.reports)
    again = await bot.until(lambda r: r.position == 900.0 and r.received_at > restarted,
                            "after the restart", mark)
    assert again.paused and again.by == "ana"
    assert host.joined == ["watchparty"]


async def test_a_refused_address_never_joins_the_room(
        syncplay_server: SyncplayServer, hosts: list[ScriptedHost],
        follow: Callable[[Feed], Follower]) -> None:
    room = new_room()
    host = await hosting(hosts, syncplay_server, room)
    address = f"syncplay://127.0.0.1:{syncplay_server.port}/{room}"
    for text, allowed in ((address, "syncplay.pl"),
                          (address, f"127.0.0.1:{syncplay_server.port + 1}"),
                          (address.replace("://", "://bot:pw@"), "127.0.0.1")):
        with pytest.raises(UserError):
            open_source(text, settings_for(follow_allowed_hosts=allowed), CLOCK)
    feed = open_source(address, settings_for(follow_allowed_hosts="127.0.0.1"), CLOCK)
    assert isinstance(feed, SyncplayFeed)
    bot = follow(feed)
    await bot.until(lambda r: True, "from the allowed address")
    await host.wait_until(lambda: bool(host.joined), "the bot's arrival")
    assert host.joined == ["watchparty"]


async def test_a_server_that_offers_tls_is_followed_over_tls(
        tls_server: tuple[SyncplayServer, Path], hosts: list[ScriptedHost],
        follow: Callable[[Feed], Follower]) -> None:
    server, ca = tls_server
    room = new_room()
    host = await hosting(hosts, server, room)  # a player that does not ask for TLS
    await host.seek(1234.0)
    feed = feed_for(server, room, context=ssl.create_default_context(cafile=str(ca)))
    bot = follow(feed)
    report = await bot.until(lambda r: r.position == 1234.0, "over TLS")
    assert report.paused and report.by == "ana"
    assert feed.encrypted
    mark = len(bot.reports)
    await host.play()
    playing = await bot.until(lambda r: not r.paused, "of play over TLS", mark)
    assert near(playing, host)
