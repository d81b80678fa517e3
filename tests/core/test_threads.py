"""A thread per party (setting `threads`) on the fake clock: where each message goes, and what
is done in a party's thread counted in its parent chat."""

from __future__ import annotations

import pytest

from bot import commands as c
from bot.chats import ChatRef
from bot.party import PartyState
from bot.records import RecordKind
from tests.fakes import GUEST, HOME, HOST, MOD, OTHER, Bot
from tests.postgres import STORES

pytestmark = pytest.mark.parametrize("bot", STORES, indirect=True)

THIRD = ChatRef("test", "third")
DISCUSSION = ("💬 Chapter", "📊", "is over")


def discussion(bot: Bot, chat: ChatRef) -> list[str]:
    """The prompts, polls and summary posted in a chat, in order."""
    return [s.text for s in bot.gateway.posts(chat) if any(m in s.text for m in DISCUSSION)]


async def linked(bot: Bot) -> str:
    """A party of HOME with OTHER and THIRD linked and approved; return its code."""
    reply = await bot.do(c.CreateParty("Short Film Night", "in 1 hour", "short-film"))
    assert reply is not None
    party = (await bot.store.parties_for_chat(HOME, frozenset(PartyState)))[0]
    for chat in (OTHER, THIRD):
        await bot.do(c.LinkChat(party.code), actor=MOD, chat=chat)
        await bot.do(c.DecideLink(party.code, chat, True), actor=HOST)
    return party.code


async def test_each_linked_chat_decides_its_own_thread(bot: Bot) -> None:
    # The home chat keeps threads off; OTHER wants one and gets it; THIRD wants one but the
    # platform refuses it there.
    await bot.do(c.ChangeSettings(threads="yes"), actor=MOD, chat=OTHER)
    await bot.do(c.ChangeSettings(threads="yes"), actor=MOD, chat=THIRD)
    bot.gateway.refuse_threads[THIRD] = "permission"
    code = await linked(bot)

    [(thread, (parent, name))] = bot.gateway.threads.items()
    assert parent == OTHER and name == f"Short Film Night · {code}"
    [announcement] = bot.gateway.posts(OTHER, "join code")
    assert thread.chat_id.endswith(announcement.message_id)  # started off the announcement
    party = await bot.store.get_party_by_code(code)
    assert party is not None
    assert {link.chat: link.thread for link in party.chats} == {HOME: None, OTHER: thread,
                                                                 THIRD: None}
    assert len(bot.gateway.posts(THIRD, "may not create threads")) == 1

    await bot.do(c.StartParty(code, "now"), actor=HOST)
    await bot.advance(15)
    # An answer and a `now` from the thread: they count as given in OTHER.
    await bot.advance(600)
    [prompt] = [s for s in bot.gateway.posts(thread) if "💬 Chapter 1" in s.text]
    answered = await bot.do(c.RecordAnswer("Phones everywhere", message_id=prompt.message_id),
                            actor=GUEST, chat=thread)
    assert answered is not None and "Phones everywhere" in answered.message.plain()
    now = await bot.do(c.ShowInfo(), actor=GUEST, chat=thread)
    assert now is not None and "chapter" in now.message.plain().lower()
    # A pause from the thread: the news goes to the chats, so the thread gets the reply.
    paused = await bot.do(c.PauseParty(code), actor=HOST, chat=thread)
    assert paused is not None and not paused.posted_here
    assert len(bot.gateway.posts(OTHER, "⏸")) == 1 and not bot.gateway.posts(thread, "⏸")
    await bot.do(c.ResumeParty(code), actor=HOST, chat=OTHER)
    await bot.advance(3600)

    # GO in every chat itself; the discussion in OTHER's thread, and in the other two chats.
    for chat in (HOME, OTHER, THIRD):
        assert len(bot.gateway.posts(chat, "▶ GO")) == 2  # at the start and at the resume
    assert discussion(bot, OTHER) == []
    assert len(discussion(bot, thread)) == len(discussion(bot, HOME)) == len(
        discussion(bot, THIRD)) == 6  # four questions, one poll, the summary
    assert not bot.gateway.posts(thread, "▶ GO") and not bot.gateway.posts(thread, "GO at")
    assert len(bot.gateway.posts(THIRD, "may not create threads")) == 1

    records = [r async for r in bot.store.iter_records(party.id)]
    answers = [r for r in records if r.kind is RecordKind.ANSWER]
    assert [(r.chat_id, r.value, r.prompt) for r in answers] == [
        ("other", "Phones everywhere", "1.1")]
    # Forget-me in the thread's parent chat covers the thread.
    await bot.do(c.ForgetMe(), actor=GUEST, chat=OTHER)
    assert [r async for r in bot.store.iter_records(party.id)
            if r.kind is RecordKind.ANSWER] == []


async def test_a_thread_that_is_gone_sends_its_posts_to_the_chat(bot: Bot) -> None:
    await bot.do(c.ChangeSettings(threads="yes"), actor=MOD)
    reply = await bot.do(c.CreateParty("Short Film Night", "in 1 hour", "short-film"))
    assert reply is not None
    [thread] = bot.gateway.threads
    bot.gateway.gone.add(thread)
    code = (await bot.store.parties_for_chat(HOME, frozenset(PartyState)))[0].code
    await bot.do(c.StartParty(code, "now"), actor=HOST)
    await bot.advance(3600)
    assert len(discussion(bot, HOME)) == 6 and discussion(bot, thread) == []
    party = await bot.store.get_party_by_code(code)
    assert party is not None and party.state is PartyState.FINISHED
    # Each post is remembered where it went, so replies to it there find the party.
    prompt = next(s for s in bot.gateway.posts(HOME) if "💬 Chapter 1" in s.text)
    answered = await bot.do(c.RecordAnswer("Late but here", message_id=prompt.message_id),
                            actor=GUEST)
    assert answered is not None


async def test_threads_off_opens_none(bot: Bot) -> None:
    reply = await bot.do(c.CreateParty("Short Film Night", "in 1 hour", "short-film"))
    assert reply is not None
    code = (await bot.store.parties_for_chat(HOME, frozenset(PartyState)))[0].code
    await bot.do(c.StartParty(code, "now"), actor=HOST)
    await bot.advance(3600)
    assert bot.gateway.threads == {} and len(discussion(bot, HOME)) == 6
