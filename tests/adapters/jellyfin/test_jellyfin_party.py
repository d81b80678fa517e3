"""A party that follows a Jellyfin user's session on the fake Jellyfin: the Syncplay scenarios."""

from __future__ import annotations

import asyncio
from pathlib import Path

from fakejellyfin import FakeJellyfin, Player

from bot import commands as c
from bot.party import PartyState
from tests.adapters.feedparty import FeedBot, error_of, near, open_store, start_bot
from tests.fakes import GUEST


async def following_bot(bots: list[FeedBot], tmp_path: Path, jellyfin: FakeJellyfin,
                        **settings: object) -> FeedBot:
    values: dict[str, object] = {"follow_allowed_hosts": f"127.0.0.1:{jellyfin.port}",
                                 "jellyfin_api_key": jellyfin.api_key}
    values.update(settings)
    bot = await start_bot(await open_store(tmp_path), **values)
    bots.append(bot)
    return bot



async def followed_and_started(bot: FeedBot, jellyfin: FakeJellyfin, ana: Player) -> None:
    bot.gateway.player = ana.position
    await bot.do(c.CreateParty("Feed Night", "in 1 hour", "feed-film"))
    reply = await bot.do(c.FollowParty(f"jellyfin://127.0.0.1:{jellyfin.port}/ana"))
    assert reply.startswith("📡 Feed Night now follows ana's Jellyfin session"), reply
    await jellyfin.wait_requests(1)
    ana.play()
    go = await bot.wait_post("▶ GO")
    assert near(go.player_at, 0.0), go.player_at
    await bot.until(lambda p: p.state is PartyState.PLAYING, "the party to play")


async def test_the_party_follows_the_sessions_play_pause_seek_and_unpause(
        jellyfin: FakeJellyfin, bots: list[FeedBot], tmp_path: Path) -> None:
    bot = await following_bot(bots, tmp_path, jellyfin)
    ana = jellyfin.player("Ana")
    await followed_and_started(bot, jellyfin, ana)
    first = await bot.wait_post("What did the cold open promise?")
    assert near(first.player_at, 4.0), first.player_at

    ana.pause()
    paused = await bot.wait_post("paused at")
    assert "by Ana in Jellyfin" in paused.text, paused.text
    party = await bot.until(lambda p: p.state is PartyState.PAUSED, "the party to pause")

    mark = len(bot.gateway.posted)
    ana.seek(30.0)
    told = await bot.wait_post("clock set to 0:00:30 by Ana in Jellyfin", mark)
    crossed = await bot.wait_post("Who do you trust so far?", mark)
    assert bot.gateway.posted.index(told) < bot.gateway.posted.index(crossed)
    now = await bot.do(c.ShowInfo(party.code), actor=GUEST)
    assert "Paused at 0:00:30" in now, now
    assert f"📡 Following ana's Jellyfin session on 127.0.0.1:{jellyfin.port} — last at 0:00:30" \
        in now, now

    mark = len(bot.gateway.posted)
    ana.play()
    resumed = await bot.wait_post("plays again from 0:00:3", mark)
    assert "(Ana in Jellyfin)" in resumed.text

    mark = len(bot.gateway.posted)
    ana.seek(17.0)
    await bot.wait_post("clock set to 0:00:1", mark)
    await asyncio.sleep(max(0.0, 21.5 - ana.position()))  # the player's film runs in real time
    assert len(bot.texts("Who do you trust so far?")) == 1

    ana.seek(42.0)
    turn = await bot.wait_post("Did you see the turn coming?")
    assert near(turn.player_at, 45.0), turn.player_at
    # the bot only ever read /Sessions, with its key in the header
    assert {path for path, _, _ in jellyfin.requests} == {"/Sessions"}
    assert {how for _, _, how in jellyfin.requests} == {"Authorization"}


async def test_a_restarted_server_means_one_fallback_line_then_following_again(
        jellyfin: FakeJellyfin, bots: list[FeedBot], tmp_path: Path) -> None:
    bot = await following_bot(bots, tmp_path, jellyfin, feed_lost_after_seconds=3)
    ana = jellyfin.player("Ana")
    await followed_and_started(bot, jellyfin, ana)
    await jellyfin.stop()
    lost = await bot.wait_post("no news from Jellyfin for 3 s")
    assert "goes on on its own clock from 0:00:0" in lost.text
    ana.seek(200.0)
    await jellyfin.start()
    back = await bot.wait_post("Jellyfin answers again", within=30)
    moved = await bot.wait_post("clock set to 0:03:2", bot.gateway.posted.index(back))
    assert "by Ana in Jellyfin" in moved.text
    assert len(bot.texts("no news from Jellyfin")) == 1


async def test_no_key_a_refused_host_or_a_finished_party_make_no_request(
        jellyfin: FakeJellyfin, bots: list[FeedBot], tmp_path: Path) -> None:
    jellyfin.player("Ana")
    here = f"jellyfin://127.0.0.1:{jellyfin.port}/Ana"
    bot = await following_bot(bots, tmp_path, jellyfin, jellyfin_api_key=None)
    await bot.do(c.CreateParty("Feed Night", "in 1 hour", "feed-film"))
    assert error_of(await bot.do(c.FollowParty(here))) == (
        "Following Jellyfin needs an API key, and this bot's operator hasn't set "
        "JELLYFIN_API_KEY.")
    other = f"jellyfin://127.0.0.1:{jellyfin.port + 1}/Ana"
    assert "This bot's operator allows: 127.0.0.1:" in error_of(
        await bot.do(c.FollowParty(other)))
    assert "password" in error_of(await bot.do(c.FollowParty(
        here.replace("://", "://ana:secret@"))))
    await bot.do(c.CancelParty())
    assert "is cancelled: there's nothing left to follow" in error_of(
        await bot.do(c.FollowParty(here, (await bot.party()).code)))
    assert (await bot.party()).follow_source is None
    assert jellyfin.requests == []
