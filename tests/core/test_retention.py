"""Retention: a finished party's records are removed by a scheduled action after N days."""

from __future__ import annotations

from bot import commands as c
from bot.actions import ActionKind
from bot.party import PartyState
from tests.conftest import GUEST, HOME, HOST, MOD, Bot
from tests.reads import count_records


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

