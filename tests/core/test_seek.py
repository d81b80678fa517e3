"""`seek`: the film clock set by the host, prompts re-planned from there, on a fake clock."""

from __future__ import annotations

import pytest

from bot import buttons, render
from bot import commands as c
from bot.arguments import parse_command_text as parse_text
from bot.chats import Actor, ChatRef
from bot.errors import UserError
from bot.party import Party, PartyState
from bot.records import RecordKind
from tests.fakes import GUEST, HOME, HOST, MOD, OTHER, Bot
from tests.people import moderator
from tests.reads import pending_actions

OTHER_MOD = moderator("test", "u-othermod", "Olga")


async def playing(bot: Bot, guide: str = "short-film", linked: bool = False) -> Party:
    """A party that went GO (the countdown started now), with OTHER linked if asked."""
    await bot.do(c.CreateParty("Seek Night", "in 1 hour", guide))
    party = (await bot.store.parties_for_chat(HOME, frozenset(PartyState)))[-1]
    if linked:
        await bot.do(c.LinkChat(party.code), actor=OTHER_MOD, chat=OTHER)
        approve, _ = bot.gateway.posts(HOME, "asks to link")[-1].message.buttons[0]
        await bot.do(buttons.parse(approve.data), actor=MOD)
    await bot.do(c.StartParty(party.code))
    await bot.advance(10)
    return await reload(bot, party)


async def reload(bot: Bot, party: Party) -> Party:
    found = await bot.store.get_party(party.id)
    assert found is not None
    return found


async def film_at(bot: Bot, party: Party) -> str:
    info = await bot.do(c.ShowInfo(party.code))
    assert info is not None
    return info.message.plain()


def prompts(bot: Bot, chat: ChatRef = HOME) -> list[str]:
    """The chapter and question of every prompt posted in a chat, in order."""
    return [s.text.split("\n")[1] for s in bot.gateway.posts(chat, "💬 Chapter")]


async def refused(bot: Bot, command: c.Command, actor: Actor = HOST) -> str:
    with pytest.raises(UserError) as caught:
        await bot.do(command, actor=actor)
    return render.error(caught.value).plain()


def test_text_syntax() -> None:
    assert parse_text("seek 0:41:30") == c.SeekParty("0:41:30")
    assert parse_text("seek chapter 3") == c.SeekParty("chapter 3")
    assert parse_text("seek +30s K7Q2MX") == c.SeekParty("+30s", "K7Q2MX")
    assert parse_text("seek chapter 3 | K7Q2MX") == c.SeekParty("chapter 3", "K7Q2MX")
    assert parse_text("seek position=-2m party=K7Q2MX") == c.SeekParty("-2m", "K7Q2MX")


async def test_a_forward_seek_posts_the_crossed_prompts_once_in_order(bot: Bot) -> None:
    party = await playing(bot, linked=True)
    await bot.advance(300)
    before = len(bot.gateway.posts())
    reply = await bot.do(c.SeekParty("0:25:00"), actor=HOST)
    assert reply is not None and reply.posted_here
    # every linked chat: one line, then chapters 1 and 2 (questions, then the poll), in order
    for chat in (HOME, OTHER):
        new = [s.text for s in bot.gateway.posts(chat)[-5:]]
        assert new[0] == "⏩ Seek Night: clock set to 0:25:00 by Hana. Seek your film there too."
        assert [t.split("\n")[0] for t in new[1:]] == [
            "💬 Chapter 1 of 3 — Opening (ends 0:10:00)",
            "💬 Chapter 2 of 3 — Middle (ends 0:20:00)",
            "💬 Chapter 2 of 3 — Middle (ends 0:20:00)", "📊 Chapter 2 — Middle"]
        assert prompts(bot, chat) == ["Q1. What did you notice first?", "Q1. Who changed most?",
                                      "Q2. What would you have done?"]
    assert len(bot.gateway.posts()) == before + 2 * 5
    assert "Seek to 0:25:00" in await film_at(bot, party)

    # chapter 3 ends at 0:29:00: four minutes on, not 24
    await bot.advance(239)
    assert len(prompts(bot)) == 3
    await bot.advance(1)
    assert prompts(bot)[3:] == ["Q1. Did the ending work for you?"]


async def test_a_backward_seek_posts_nothing_again(bot: Bot) -> None:
    party = await playing(bot)
    await bot.advance(10 * 60)
    assert prompts(bot) == ["Q1. What did you notice first?"]
    await bot.do(c.SeekParty("-2m"), actor=MOD)
    assert "Seek to 0:08:00" in await film_at(bot, party)
    assert bot.gateway.posts(HOME, "clock set to 0:08:00 by Mo")
    # the film passes 0:10:00 again: chapter 1's prompt is not posted twice
    await bot.advance(2 * 60 + 5)
    assert prompts(bot) == ["Q1. What did you notice first?"]
    # and chapter 2 comes at its own end, 12 minutes after the seek
    await bot.advance(9 * 60 + 50)
    assert len(prompts(bot)) == 1
    await bot.advance(5)
    assert prompts(bot)[1:] == ["Q1. Who changed most?", "Q2. What would you have done?"]


