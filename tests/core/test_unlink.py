"""Unlinking: a linked chat's moderators (or the host) take it out of a party; never the home."""

from __future__ import annotations

import pytest

from bot import buttons, render
from bot import commands as c
from bot.arguments import parse_command_text as parse_text
from bot.chats import Actor, ChatRef
from bot.errors import UserError
from bot.party import LinkStatus, PartyState
from tests.fakes import GUEST, HOME, HOST, MOD, OTHER, Bot
from tests.people import moderator

OTHER_MOD = moderator("test", "u-othermod", "Olga")
ELSEWHERE = ChatRef("test", "elsewhere")


async def refused(bot: Bot, command: c.Command, actor: Actor, chat: ChatRef = HOME) -> str:
    with pytest.raises(UserError) as caught:
        await bot.do(command, actor=actor, chat=chat)
    return render.error(caught.value).plain()


async def linked_party(bot: Bot) -> str:
    """A party in HOME with OTHER linked and approved; its code."""
    await bot.do(c.CreateParty("Unlink Night", "in 1 hour", "short-film"))
    party = (await bot.store.parties_for_chat(HOME, frozenset(PartyState)))[-1]
    await bot.do(c.LinkChat(party.code), actor=OTHER_MOD, chat=OTHER)
    approve, _ = bot.gateway.posts(HOME, "asks to link")[-1].message.buttons[0]
    await bot.do(buttons.parse(approve.data), actor=MOD)
    return party.code


async def status_of(bot: Bot, code: str, chat: ChatRef) -> LinkStatus:
    party = await bot.store.get_party_by_code(code)
    assert party is not None
    return next(pc.status for pc in party.chats if pc.chat == chat)


def test_text_syntax() -> None:
    assert parse_text("unlink K7Q2MX") == c.UnlinkChat("K7Q2MX")
    assert parse_text("unlink") == c.UnlinkChat(None)


async def test_a_linked_chats_moderator_unlinks_it(bot: Bot) -> None:
    code = await linked_party(bot)
    # A guest of the linked chat, a moderator elsewhere, and the home chat's moderator
    # (for another chat) may not.
    assert "moderator of the linked chat" in await refused(bot, c.UnlinkChat(code), GUEST,
                                                           OTHER)
    assert "moderator of the linked chat" in await refused(bot, c.UnlinkChat(code, OTHER),
                                                           MOD, HOME)
    assert "isn't linked" in await refused(bot, c.UnlinkChat(code), OTHER_MOD, ELSEWHERE)
    reply = await bot.do(c.UnlinkChat(code), actor=OTHER_MOD, chat=OTHER)
    assert reply is not None and "no longer takes part in Unlink Night" in reply.message.plain()
    assert "unlinked by Olga" in bot.gateway.posts(HOME, "no longer takes part")[0].text
    assert await status_of(bot, code, OTHER) is LinkStatus.DECLINED
    # Nothing more reaches the unlinked chat: not the GO, not the prompts.
    before = len(bot.gateway.posts(OTHER))
    await bot.do(c.StartParty(code, "now"))
    await bot.advance(10 * 60)
    assert bot.gateway.posts(HOME, "GO")
    assert len(bot.gateway.posts(OTHER)) == before
    # It is no longer part of the party, and may ask to link again.
    assert "doesn't take part in this chat" in await refused(bot, c.SetRsvp(code, "going"),
                                                             GUEST, OTHER)
    assert "isn't linked" in await refused(bot, c.UnlinkChat(code), OTHER_MOD, OTHER)
    await bot.do(c.LinkChat(code), actor=OTHER_MOD, chat=OTHER)
    assert await status_of(bot, code, OTHER) is LinkStatus.PENDING


async def test_the_host_unlinks_any_chat_but_never_the_home(bot: Bot) -> None:
    code = await linked_party(bot)
    assert "home chat" in await refused(bot, c.UnlinkChat(code), HOST, HOME)
    assert "home chat" in await refused(bot, c.UnlinkChat(code), MOD, HOME)
    reply = await bot.do(c.UnlinkChat(code, OTHER), actor=HOST, chat=HOME)
    assert await status_of(bot, code, OTHER) is LinkStatus.DECLINED
    assert await status_of(bot, code, HOME) is LinkStatus.APPROVED
    # Asked in the home chat, the reply there is the notice: it is not posted a second time.
    assert reply is not None and "no longer takes part" in reply.message.plain()
    assert bot.gateway.posts(HOME, "no longer takes part") == []
