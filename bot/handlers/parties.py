"""Parties: create, list, info, start, pause, resume, cancel."""

from __future__ import annotations

from bot import commands as c
from bot import render
from bot.actions import Action, ActionKind
from bot.chats import Creators
from bot.errors import UserError
from bot.handlers import series, threads
from bot.handlers.deps import Deps, loaded, snapshot_scope
from bot.handlers.following import feed_line
from bot.outbox import Priority
from bot.party import ACTIVE_STATES, LinkStatus, Party, PartyChat, PartyState, new_join_code
from bot.planning import FILM_KINDS, PRE_START_KINDS, pre_start_actions
from bot.ports import PartyWork, SentKind
from bot.timeline import position
from bot.timeparse import parse_when, validate_zone

TITLE_MAX = 100


async def create(d: Deps, ctx: c.Context, cmd: c.CreateParty) -> c.Reply:
    """Create a party, schedule its actions and post its announcement."""
    settings = await d.store.get_chat_settings(ctx.chat)
    if settings.creators is Creators.MODERATORS and not await ctx.is_moderator():
        raise UserError("not_allowed", action="create", who="moderator")
    title = " ".join(cmd.title.split())
    if not title or len(title) > TITLE_MAX:
        raise UserError("title_invalid", length=len(title), maximum=TITLE_MAX)
    zone = validate_zone(cmd.timezone or settings.timezone or d.config.default_timezone)
    now = d.clock.now()
    starts_at = parse_when(cmd.when, zone, now)
    guide = await d.find_guide(ctx.scope, cmd.guide) if cmd.guide else None
    plan = series.plan_of(cmd)
    code = new_join_code()
    while await d.store.get_party_by_code(code) is not None:
        code = new_join_code()
    # The party and its first actions are stored together: a party never lacks its GO.
    async with d.store.new_party(Party(
            id=0, code=code, title=title, host_platform=ctx.actor.platform,
            host_user_id=ctx.actor.user_id, host_name=ctx.actor.display_name, home=ctx.chat,
            starts_at=starts_at, timezone=zone, guide_name=guide.name if guide else None,
            state=PartyState.SCHEDULED, created_at=now,
            chats=[PartyChat(0, ctx.chat, LinkStatus.APPROVED, is_home=True)])) as tx:
        party = loaded(tx, code)
        await series.begin(tx, party, plan)
        d.guide_cache[party.id] = guide
        await tx.add_actions(pre_start_actions(party, settings, now,
                                              d.config.ready_check, d.config.countdown))
    if guide is not None:
        await d.store.save_guide(snapshot_scope(party), guide.name,
                                    guide.model_dump_json())
    await d.wake()
    d.reserve_go(party, party.starts_at)
    await threads.announce(d, party, ctx.chat)
    return c.Reply(render.created(party, guide, zone), private=True)


async def list_parties(d: Deps, ctx: c.Context, cmd: c.ListParties) -> c.Reply:
    """List this chat's upcoming and running parties."""
    parties = await d.store.parties_for_chat(ctx.chat, ACTIVE_STATES)
    zone = await d.zone_for(ctx.chat)
    return c.Reply(render.party_list(parties, zone, d.clock.now()))


async def info(d: Deps, ctx: c.Context, cmd: c.ShowInfo) -> c.Reply:
    """Say where a party is: when it starts, or where the film should be now."""
    party = await d.resolve_party(ctx, cmd.party, ended=True)
    zone = await d.zone_for(ctx.chat)
    now = d.clock.now()
    message = render.info(party, await d.guide_of(party), await d.tally(party),
                          position(party, now), zone, now)
    feed = feed_line(d, party)
    return c.Reply(message if feed is None else render.with_lines(message, feed))


async def start(d: Deps, ctx: c.Context, cmd: c.StartParty) -> c.Reply:
    """Start the countdown now, or when N people are ready."""
    found = await d.resolve_party(ctx, cmd.party)
    await d.require_host_or_mod(found, ctx, "start")
    words = cmd.when.strip().lower().split()
    started = False
    async with d.store.party(found.id) as tx:
        party = loaded(tx, found.code)
        if party.state is not PartyState.SCHEDULED:
            raise UserError("invalid_transition", title=party.title,
                            state=party.state.value, target=PartyState.COUNTING_DOWN.value)
        if words == ["now"] or not words:
            await start_countdown(d, tx, party)
            started = True
        elif len(words) == 2 and words[0] == "ready" and words[1].isdigit():
            target = int(words[1])
            if not 1 <= target <= 10_000:
                raise UserError("start_when_invalid", text=cmd.when)
            party.ready_target = target
            await tx.save()
            tally = await d.tally(party)
            if tally.ready >= target:
                await start_countdown(d, tx, party)
                started = True
        else:
            raise UserError("start_when_invalid", text=cmd.when)
    if not started:
        return c.Reply(render.waiting_for_ready(party, tally))
    await countdown_started(d, party)
    return c.Reply(render.starting(party))


