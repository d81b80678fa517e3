"""`seek`: correct the film clock while playing or paused; later prompts follow the new position."""

from __future__ import annotations

from datetime import datetime

from bot import commands as c
from bot import render_feeds
from bot.actions import Action, ActionKind
from bot.errors import UserError
from bot.handlers.deps import Deps, loaded
from bot.outbox import Priority
from bot.party import Party, PartyState
from bot.planning import NO_GUIDE_RUNTIME, film_actions
from bot.ports import PartyWork, SentKind
from bot.seeking import seek_target
from bot.timeline import position, set_position

RUNNING = frozenset({PartyState.PLAYING, PartyState.PAUSED})
REPLANNED = frozenset({ActionKind.PROMPT, ActionKind.SUMMARY})


async def seek(d: Deps, ctx: c.Context, cmd: c.SeekParty) -> c.Reply:
    """Set the film clock to a position, a step from it, or a chapter's start."""
    found = await d.resolve_party(ctx, cmd.party)
    await d.require_host_or_mod(found, ctx, "seek")
    now = d.clock.now()
    async with d.store.party(found.id) as tx:
        party = loaded(tx, found.code)
        require_running(party)
        guide = await d.guide_of(party)
        end = float(guide.runtime_seconds) if guide is not None else (
            NO_GUIDE_RUNTIME.total_seconds())
        target = seek_target(cmd.position, position(party, now) or 0.0, guide, end)
        await move_clock(d, tx, party, target, now)
    await clock_moved(d, party, target, ctx.actor.display_name)
    return c.Reply(render_feeds.sought(party, target, ctx.actor.display_name), private=True,
                   posted_here=d.in_party(party, ctx.chat))


def require_running(party: Party) -> None:
    """Refuse a party that is not playing or paused (a seek needs a film clock)."""
    if party.state not in RUNNING:
        raise UserError("seek_not_running", title=party.title,
                        state=party.state.value.replace("_", " "))


async def posted_chapters(d: Deps, party: Party, but: int | None = None) -> set[int]:
    """The chapters whose prompts a party has already posted (in any chat), but by action `but`."""
    chapters = set()
    for kind in (SentKind.PROMPT, SentKind.POLL):
        for sent in await d.store.sent_messages(party.id, kind):
            if but is not None and sent.action_id == but:
                continue
            head = (sent.prompt or "").partition(".")[0]
            if head.isdigit():
                chapters.add(int(head))
    return chapters


async def move_clock(d: Deps, tx: PartyWork, party: Party, target: float,
                     now: datetime) -> list[int]:
    """In the unit of work: set the clock to `target`, plan the prompts ahead of it anew.

    Chapter ends a forward seek crossed get their prompts now, once and in order (one action
    for them all); a backward seek plans nothing that was posted already. Returns the crossed
    chapters. A paused party's prompts are planned again when it resumes.
    """
    before = position(party, now) or 0.0
    set_position(party, now, target)
    await tx.save()
    await tx.cancel_actions(REPLANNED)
    guide = await d.guide_of(party)
    posted = await posted_chapters(d, party)
    crossed = [] if guide is None else [
        index for index, chapter in enumerate(guide.chapters, start=1)
        if before < chapter.ends_at_seconds <= target and index not in posted]
    actions: list[Action] = []
    if crossed:
        actions.append(Action(party.id, ActionKind.PROMPT, now,
                              {"chapter": crossed[0], "chapters": crossed, "crossed": True}))
    if party.state is PartyState.PLAYING:
        actions += [a for a in film_actions(party, guide, now)
                    if a.kind is not ActionKind.PROMPT
                    or int(a.payload.get("chapter", 0)) not in posted]
    await tx.add_actions(actions)
    return crossed


async def clock_moved(d: Deps, party: Party, target: float, by: str,
                      source: str | None = None) -> None:
    """After the commit: wake the timer and tell every linked chat, in one line."""
    await d.wake()
    await d.broadcast(party, lambda zone: render_feeds.sought(party, target, by, source),
                      SentKind.NOTICE, Priority.COUNTDOWN)
