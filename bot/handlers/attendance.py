"""RSVP and ready marks."""

from __future__ import annotations

from bot import commands as c
from bot import render
from bot.errors import UserError
from bot.handlers.deps import Deps, loaded
from bot.handlers.parties import countdown_started, start_countdown
from bot.party import ACTIVE_STATES, PartyState
from bot.records import RecordKind, Rsvp


async def set_rsvp(d: Deps, ctx: c.Context, cmd: c.SetRsvp) -> c.Reply:
    """Record Going / Maybe / Not going and update the announcements."""
    party = await d.resolve_party(ctx, cmd.party)
    d.require_member_chat(party, ctx)
    if party.state not in ACTIVE_STATES:
        raise UserError("party_over", title=party.title, state=party.state.value)
    status = Rsvp(cmd.status)
    await d.record(ctx, party, RecordKind.RSVP, status.value)
    d.spawn(d.refresh_announcements(party))
    return c.Reply(render.rsvp_done(party, status), private=True)


async def ready(d: Deps, ctx: c.Context, cmd: c.MarkReady) -> c.Reply:
    """Record a ready mark; start the countdown if the `ready N` target is reached."""
    party = await d.resolve_party(ctx, cmd.party)
    d.require_member_chat(party, ctx)
    if party.state not in (PartyState.SCHEDULED, PartyState.COUNTING_DOWN):
        raise UserError("ready_too_late", title=party.title, state=party.state.value)
    await d.record(ctx, party, RecordKind.READY, "ready")
    started = False
    async with d.store.party(party.id) as tx:
        party = loaded(tx, party.code)
        tally = await d.tally(party)
        if (party.state is PartyState.SCHEDULED and party.ready_target is not None
                and tally.ready >= party.ready_target):
            await start_countdown(d, tx, party)
            started = True
    if started:
        await countdown_started(d, party)
    d.spawn(d.refresh_ready_checks(party))
    return c.Reply(render.ready_done(party, tally), private=True)