async def start_countdown(d: Deps, tx: PartyWork, party: Party) -> None:
    """Move the start to now + countdown in the unit of work; `_countdown_started` posts."""
    await tx.cancel_actions(PRE_START_KINDS)
    planned = party.starts_at
    party.starts_at = d.clock.now().replace(microsecond=0) + d.config.countdown
    d.reserve_go(party, party.starts_at, release=planned)
    party.transition(PartyState.COUNTING_DOWN)
    await tx.save()
    await tx.add_actions([Action(party.id, ActionKind.GO, party.starts_at)])


async def countdown_started(d: Deps, party: Party) -> None:
    """After the countdown's unit of work commits: wake the timer, post the countdown."""
    await d.wake()
    await d.broadcast(party, lambda zone: render.countdown(party, zone),
                          SentKind.COUNTDOWN, Priority.COUNTDOWN)
    d.spawn(d.refresh_announcements(party))


async def pause(d: Deps, ctx: c.Context, cmd: c.PauseParty) -> c.Reply:
    """Pause the film clock; every later prompt waits."""
    found = await d.resolve_party(ctx, cmd.party)
    await d.require_host_or_mod(found, ctx, "pause")
    async with d.store.party(found.id) as tx:
        party = loaded(tx, found.code)
        if party.state is PartyState.PAUSED:
            raise UserError("already_paused", title=party.title)
        party.transition(PartyState.PAUSED)
        now = d.clock.now()
        party.paused_at = now
        await tx.save()
        await tx.cancel_actions(FILM_KINDS)
        at = position(party, now) or 0.0
    await d.broadcast(party, lambda zone: render.paused(party, at, ctx.actor.display_name),
                          SentKind.NOTICE, Priority.COUNTDOWN)
    return c.Reply(render.paused(party, at, ctx.actor.display_name), private=True,
                   posted_here=d.in_party(party, ctx.chat))


async def resume(d: Deps, ctx: c.Context, cmd: c.ResumeParty) -> c.Reply:
    """Post a short countdown, then GO again from where the film was paused."""
    found = await d.resolve_party(ctx, cmd.party)
    await d.require_host_or_mod(found, ctx, "resume")
    async with d.store.party(found.id) as tx:
        party = loaded(tx, found.code)
        if party.state is not PartyState.PAUSED:
            raise UserError("invalid_transition", title=party.title,
                            state=party.state.value, target=PartyState.PLAYING.value)
        if party.resume_at is not None:
            raise UserError("already_resuming", title=party.title)
        seconds = int(d.config.resume_countdown.total_seconds())
        party.resume_at = d.clock.now().replace(microsecond=0) + d.config.resume_countdown
        await tx.save()
        await tx.add_actions([Action(party.id, ActionKind.RESUME_GO, party.resume_at)])
        d.reserve_go(party, party.resume_at)
        at = position(party, d.clock.now()) or 0.0
    await d.wake()
    await d.broadcast(party, lambda zone: render.resume_countdown(party, at, zone, seconds),
                          SentKind.COUNTDOWN, Priority.COUNTDOWN)
    return c.Reply(render.resume_countdown(party, at, await d.zone_for(ctx.chat), seconds),
                   private=True, posted_here=d.in_party(party, ctx.chat))


async def cancel(d: Deps, ctx: c.Context, cmd: c.CancelParty) -> c.Reply:
    """Cancel a party that has not finished; its pending actions go with it."""
    found = await d.resolve_party(ctx, cmd.party)
    await d.require_host_or_mod(found, ctx, "cancel")
    async with d.store.party(found.id) as tx:
        party = loaded(tx, found.code)
        party.transition(PartyState.CANCELLED)
        party.finished_at = d.clock.now()
        await tx.save()
        await tx.cancel_actions(frozenset(ActionKind))
        if not cmd.all:
            await series.plan_next(tx, party, party.finished_at)
        d.reserve_go(party, None, release=party.starts_at)
    # Retention actions belong to no party (they outlive it): stored once the party is.
    await d.schedule_retention(party, party.finished_at)
    await d.broadcast(party, lambda zone: render.cancelled(party, ctx.actor.display_name),
                          SentKind.NOTICE, Priority.NORMAL)
    await series.after_cancel(d, party, cmd, ctx.actor.display_name)
    d.spawn(d.refresh_announcements(party))
    return c.Reply(render.cancelled(party, ctx.actor.display_name), private=True,
                   posted_here=d.in_party(party, ctx.chat))
