"""Series: starting one with `create`, and each next episode once the one before it ends.

The next episode is a stored action (`NEXT_EPISODE`) of the episode that ended, added in the
same unit of work as its finish or its cancellation, so a restart in between loses nothing;
firing it creates the episode (unless a fired attempt already did) and announces it in every
chat the one before took part in.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING

from bot import commands as c
from bot import render_life as life
from bot.actions import Action, ActionKind, ActionStatus
from bot.errors import UserError
from bot.handlers import threads
from bot.handlers.deps import Deps, loaded, snapshot_scope
from bot.outbox import Priority
from bot.party import LinkStatus, Party, PartyChat, PartyState, Series, new_join_code
from bot.planning import pre_start_actions
from bot.ports import PartyWork, SentKind
from bot.series import anchor_for, episode_start, parse_episodes, parse_repeat

if TYPE_CHECKING:
    from bot.handlers.actions import Firing

log = logging.getLogger(__name__)

_ENDED = frozenset({PartyState.FINISHED, PartyState.CANCELLED})


@dataclass(frozen=True, slots=True)
class Plan:
    """What `create … repeat=… episodes=…` asked for."""

    repeat_days: int
    episodes: int | None


def plan_of(cmd: c.CreateParty) -> Plan | None:
    """Read `repeat` and `episodes` (before anything is stored: bad input changes nothing)."""
    if not cmd.repeat:
        if cmd.episodes:
            raise UserError("episodes_without_repeat")
        return None
    episodes = parse_episodes(cmd.episodes) if cmd.episodes else None
    return Plan(parse_repeat(cmd.repeat), episodes)


async def begin(tx: PartyWork, party: Party, plan: Plan | None) -> None:
    """Make a party being created episode 1 of its series (its own id names the series)."""
    if plan is None:
        return
    party.series = Series(party.id, 1, plan.repeat_days,
                          anchor_for(party.starts_at, party.timezone, 1, plan.repeat_days),
                          plan.episodes)
    await tx.save()


async def plan_next(tx: PartyWork, party: Party, now: datetime) -> None:
    """In the unit of work that ends an episode: store the action that creates the next one."""
    if party.series is not None and not party.series.is_last:
        await tx.add_actions([Action(party.id, ActionKind.NEXT_EPISODE, now)])


def _next_number(series: Series, zone: str, now: datetime) -> int | None:
    """The next episode that can still start (those whose time passed while down are missed)."""
    number = series.episode + 1
    while episode_start(series, zone, number) <= now:
        number += 1
    if series.episodes is not None and number > series.episodes:
        return None
    return number


async def fire_next_episode(f: Firing) -> ActionStatus:
    """Decide, in the ended episode's unit of work, to create the next one after the commit."""
    party = f.party
    if party.state not in _ENDED or party.series is None:
        return ActionStatus.SKIPPED
    number = _next_number(party.series, party.timezone, f.now)
    if number is None:
        log.info("the series of party %s is over: its episodes' times have passed", party.id)
        return ActionStatus.DONE
    d, now = f.d, f.now
    ended = party

    async def step() -> None:
        await create_episode(d, ended, number, now)
    f.later.append(step)
    return ActionStatus.DONE


async def create_episode(d: Deps, before: Party, number: int, now: datetime) -> Party:
    """Create and announce episode `number` after `before`, once however often it is asked."""
    assert before.series is not None
    series = replace(before.series, episode=number)
    party = await d.store.series_episode(series.series_id, number)
    if party is None:
        settings = await d.store.get_chat_settings(before.home)
        code = new_join_code()
        while await d.store.get_party_by_code(code) is not None:
            code = new_join_code()
        async with d.store.new_party(Party(
                id=0, code=code, title=before.title, host_platform=before.host_platform,
                host_user_id=before.host_user_id, host_name=before.host_name,
                home=before.home, starts_at=episode_start(series, before.timezone, number),
                timezone=before.timezone, guide_name=before.guide_name,
                state=PartyState.SCHEDULED, created_at=now, series=series,
                chats=[PartyChat(0, before.home, LinkStatus.APPROVED, is_home=True)])) as tx:
            party = loaded(tx, code)
            for link in before.chats:
                if not link.is_home and link.status is LinkStatus.APPROVED:
                    await tx.upsert_chat(PartyChat(party.id, link.chat, LinkStatus.APPROVED,
                                                   requested_by=link.requested_by))
            await tx.add_actions(pre_start_actions(party, settings, now, d.config.ready_check,
                                                   d.config.countdown))
        log.info("created episode %d of series %d: party %s", number, series.series_id,
                 party.id)
    if before.guide_name:
        source = await d.store.get_guide_source(snapshot_scope(before), before.guide_name)
        if source is not None:
            await d.store.save_guide(snapshot_scope(party), before.guide_name, source)
    announced = {s.chat for s in await d.store.sent_messages(party.id, SentKind.ANNOUNCEMENT)}
    await d.wake()
    d.reserve_go(party, party.starts_at)
    for chat in party.approved_chats():
        if chat not in announced:
            await threads.announce(d, party, chat)
    return party


async def after_cancel(d: Deps, party: Party, cmd: c.CancelParty, by: str) -> None:
    """Tell the chats what a cancellation means for the series: over, or the next date."""
    series = party.series
    if series is None:
        return
    if cmd.all or series.is_last:
        if cmd.all:
            await d.broadcast(party, lambda zone: life.series_ended(party, by),
                              SentKind.NOTICE, Priority.NORMAL)
        return
    number = _next_number(series, party.timezone, d.clock.now())
    if number is None:
        return
    at = episode_start(series, party.timezone, number)
    await d.broadcast(party, lambda zone: life.next_episode_note(party, at, zone),
                      SentKind.NOTICE, Priority.NORMAL)