async def test_steps_chapters_and_records_after_a_seek(bot: Bot) -> None:
    party = await playing(bot, guide="six-chapters")
    await bot.advance(60)
    await bot.do(c.SeekParty("+30s"))
    assert "Seek to 0:01:30" in await film_at(bot, party)
    await bot.do(c.SeekParty("-5m"))  # past the start: 0:00:00
    assert "Seek to 0:00:00" in await film_at(bot, party)
    await bot.do(c.SeekParty("chapter 3"))
    assert "Seek to 0:10:00 — chapter 3 of 6" in await film_at(bot, party)
    assert prompts(bot) == ["Q1. First?", "Q1. Second?"]
    # a record made now carries the corrected film position
    await bot.advance(15)
    prompt = bot.gateway.posts(HOME, "Second?")[0]
    await bot.do(c.RecordAnswer("Yes.", message_id=prompt.message_id), actor=GUEST)
    answers = [r async for r in bot.store.iter_records(party.id) if r.kind is RecordKind.ANSWER]
    assert [a.position for a in answers] == [615.0]


async def test_a_seek_while_paused_moves_the_paused_clock(bot: Bot) -> None:
    party = await playing(bot)
    await bot.advance(60)
    await bot.do(c.PauseParty(party.code))
    await bot.advance(120)
    await bot.do(c.SeekParty("0:09:00"))
    party = await reload(bot, party)
    assert party.state is PartyState.PAUSED
    assert "Paused at 0:09:00" in await film_at(bot, party)
    await bot.advance(600)
    assert prompts(bot) == []
    await bot.do(c.ResumeParty(party.code))
    await bot.advance(5)  # the resume countdown
    await bot.advance(59)
    assert prompts(bot) == []
    await bot.advance(1)
    assert prompts(bot) == ["Q1. What did you notice first?"]


@pytest.mark.parametrize(("position", "says"), [
    ("9:99:99", "“9:99:99” isn't a film position. Use 0:41:30, 41:30, +30s, -2m, +1m30s, "
                "chapter 3"),
    ("chapter 12", "There's no chapter 12: this guide has 6 chapters (1 to 6)."),
    ("+2 days", "past the end of the film (0:30:00)"),
    ("+30x", "isn't a film position"),
    ("1:00:00", "“1:00:00” would be 1:00:00, past the end of the film (0:30:00)."),
    ("soon", "isn't a film position"),
])
async def test_bad_positions_change_nothing(bot: Bot, position: str, says: str) -> None:
    party = await playing(bot, guide="six-chapters")
    await bot.advance(30)
    before = (await reload(bot, party), len(bot.gateway.sent),
              [(a.kind, a.due_at) for a in await pending_actions(bot.store, party.id)])
    assert says in await refused(bot, c.SeekParty(position, party.code))
    after = (await reload(bot, party), len(bot.gateway.sent),
             [(a.kind, a.due_at) for a in await pending_actions(bot.store, party.id)])
    assert after == before


async def test_only_the_host_or_a_moderator_seeks_and_only_a_running_film(bot: Bot) -> None:
    await bot.do(c.CreateParty("Later Night", "in 1 hour", "short-film"))
    [later] = await bot.store.parties_for_chat(HOME, frozenset(PartyState))
    assert "is scheduled: seek works while the film is playing or paused" in await refused(
        bot, c.SeekParty("0:10:00", later.code))
    party = await playing(bot)
    sent = len(bot.gateway.sent)
    assert "Only the host (Hana) or a moderator" in await refused(
        bot, c.SeekParty("0:10:00", party.code), actor=GUEST)
    assert len(bot.gateway.sent) == sent
    assert (await reload(bot, party)).seek_seconds == 0.0
    await bot.do(c.CancelParty(party.code))
    assert "is cancelled" in await refused(bot, c.SeekParty("0:10:00", party.code))


async def test_a_seek_to_the_end_finishes_at_the_runtime(bot: Bot) -> None:
    party = await playing(bot)
    await bot.do(c.SeekParty("0:29:30"))
    assert len(prompts(bot)) == 4  # all three chapters at once
    await bot.advance(30)
    await bot.advance(1)
    assert bot.gateway.posts(HOME, "is over")
    assert (await reload(bot, party)).state is PartyState.FINISHED
