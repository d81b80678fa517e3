"""Retention: an ended party's records in each chat go that chat's retention_days later."""

from __future__ import annotations

import pytest

from bot import commands as c
from bot.actions import ActionKind
from bot.party import PartyState
from tests.fakes import GUEST, HOME, HOST, MOD, OTHER, Bot
from tests.postgres import STORES
from tests.reads import count_records

# The party flow on every store, PostgreSQL too.
pytestmark = pytest.mark.parametrize("bot", STORES, indirect=True)


async def test_retention_removes_an_old_partys_records(bot: Bot) -> None:
    await bot.do(c.ChangeSettings(retention_days="2"), actor=MOD)
    await bot.do(c.CreateParty("Old Film", "in 1 hour", "short-film"), actor=HOST)
    party = (await bot.store.parties_for_chat(HOME, frozenset(PartyState)))[0]
    await bot.do(c.SetRsvp(party.code, "going"), actor=GUEST)
    await bot.advance(3600 + 31 * 60)
    party = await bot.store.get_party_by_code(party.code)
    assert party is not None and party.state is PartyState.FINISHED
    assert await count_records(bot.store, party.id) == 1
    # One day on, the records are still there; two days after the end, they are gone.
    await bot.advance(86_400)
    assert await count_records(bot.store, party.id) == 1
    await bot.advance(86_400)
    assert await count_records(bot.store, party.id) == 0
    # The party itself stays (its title and time), so the chat's history still lists it.
    assert await bot.store.get_party_by_code(party.code) is not None


async def test_retention_is_scheduled_as_a_durable_action(bot: Bot) -> None:
    await bot.do(c.CreateParty("Film", "in 1 hour", "short-film"), actor=HOST)
    await bot.advance(3600 + 31 * 60)
    claimed = await bot.store.claim_due(bot.clock.now().replace(year=2028), "probe",
                                        bot.clock.now().replace(year=2028), 10)
    assert [a.kind for a in claimed] == [ActionKind.RETENTION]



async def kinds_by_chat(bot: Bot, party_id: int) -> list[str]:
    """The chat of each stored record of a party, in order."""
    return [rec.chat_id async for rec in bot.store.iter_records(party_id)]


async def linked_party(bot: Bot) -> int:
    """A party of HOME with OTHER linked, one RSVP in each; return its id."""
    await bot.do(c.CreateParty("Film", "in 1 hour", "short-film"), actor=HOST)
    party = (await bot.store.parties_for_chat(HOME, frozenset(PartyState)))[0]
    await bot.do(c.LinkChat(party.code), actor=MOD, chat=OTHER)
    await bot.do(c.DecideLink(party.code, OTHER, True), actor=HOST)
    await bot.do(c.SetRsvp(party.code, "going"), actor=GUEST)
    await bot.do(c.SetRsvp(party.code, "going"), actor=GUEST, chat=OTHER)
    return party.id


async def test_each_chat_keeps_its_records_for_its_own_retention_days(bot: Bot) -> None:
    await bot.do(c.ChangeSettings(retention_days="3"), actor=MOD)
    await bot.do(c.ChangeSettings(retention_days="1"), actor=MOD, chat=OTHER)
    party_id = await linked_party(bot)
    await bot.advance(3600 + 31 * 60)
    assert await kinds_by_chat(bot, party_id) == ["home", "other"]
    await bot.advance(86_400)
    assert await kinds_by_chat(bot, party_id) == ["home"]
    await bot.advance(86_400)
    assert await kinds_by_chat(bot, party_id) == ["home"]
    await bot.advance(86_400)
    assert await kinds_by_chat(bot, party_id) == []


async def test_a_cancelled_partys_records_are_purged_too(bot: Bot) -> None:
    await bot.do(c.ChangeSettings(retention_days="2"), actor=MOD)
    party_id = await linked_party(bot)
    await bot.do(c.CancelParty(None), actor=HOST)
    await bot.advance(2 * 86_400 - 60)
    assert await kinds_by_chat(bot, party_id) == ["home", "other"]
    await bot.advance(60)
    # OTHER keeps the default (365 days); HOME's two days are up.
    assert await kinds_by_chat(bot, party_id) == ["other"]
    await bot.advance(363 * 86_400)
    assert await kinds_by_chat(bot, party_id) == []


async def test_a_longer_retention_set_after_the_end_is_followed(bot: Bot) -> None:
    await bot.do(c.ChangeSettings(retention_days="1"), actor=MOD)
    await bot.do(c.ChangeSettings(retention_days="1"), actor=MOD, chat=OTHER)
    party_id = await linked_party(bot)
    await bot.do(c.CancelParty(None), actor=HOST)
    await bot.do(c.ChangeSettings(retention_days="3"), actor=MOD, chat=OTHER)
    await bot.advance(86_400)
    assert await kinds_by_chat(bot, party_id) == ["other"]
    await bot.advance(2 * 86_400)
    assert await kinds_by_chat(bot, party_id) == []
