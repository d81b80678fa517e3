"""Series on a fake clock: each episode its own party, the same local time across DST."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot import app, buttons, render
from bot import commands as c
from bot.arguments import parse_command_text as parse_text
from bot.chats import ChatRef
from bot.errors import UserError
from bot.outbox import UNLIMITED
from bot.party import Party, PartyState, Series
from bot.ports import SentKind, Store
from bot.series import episode_start, parse_repeat
from storage.sqlite import SqliteStore
from tests.fakes import HOME, HOST, MOD, OTHER, START, Bot, RecordingGateway, SettlingClock
from tests.fakes import test_settings as settings_for_tests
from tests.people import moderator

OTHER_MOD = moderator("test", "u-series-othermod", "Olga")
BERLIN = "Europe/Berlin"


def utc(month: int, day: int, hh: int, mm: int = 0, ss: int = 0) -> datetime:
    return datetime(2026, month, day, hh, mm, ss, tzinfo=UTC)


async def until(bot: Bot, when: datetime) -> None:
    await bot.advance((when - bot.clock.now()).total_seconds())


async def episodes(store: Store, chat: ChatRef = HOME) -> list[Party]:
    """Every party of a chat, in the order they were created."""
    found = await store.parties_for_chat(chat, frozenset(PartyState))
    return sorted(found, key=lambda p: p.id)


async def refused(bot: Bot, command: c.Command) -> str:
    with pytest.raises(UserError) as caught:
        await bot.do(command)
    return render.error(caught.value).plain()


async def weekly_series(bot: Bot, count: str | None = "3") -> Party:
    """Fri 27 Mar 2026, 20:00 Berlin (CET, 19:00 UTC), weekly; OTHER linked."""
    reply = await bot.do(c.CreateParty("Anime Night", "20:00", "short-film", BERLIN,
                                       repeat="weekly", episodes=count))
    assert reply is not None
    [party] = await episodes(bot.store)
    await bot.do(c.LinkChat(party.code), actor=OTHER_MOD, chat=OTHER)
    approve, _ = bot.gateway.posts(HOME, "asks to link")[-1].message.buttons[0]
    await bot.do(buttons.parse(approve.data), actor=MOD)
    return party


def test_text_syntax_and_repeats() -> None:
    assert parse_text("create Anime tomorrow 8pm repeat=weekly episodes=10") == c.CreateParty(
        "Anime", "tomorrow 8pm", repeat="weekly", episodes="10")
    assert parse_text("create Anime | friday 20:00 | tv-episode | | every 2 weeks | 6") == \
        c.CreateParty("Anime", "friday 20:00", "tv-episode", None, "every 2 weeks", "6")
    assert parse_text("create Anime friday 20:00 repeat=every 3 days") == c.CreateParty(
        "Anime", "friday 20:00", repeat="every 3 days")
    assert parse_text("cancel K7Q2MX all=yes") == c.CancelParty("K7Q2MX", True)
    assert parse_text("cancel all=yes") == c.CancelParty(None, True)
    assert [parse_repeat(t) for t in ("daily", "weekly", "every 3 days", "every 2 weeks",
                                      "Every 1 Week", "every-2-weeks")] == [1, 7, 3, 14, 7, 14]


def test_an_episode_keeps_its_local_time_across_dst() -> None:
    series = Series(1, 1, 7, "2026-03-27T20:00:00")
    assert episode_start(series, BERLIN, 1) == utc(3, 27, 19)
    assert episode_start(series, BERLIN, 2) == utc(4, 3, 18)  # CEST from 29 March
    assert episode_start(series, BERLIN, 32) == utc(10, 30, 19)  # CET again from 25 October
    # 02:30 does not exist on 29 March in Berlin: that episode is at 03:30 CEST.
    assert episode_start(Series(1, 1, 1, "2026-03-28T02:30:00"), BERLIN, 2) == utc(3, 29, 1, 30)


async def test_bad_series_input_is_explained(bot: Bot) -> None:
    assert "“fortnight-ish” isn't a repeat. Use daily, weekly, every N days, every N weeks" in \
        await refused(bot, c.CreateParty("A", "20:00", repeat="fortnight-ish"))
    assert "“1” isn't a number of episodes. Give a whole number from 2 to 500" in \
        await refused(bot, c.CreateParty("A", "20:00", repeat="weekly", episodes="1"))
    assert "episodes needs repeat too" in await refused(bot, c.CreateParty("A", "20:00",
                                                                           episodes="4"))
    assert await episodes(bot.store) == []


async def test_weekly_series_across_dst_cancel_one_then_the_last(bot: Bot) -> None:
    first = await weekly_series(bot)
    assert first.series == Series(first.id, 1, 7, "2026-03-27T20:00:00", 3)
    assert first.starts_at == utc(3, 27, 19)
    [announcement] = bot.gateway.posts(HOME, "Anime Night\nStarts")
    assert "📺 Episode 1 of 3 · weekly · next episode Fri 03 Apr 2026, 18:00 UTC" in \
        announcement.text
    listing = await bot.do(c.ListParties(), chat=OTHER)
    assert listing is not None and "next episode Fri 03 Apr 2026, 18:00 UTC" in \
        listing.message.plain()

    await until(bot, utc(3, 27, 19, 31))  # GO at 19:00, the 30-minute guide, the summary
    one, two = await episodes(bot.store)
    assert one.state is PartyState.FINISHED and two.state is PartyState.SCHEDULED
    assert two.code != one.code and two.starts_at == utc(4, 3, 18)  # 20:00 CEST
    assert two.series == Series(first.id, 2, 7, "2026-03-27T20:00:00", 3)
    assert two.guide_name == "short-film" and two.timezone == BERLIN
    assert two.approved_chats() == one.approved_chats()
    assert await bot.runtime.core.guide_of(two) is not None
    for chat in (HOME, OTHER):
        sent = [s for s in await bot.store.sent_messages(two.id, SentKind.ANNOUNCEMENT)
                if s.chat == chat]
        assert len(sent) == 1
    [posted] = bot.gateway.posts(OTHER, "Episode 2 of 3")
    assert "Fri 03 Apr 2026, 18:00 UTC" in posted.text and two.code in posted.text

    # Cancelling one episode keeps the series: the next is created at once.
    await bot.do(c.CancelParty(two.code), actor=HOST)
    assert bot.gateway.posts(HOME, "The series goes on: the next episode of Anime Night is "
                                   "Fri 10 Apr 2026, 18:00 UTC")
    one, two, three = await episodes(bot.store)
    assert two.state is PartyState.CANCELLED and three.starts_at == utc(4, 10, 18)
    assert bot.gateway.posts(HOME, "📺 Episode 3 of 3 · weekly · the last one")
    await bot.do(c.CancelParty(three.code), actor=HOST)
    await until(bot, utc(4, 20, 0))
    assert len(await episodes(bot.store)) == 3


async def test_cancel_all_ends_the_series(bot: Bot) -> None:
    first = await weekly_series(bot, count=None)
    [announcement] = bot.gateway.posts(HOME, "Anime Night\nStarts")
    assert "📺 Episode 1 · weekly · next episode" in announcement.text
    await bot.do(c.CancelParty(first.code, all=True), actor=HOST)
    assert bot.gateway.posts(OTHER, "The series of Anime Night is over: no more episodes")
    assert bot.gateway.posts(HOME, "The series goes on") == []
    await until(bot, utc(4, 20, 0))
    [only] = await episodes(bot.store)
    assert only.state is PartyState.CANCELLED


class Process:
    """One run of the bot on a database file, its clock starting at `start`."""

    def __init__(self, path: Path, start: datetime) -> None:
        self.path = path
        self.start = start

    async def __aenter__(self) -> Bot:
        store = await SqliteStore.open(self.path, batch_delay=0)
        clock = SettlingClock(self.start, store)
        gateway = RecordingGateway("test", clock)
        runtime = await app.build(settings_for_tests(), store, clock,
                                  {"test": (gateway, UNLIMITED)})
        await runtime.start()
        self.bot = Bot(runtime, clock, gateway, store)
        return self.bot

    async def __aexit__(self, *exc: object) -> None:
        await self.bot.runtime.stop()
        await self.bot.store.close()


async def test_a_restart_between_episodes(tmp_path: Path) -> None:
    database = tmp_path / "series.db"
    async with Process(database, START) as bot:
        first = await weekly_series(bot)
        await until(bot, utc(3, 27, 19, 29))
        assert len(await episodes(bot.store)) == 1
    # Down from 19:29 to 19:32: the summary fell due at 19:30:01 (within the grace period).
    async with Process(database, utc(3, 27, 19, 32)) as bot:
        await bot.advance(0)
        one, two = await episodes(bot.store)
        assert one.state is PartyState.FINISHED and two.starts_at == utc(4, 3, 18)
        assert bot.gateway.posts(OTHER, "Episode 2 of 3")
    # Down again between the episodes; episode 2 runs in the next run, and 3 follows it.
    async with Process(database, utc(3, 28, 9)) as bot:
        await until(bot, utc(4, 3, 18, 0))
        assert [p.at for p in bot.gateway.posts(OTHER, "▶ GO")] == [utc(4, 3, 18)]
        await until(bot, utc(4, 3, 18, 31))
        one, two, three = await episodes(bot.store)
        assert two.state is PartyState.FINISHED and three.starts_at == utc(4, 10, 18)
        assert three.series is not None and three.series.series_id == first.id
        assert len(bot.gateway.posts(HOME, "Episode 3 of 3")) == 1
        assert bot.gateway.posts(HOME, "Episode 2 of 3") == []  # announced by the run before
