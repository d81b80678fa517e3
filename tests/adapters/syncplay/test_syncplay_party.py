"""A party that follows a real Syncplay room, driven by a scripted host player.

The bot runs whole (core, scheduler, outbox, SQLite) on the system clock; what it posts is
checked against where the room's player was at that moment.
"""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

from scripted_host import ScriptedHost
from syncplay_server import SyncplayServer, skip_module_without_syncplay

from bot import commands as c
from bot.party import PartyState
from tests.adapters.feedparty import TOLERANCE, FeedBot, error_of, near, open_store, start_bot
from tests.fakes import GUEST
from tests.people import moderator

skip_module_without_syncplay()

MOD = moderator("test", "u-feedmod", "Mo")
_rooms = itertools.count(1)


async def following_bot(bots: list[FeedBot], tmp_path: Path, server: SyncplayServer,
                        **settings: object) -> FeedBot:
    store = bots[-1].store if bots else await open_store(tmp_path)
    bot = await start_bot(store, follow_allowed_hosts=f"127.0.0.1:{server.port}", **settings)
    bots.append(bot)
    return bot


async def room_with_host(hosts: list[ScriptedHost], server: SyncplayServer,
                         room: str | None = None) -> ScriptedHost:
    host = ScriptedHost(server.port, room or f"feed-room-{next(_rooms)}")
    hosts.append(host)
    await host.join()
    return host


def address(server: SyncplayServer, host: ScriptedHost) -> str:
    return f"syncplay://127.0.0.1:{server.port}/{host.room}"


async def followed_and_started(bot: FeedBot, server: SyncplayServer,
                               host: ScriptedHost) -> None:
    """A scheduled party follows the room; the host presses play at 0:00: GO."""
    bot.gateway.player = host.position
    await bot.do(c.CreateParty("Feed Night", "in 1 hour", "feed-film"))
    reply = await bot.do(c.FollowParty(address(server, host)))
    assert reply.startswith("📡 Feed Night now follows the Syncplay room “feed-room-"), reply
    await host.wait_until(lambda: "watchparty" in host.joined, "the bot join the room")
    await host.play()
    go = await bot.wait_post("▶ GO")
    assert go.player_at is not None and go.player_at < TOLERANCE
    await bot.until(lambda p: p.state is PartyState.PLAYING, "the party to play")



async def test_the_party_follows_the_rooms_play_pause_seek_and_unpause(
        syncplay_server: SyncplayServer, hosts: list[ScriptedHost], bots: list[FeedBot],
        tmp_path: Path) -> None:
    bot = await following_bot(bots, tmp_path, syncplay_server)
    host = await room_with_host(hosts, syncplay_server)
    await followed_and_started(bot, syncplay_server, host)

    # the first prompt at the room's 0:00:04
    first = await bot.wait_post("What did the cold open promise?")
    assert near(first.player_at, 4.0), first.player_at

    await host.pause()
    paused = await bot.wait_post("paused at")
    assert "by ana in Syncplay" in paused.text, paused.text
    party = await bot.until(lambda p: p.state is PartyState.PAUSED, "the party to pause")

    # a seek while paused: the chats are told, the crossed chapter's prompt comes once
    mark = len(bot.gateway.posted)
    await host.seek(30.0)
    told = await bot.wait_post("clock set to 0:00:30 by ana in Syncplay", mark)
    crossed = await bot.wait_post("Who do you trust so far?", mark)
    assert bot.gateway.posted.index(told) < bot.gateway.posted.index(crossed)
    now = await bot.do(c.ShowInfo(party.code), actor=GUEST)
    assert "Paused at 0:00:30" in now and "Following the Syncplay room" in now, now
    assert f"on 127.0.0.1:{syncplay_server.port} — last at 0:00:30" in now

    mark = len(bot.gateway.posted)
    await host.play()
    resumed = await bot.wait_post("plays again from 0:00:3", mark)
    assert "(ana in Syncplay)" in resumed.text

    # a backward seek posts nothing again: the film passes 0:00:20 a second time
    mark = len(bot.gateway.posted)
    await host.seek(17.0)
    await bot.wait_post("clock set to 0:00:17 by ana in Syncplay", mark)
    await asyncio.sleep(max(0.0, 21.5 - host.position()))  # the room's film plays in real time
    assert len(bot.texts("Who do you trust so far?")) == 1

    # a small jump forward: the next prompt at the room's 0:00:45
    await host.seek(42.0)
    turn = await bot.wait_post("Did you see the turn coming?")
    assert near(turn.player_at, 45.0), turn.player_at

    # a forward seek past a chapter's end posts its prompt once, after the notice
    mark = len(bot.gateway.posted)
    await host.seek(310.0)
    told = await bot.wait_post("clock set to 0:05:10", mark)
    late = await bot.wait_post("Where does it go from here?", mark)
    assert bot.gateway.posted.index(told) < bot.gateway.posted.index(late)
    await host.wait_until(lambda: len(host.views) > 3, "more States")
    assert [len(bot.texts(q)) for q in ("cold open", "trust so far", "the turn", "from here")] \
        == [1, 1, 1, 1]

    # the bot never changed the room: every State the host saw was set by the host
    assert {v.set_by for v in host.views} <= {"ana", None}
    assert host.joined == ["watchparty"]


