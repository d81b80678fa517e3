"""`edit` on a fake clock: title, time and guide change; RSVPs, links and the code stay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot import buttons
from bot import commands as c
from bot.actions import ActionKind
from bot.arguments import parse_command_text as parse_text
from bot.chats import Actor, ChatRef, ChatSettings
from bot.party import PartyState
from bot.ports import SentKind
from tests.fakes import GUEST, HOME, HOST, MOD, OTHER, Bot, refused
from tests.people import moderator
from tests.reads import pending_actions

OTHER_MOD = moderator("test", "u-edit-othermod", "Olga")
FAN = Actor("test", "u-fan", "Fay")


def at(day: int, hh: int, mm: int, ss: int = 0) -> datetime:
    """An instant in March 2026, UTC (the clock starts on Friday 27 at 12:00)."""
    return datetime(2026, 3, day, hh, mm, ss, tzinfo=UTC)


async def linked_party(bot: Bot) -> str:
    """A party at 20:00 UTC in HOME, OTHER linked (its zone Europe/Berlin), two RSVPs."""
    await bot.store.save_chat_settings(ChatSettings(OTHER, timezone="Europe/Berlin"))
    await bot.do(c.CreateParty("Film Club", "2026-03-27T20:00:00+00:00", "short-film"))
    party = (await bot.store.parties_for_chat(HOME, frozenset(PartyState)))[-1]
    await bot.do(c.LinkChat(party.code), actor=OTHER_MOD, chat=OTHER)
    approve, _ = bot.gateway.posts(HOME, "asks to link")[-1].message.buttons[0]
    await bot.do(buttons.parse(approve.data), actor=MOD)
    await bot.do(c.SetRsvp(party.code, "going"), actor=GUEST)
    await bot.do(c.SetRsvp(party.code, "maybe"), actor=FAN, chat=OTHER)
    return party.code


async def latest_announcement(bot: Bot, chat: ChatRef, code: str) -> str:
    """The announcement of a party in a chat as it reads now (its last edit)."""
    await bot.advance(1)  # a second edit of one message waits for a quiet second
    party = await bot.store.get_party_by_code(code)
    assert party is not None
    [sent] = [s for s in await bot.store.sent_messages(party.id, SentKind.ANNOUNCEMENT)
              if s.chat == chat]
    versions = [s for s in bot.gateway.sent if s.chat == chat and s.message_id == sent.message_id]
    assert not versions[0].edit and all(v.edit for v in versions[1:])
    return versions[-1].text


def test_text_syntax() -> None:
    assert parse_text("edit K7Q2MX when=saturday 20:00") == c.EditParty(
        "K7Q2MX", when="saturday 20:00")
    assert parse_text("edit title=Movie night when=sat 8pm") == c.EditParty(
        None, title="Movie night", when="sat 8pm")
    assert parse_text("edit K7Q2MX | New title | | three-act-film") == c.EditParty(
        "K7Q2MX", "New title", None, "three-act-film")
    assert parse_text("edit | | tomorrow 21:00") == c.EditParty(None, None, "tomorrow 21:00")


async def test_moving_the_time_keeps_rsvps_edits_announcements_and_replans(bot: Bot) -> None:
    code = await linked_party(bot)
    before = await bot.store.get_party_by_code(code)
    assert before is not None
    reply = await bot.do(c.EditParty(code, when="2026-03-28T19:30:00+00:00"), actor=HOST)
    assert reply is not None and "moved to Sat 28 Mar 2026, 19:30 UTC" in reply.message.plain()

    party = await bot.store.get_party_by_code(code)
    assert party is not None and party.id == before.id and party.code == code
    assert party.starts_at == at(28, 19, 30) and party.sequence == 1
    assert party.approved_chats() == before.approved_chats()
    tally = await bot.runtime.core.tally(party)
    assert (tally.going, tally.maybe) == (1, 1)
    # Each linked chat gets one line, in its own zone, and its announcement edited in place.
    [home_line] = bot.gateway.posts(HOME, "✏️")
    [other_line] = bot.gateway.posts(OTHER, "✏️")
    assert "moved to Sat 28 Mar 2026, 19:30 UTC" in home_line.text
    assert "was Fri 27 Mar 2026, 20:00 UTC" in home_line.text
    assert "moved to Sat 28 Mar 2026, 20:30 CET" in other_line.text
    assert "Sat 28 Mar 2026, 19:30 UTC" in await latest_announcement(bot, HOME, code)
    assert "Sat 28 Mar 2026, 20:30 CET" in await latest_announcement(bot, OTHER, code)
    assert "Going 1 · 🤔 Maybe 1" in await latest_announcement(bot, OTHER, code)
    assert home_line.message.mentions == ()  # no chat enabled pings

    due = {(a.kind, a.due_at) for a in await pending_actions(bot.store, party.id)}
    assert due == {(ActionKind.REMINDER, at(28, 19, 15)), (ActionKind.REMINDER, at(28, 19, 29)),
                   (ActionKind.READY_CHECK, at(28, 19, 28)),
                   (ActionKind.COUNTDOWN, at(28, 19, 29, 50)), (ActionKind.GO, at(28, 19, 30))}
    # Nothing happens at the old time; everything at the new one.
    await bot.advance((at(27, 20, 5) - bot.clock.now()).total_seconds())
    assert bot.gateway.posts(containing="🔔") == [] and bot.gateway.posts(containing="▶ GO") == []
    await bot.advance((at(28, 19, 30) - bot.clock.now()).total_seconds())
    assert [p.at for p in bot.gateway.posts(HOME, "🔔")] == [at(28, 19, 15), at(28, 19, 29)]
    assert [p.at for p in bot.gateway.posts(containing="▶ GO")] == [at(28, 19, 30)] * 2


async def test_reminders_that_fired_are_not_repeated(bot: Bot) -> None:
    code = await linked_party(bot)
    await bot.advance((at(27, 19, 46) - bot.clock.now()).total_seconds())
    assert [p.at for p in bot.gateway.posts(HOME, "🔔")] == [at(27, 19, 45)]
    await bot.do(c.EditParty(code, when="2026-03-27T21:00:00+00:00"), actor=MOD)
    party = await bot.store.get_party_by_code(code)
    assert party is not None
    kinds = [(a.kind, a.due_at) for a in await pending_actions(bot.store, party.id)]
    assert (ActionKind.REMINDER, at(27, 20, 45)) not in kinds
    assert (ActionKind.REMINDER, at(27, 20, 59)) in kinds
    await bot.advance((at(27, 21, 0) - bot.clock.now()).total_seconds())
    assert [p.at for p in bot.gateway.posts(HOME, "🔔")] == [at(27, 19, 45), at(27, 20, 59)]


async def test_title_and_guide(bot: Bot) -> None:
    code = await linked_party(bot)
    await bot.do(c.EditParty(code, title="Film Club: Director's Cut", guide="three-act-film"),
                 actor=HOST)
    party = await bot.store.get_party_by_code(code)
    assert party is not None and party.title == "Film Club: Director's Cut"
    assert party.guide_name == "three-act-film" and party.starts_at == at(27, 20, 0)
    guide = await bot.runtime.core.guide_of(party)
    assert guide is not None and guide.name == "three-act-film"
    [line] = bot.gateway.posts(OTHER, "✏️")
    assert "renamed from Film Club" in line.text and "guide now three-act-film" in line.text
    assert "(was short-film)" in line.text
    assert "Film Club: Director's Cut" in await latest_announcement(bot, OTHER, code)
    assert guide.title in await latest_announcement(bot, HOME, code)
    # Changing nothing is said so.
    assert "Say what to change" in await refused(bot, c.EditParty(code, title=party.title))
    await bot.do(c.EditParty(code, guide="none"), actor=HOST)
    party = await bot.store.get_party_by_code(code)
    assert party is not None and party.guide_name is None and party.sequence == 2
    assert "No discussion guide." in await latest_announcement(bot, HOME, code)


async def test_going_people_are_pinged_only_where_the_chat_enabled_it(bot: Bot) -> None:
    code = await linked_party(bot)
    await bot.do(c.SetRsvp(code, "going"), actor=FAN, chat=OTHER)
    await bot.store.save_chat_settings(ChatSettings(OTHER, timezone="Europe/Berlin",
                                                    ping_reminders=True))
    await bot.do(c.EditParty(code, title="Renamed"), actor=HOST)
    assert bot.gateway.posts(OTHER, "✏️")[-1].message.mentions == ()  # no time change
    await bot.do(c.EditParty(code, when="2026-03-27T21:00:00+00:00"), actor=HOST)
    assert bot.gateway.posts(HOME, "✏️")[-1].message.mentions == ()
    # Only the people going who said so in OTHER: Gus answered in HOME, which pings nobody.
    assert bot.gateway.posts(OTHER, "✏️")[-1].message.mentions == ("u-fan",)


async def test_each_chat_pings_its_own_going_people_in_reminders(bot: Bot) -> None:
    code = await linked_party(bot)  # Gus going in HOME
    await bot.do(c.SetRsvp(code, "going"), actor=FAN, chat=OTHER)
    await bot.store.save_chat_settings(ChatSettings(OTHER, timezone="Europe/Berlin",
                                                    ping_reminders=True))
    await bot.advance((at(27, 19, 45) - bot.clock.now()).total_seconds())  # 15 minutes before
    assert bot.gateway.posts(OTHER, "🔔")[-1].message.mentions == ("u-fan",)
    assert bot.gateway.posts(HOME, "🔔")[-1].message.mentions == ()
    await bot.store.save_chat_settings(ChatSettings(HOME, ping_reminders=True))
    await bot.advance((at(27, 19, 59) - bot.clock.now()).total_seconds())  # 1 minute before
    assert bot.gateway.posts(HOME, "🔔")[-1].message.mentions == ("u-guest",)
    assert bot.gateway.posts(OTHER, "🔔")[-1].message.mentions == ("u-fan",)


async def test_refusals_change_nothing(bot: Bot) -> None:
    code = await linked_party(bot)
    before = await bot.store.get_party_by_code(code)
    assert before is not None
    actions = await pending_actions(bot.store, before.id)
    sent = len(bot.gateway.sent)
    assert "Only the host (Hana) or a moderator of a linked chat may edit" in await refused(
        bot, c.EditParty(code, title="Mine now"), GUEST)
    assert "in the past" in await refused(bot, c.EditParty(code, when="2026-03-27T11:00Z"))
    assert "There is no guide “no-such-guide”" in await refused(
        bot, c.EditParty(code, guide="no-such-guide"))
    assert "Say what to change" in await refused(bot, c.EditParty(code))
    assert "A title needs 1 to 100" in await refused(bot, c.EditParty(code, title="x" * 101))
    assert "couldn't read “whenever”" in await refused(bot, c.EditParty(code, when="whenever"))
    assert await bot.store.get_party_by_code(code) == before
    assert await pending_actions(bot.store, before.id) == actions
    assert len(bot.gateway.sent) == sent

    await bot.do(c.StartParty(code, "now"), actor=HOST)
    assert "can be edited only before its countdown" in await refused(
        bot, c.EditParty(code, title="Too late"))
    await bot.advance(11)
    said = await refused(bot, c.EditParty(code, when="2026-03-28T20:00Z"))
    assert "“Film Club” is playing: a party can be edited only before its countdown" in said
    party = await bot.store.get_party_by_code(code)
    assert party is not None and party.title == "Film Club" and party.sequence == 0


async def test_an_edited_series_episode_moves_the_later_ones(bot: Bot) -> None:
    await bot.do(c.CreateParty("Anime", "2026-03-27T20:00:00+00:00", repeat="weekly",
                               episodes="3"))
    party = (await bot.store.parties_for_chat(HOME, frozenset(PartyState)))[-1]
    await bot.do(c.EditParty(party.code, when="2026-03-27T21:00:00+00:00"), actor=HOST)
    info = await bot.do(c.ShowInfo(party.code))
    assert info is not None
    assert "next episode Fri 03 Apr 2026, 21:00 UTC" in info.message.plain()
    assert timedelta(0) < at(27, 21, 0) - bot.clock.now()
    sent = await bot.store.sent_messages(party.id, SentKind.NOTICE)
    assert len(sent) == 1