async def test_a_restarted_server_means_one_fallback_line_then_following_again(
        own_server: SyncplayServer, hosts: list[ScriptedHost], bots: list[FeedBot],
        tmp_path: Path) -> None:
    bot = await following_bot(bots, tmp_path, own_server, feed_lost_after_seconds=3)
    host = await room_with_host(hosts, own_server)
    await followed_and_started(bot, own_server, host)
    room = host.room

    await asyncio.to_thread(own_server.stop)
    lost = await bot.wait_post("no news from Syncplay for 3 s")
    assert "goes on on its own clock from 0:00:0" in lost.text
    party = await bot.party()
    assert party.state is PartyState.PLAYING  # on its own clock meanwhile

    await asyncio.to_thread(own_server.start)
    host = await room_with_host(hosts, own_server, room)
    bot.gateway.player = host.position
    await host.seek(200.0)
    await host.play()
    back = await bot.wait_post("Syncplay answers again", within=30)
    assert "following it" in back.text
    # the room is at 0:03:20 and playing by the time the bot is back: the clock is set there
    moved = await bot.wait_post("clock set to 0:03:2", bot.gateway.posted.index(back))
    assert "by ana in Syncplay" in moved.text, moved.text
    await bot.until(lambda p: p.state is PartyState.PLAYING, "the party to play again")
    now = await bot.do(c.ShowInfo(party.code))
    assert "Seek to 0:03:2" in now, now
    assert len(bot.texts("no news from Syncplay")) == 1
    assert len(bot.texts("answers again")) == 1


async def test_a_followed_party_is_followed_again_after_a_bot_restart(
        syncplay_server: SyncplayServer, hosts: list[ScriptedHost], bots: list[FeedBot],
        tmp_path: Path) -> None:
    bot = await following_bot(bots, tmp_path, syncplay_server)
    host = await room_with_host(hosts, syncplay_server)
    await followed_and_started(bot, syncplay_server, host)
    await bot.stop()  # the store stays open: the fixture closes it with the new bot's

    again = await following_bot(bots, tmp_path, syncplay_server)
    await host.wait_until(lambda: host.joined == ["watchparty", "watchparty"],
                          "the restarted bot join the room again")
    await host.pause()
    paused = await again.wait_post("paused at")
    assert "by ana in Syncplay" in paused.text
    await again.until(lambda p: p.state is PartyState.PAUSED, "the party to pause")


async def test_refused_sources_members_and_finished_parties_connect_nowhere(
        syncplay_server: SyncplayServer, hosts: list[ScriptedHost], bots: list[FeedBot],
        tmp_path: Path) -> None:
    host = await room_with_host(hosts, syncplay_server)
    store = await open_store(tmp_path)
    bot = await start_bot(store)  # FOLLOW_ALLOWED_HOSTS at its default: syncplay.pl
    bots.append(bot)
    await bot.do(c.CreateParty("Feed Night", "in 1 hour", "feed-film"))
    here = address(syncplay_server, host)
    refusals = {
        here: f"I may not connect to 127.0.0.1:{syncplay_server.port}. This bot's operator "
              "allows: syncplay.pl.",
        here.replace("://", "://ana:hunter2@"): "Don't put a user name or password in the "
                                                "address",
        "syncplay://syncplay.pl/": "isn't a source address. Write syncplay://HOST[:PORT]/ROOM",
        "http://syncplay.pl/room": "isn't a player I can follow",
    }
    for text, says in refusals.items():
        refused = error_of(await bot.do(c.FollowParty(text)))
        assert says in refused and "hunter2" not in refused, refused
    member = error_of(await bot.do(c.FollowParty("syncplay://syncplay.pl/room"), actor=GUEST))
    assert member == "Only the host (Hana) or a moderator of a linked chat may follow here."
    assert "doesn't follow a player" in error_of(await bot.do(c.UnfollowParty(), actor=MOD))
    await bot.do(c.CancelParty())
    party = await bot.party()
    done = error_of(await bot.do(c.FollowParty("syncplay://syncplay.pl/room", party.code)))
    assert done == "“Feed Night” is cancelled: there's nothing left to follow."
    assert (await bot.party()).follow_source is None
    assert bot.texts("📡") == []
    await host.wait_until(lambda: len(host.views) >= 3, "a few States")
    assert host.joined == []  # the bot never joined the room


async def test_unfollow_leaves_the_room_and_keeps_the_clock(
        syncplay_server: SyncplayServer, hosts: list[ScriptedHost], bots: list[FeedBot],
        tmp_path: Path) -> None:
    bot = await following_bot(bots, tmp_path, syncplay_server)
    host = await room_with_host(hosts, syncplay_server)
    await followed_and_started(bot, syncplay_server, host)
    reply = await bot.do(c.UnfollowParty(), actor=MOD)
    assert "no longer follows a player (unfollowed by Mo): back on the bot's own clock" in reply
    assert (await bot.party()).follow_source is None
    mark = len(bot.gateway.posted)
    await host.pause()
    await host.wait_until(lambda: len(host.views) >= 3, "a few States")
    await asyncio.sleep(1.5)  # a report would have come by now: the room sends one a second
    assert not any("paused at" in p.text for p in bot.gateway.posted[mark:])
    assert (await bot.party()).state is PartyState.PLAYING


async def test_a_server_that_refuses_the_bot_is_told_once_and_not_followed(
        protected_server: SyncplayServer, bots: list[FeedBot], tmp_path: Path) -> None:
    bot = await following_bot(bots, tmp_path, protected_server)  # no SYNCPLAY_PASSWORD set
    await bot.do(c.CreateParty("Feed Night", "in 1 hour", "feed-film"))
    await bot.do(c.FollowParty(f"syncplay://127.0.0.1:{protected_server.port}/locked"))
    refused = await bot.wait_post("refused the bot")
    assert refused.text == ("📡 Feed Night: Syncplay refused the bot (Password required), so "
                            "the party is on its own clock. The bot's operator sets the "
                            "password or API key.")
    await bot.until(lambda p: p.follow_source is None, "the party to stop following")
    assert len(bot.texts("refused the bot")) == 1
