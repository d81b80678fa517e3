"""Firing due actions: one handler per action kind, each inside the party's unit of work."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from bot import buttons, render
from bot.actions import Action, ActionKind, ActionStatus
from bot.chats import ChatRef
from bot.handlers import series, threads
from bot.handlers.deps import Deps, Later, MessageFn, same
from bot.handlers.seeking import posted_chapters
from bot.outbox import Priority
from bot.party import Party, PartyState
from bot.planning import film_actions
from bot.ports import LogEntry, PartyWork, SentKind
from bot.richtext import Message
from bot.timeline import position

log = logging.getLogger(__name__)


async def fire(d: Deps, action: Action, now: datetime) -> ActionStatus:
    """Carry out one due action; one too late for the grace period is skipped and logged."""
    if action.kind is ActionKind.RETENTION:
        return await _fire_retention(d, action)
    if action.kind is ActionKind.FOLLOW:
        # Held, outside any unit of work, for as long as this worker follows the player.
        return ActionStatus.SKIPPED if d.following is None else await d.following.hold(action)
    if action.party_id is None:
        return ActionStatus.SKIPPED
    assert action.id is not None
    earlier = d.delivering.get(action.id)
    if earlier is not None:
        # The same action is still being delivered: what it posted is stored first.
        await earlier
    delivered: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    d.delivering[action.id] = delivered
    try:
        return await _fire_work(d, action, action.party_id, now)
    finally:
        # The party is free again while its messages go out: a slow chat stops nobody.
        try:
            await asyncio.gather(*d.deliveries.pop(action.id, []))
        finally:
            del d.delivering[action.id]
            delivered.set_result(None)


async def _fire_work(d: Deps, action: Action, party_id: int, now: datetime) -> ActionStatus:
    """Decide and store what an action does in one unit of work; deliver after it commits."""
    later: list[Later] = []
    async with d.store.party(party_id) as tx:
        party = tx.party
        if party is None:
            return ActionStatus.SKIPPED
        lateness = now - action.due_at
        too_late = lateness > d.config.grace
        late = lateness if lateness > d.config.late_note_after else None
        handler = ACTION_HANDLERS.get(action.kind)
        status = ActionStatus.SKIPPED if handler is None else await handler(
            Firing(d, tx, party, action, now, too_late, late, later))
        if too_late and status is ActionStatus.SKIPPED:
            log.warning("action %s (%s) of party %s was %ds late, past the grace period: "
                        "skipped", action.id, action.kind.value, party.id,
                        lateness.total_seconds())
            await tx.add_log(LogEntry(party.id, now, "action_skipped", {
                "kind": action.kind.value, "due_at": action.due_at.isoformat(),
                "late_seconds": int(lateness.total_seconds()),
                "prompt": action.payload.get("chapter")}))
        elif late is not None:
            await tx.add_log(LogEntry(party.id, now, "action_late", {
                "kind": action.kind.value, "due_at": action.due_at.isoformat(),
                "late_seconds": int(lateness.total_seconds())}))
    for step in later:
        await step()
    return status


@dataclass(slots=True)
class Firing:
    """One due action of a party being fired, inside the party's unit of work."""

    d: Deps
    tx: PartyWork
    party: Party
    action: Action
    now: datetime
    too_late: bool
    late: timedelta | None
    later: list[Later]

    async def post(self, kind: SentKind, priority: Priority, build: MessageFn,
                   late: timedelta | None, prompt: str | None = None, *,
                   mentions: dict[ChatRef, tuple[str, ...]] | None = None) -> None:
        """Decide this action's message to every linked chat (queued after the commit);
        `mentions` are the users it pings in each chat."""
        await _fire_post(self.d, self.party, self.action, kind, priority, build, late,
                         self.later, prompt, mentions or {})


ActionHandler = Callable[[Firing], Awaitable[ActionStatus]]


async def _before_start(f: Firing) -> bool:
    """Whether a pre-start message is still wanted; GO's outbox budget is kept again."""
    if f.party.state is not PartyState.SCHEDULED or f.too_late:
        return False
    f.d.reserve_go(f.party, f.party.starts_at)  # again: a restart forgets reservations
    return True


async def fire_reminder(f: Firing) -> ActionStatus:
    """Remind every linked chat that the party starts soon (pinging those going, if asked)."""
    if not await _before_start(f):
        return ActionStatus.SKIPPED
    party, now = f.party, f.now
    tally = await f.d.tally(party)
    # Each chat pings by its own setting, and only the people going who said so there.
    pings = {chat: tally.going_in(chat) for chat in party.approved_chats()
             if (await f.d.store.get_chat_settings(chat)).ping_reminders}
    await f.post(SentKind.REMINDER, Priority.NORMAL,
                 lambda zone: render.reminder(party, zone, now), f.late, mentions=pings)
    return ActionStatus.DONE


async def fire_ready_check(f: Firing) -> ActionStatus:
    """Ask every linked chat who is ready."""
    if not await _before_start(f):
        return ActionStatus.SKIPPED
    party = f.party
    tally = await f.d.tally(party)
    await f.post(SentKind.READY_CHECK, Priority.NORMAL,
                 lambda zone: render.ready_check(party, tally, True), f.late)
    return ActionStatus.DONE


async def fire_countdown(f: Firing) -> ActionStatus:
    """Move the party to counting down and post the countdown."""
    party = f.party
    if party.state is not PartyState.SCHEDULED:
        return ActionStatus.SKIPPED
    party.transition(PartyState.COUNTING_DOWN)
    await f.tx.save()
    if f.too_late or f.now >= party.starts_at:
        return ActionStatus.SKIPPED
    f.d.reserve_go(party, party.starts_at)
    await f.post(SentKind.COUNTDOWN, Priority.COUNTDOWN,
                 lambda zone: render.countdown(party, zone), None)
    f.later.append(f.d.later_refresh(party))
    return ActionStatus.DONE


async def fire_go(f: Firing) -> ActionStatus:
    """Start the film: PLAYING, its prompts and summary stored with it, GO posted."""
    party = f.party
    if party.state is PartyState.PLAYING and party.go_at == f.action.due_at:
        return await _go_again(f)
    if party.state is PartyState.SCHEDULED:
        party.transition(PartyState.COUNTING_DOWN)
    if party.state is not PartyState.COUNTING_DOWN:
        return ActionStatus.SKIPPED
    party.transition(PartyState.PLAYING)
    party.go_at = f.action.due_at
    await f.tx.save()
    await f.tx.add_actions(film_actions(party, await f.d.guide_of(party), f.now))
    f.later.append(f.d.wake)
    if f.too_late:
        return ActionStatus.SKIPPED
    await f.post(SentKind.GO, Priority.GO, lambda zone: render.go(party, 0.0), f.late)
    f.later.append(f.d.later_refresh(party))
    return ActionStatus.DONE


async def _go_again(f: Firing) -> ActionStatus:
    """GO fired again after it started the film: the worker that fired it stopped before every
    chat had its post (the start itself was stored). The chats without one get it now, from
    where the film is; on Discord, one that had it gets the first post back (same nonce)."""
    party = f.party
    if f.too_late:
        return ActionStatus.SKIPPED
    at = position(party, f.now) or 0.0
    await f.post(SentKind.GO, Priority.GO, lambda zone: render.go(party, at), f.late)
    return ActionStatus.DONE


async def fire_resume_go(f: Firing) -> ActionStatus:
    """Play again from where the film was paused; the prompts still ahead are stored anew."""
    party = f.party
    if party.state is not PartyState.PAUSED or party.resume_at is None:
        return ActionStatus.SKIPPED
    assert party.paused_at is not None
    at = position(party, f.now) or 0.0
    party.paused_seconds += (party.resume_at - party.paused_at).total_seconds()
    party.paused_at = None
    party.resume_at = None
    party.transition(PartyState.PLAYING)
    await f.tx.save()
    await f.tx.add_actions(film_actions(party, await f.d.guide_of(party), f.now))
    f.later.append(f.d.wake)
    if f.too_late:
        return ActionStatus.SKIPPED
    await f.post(SentKind.GO, Priority.GO, lambda zone: render.go(party, at), f.late)
    return ActionStatus.DONE


async def fire_prompt(f: Firing) -> ActionStatus:
    """Post a chapter's questions and poll (the chapters a seek crossed, in order).

    A chapter whose prompts another action already posted (the film was sought back past
    its end) is not posted again.
    """
    crossed = bool(f.action.payload.get("crossed"))
    running = (PartyState.PLAYING, PartyState.PAUSED) if crossed else (PartyState.PLAYING,)
    if f.party.state not in running or f.too_late:
        return ActionStatus.SKIPPED
    posted = await posted_chapters(f.d, f.party, but=f.action.id)
    planned = f.action.payload.get("chapters") or [f.action.payload.get("chapter", 0)]
    chapters = [int(n) for n in planned if int(n) not in posted]
    if not chapters:
        return ActionStatus.SKIPPED
    for chapter in chapters:
        await _fire_prompt(f.d, f.party, f.action, chapter, f.late, f.later)
    return ActionStatus.DONE


async def fire_summary(f: Firing) -> ActionStatus:
    """Finish the party and post its summary; its records' retention is scheduled after."""
    party, d = f.party, f.d
    if party.state not in (PartyState.PLAYING, PartyState.PAUSED):
        return ActionStatus.SKIPPED
    party.transition(PartyState.FINISHED)
    party.finished_at = f.now
    await f.tx.save()
    await series.plan_next(f.tx, party, f.now)
    finished = party.finished_at

    async def retention() -> None:
        # Retention actions belong to no party (they outlive it): stored after it.
        await d.schedule_retention(party, finished)
    f.later.append(retention)
    f.later.append(d.later_refresh(party))
    if f.too_late:
        return ActionStatus.SKIPPED
    summary = await d.summary_of(party)
    await f.post(SentKind.SUMMARY, Priority.NORMAL,
                 lambda zone: render.summary(party, summary), f.late)
    return ActionStatus.DONE


# Retention belongs to no party and runs outside a unit of work: `fire` takes it first.
ACTION_HANDLERS: dict[ActionKind, ActionHandler] = {
    ActionKind.REMINDER: fire_reminder,
    ActionKind.READY_CHECK: fire_ready_check,
    ActionKind.COUNTDOWN: fire_countdown,
    ActionKind.GO: fire_go,
    ActionKind.RESUME_GO: fire_resume_go,
    ActionKind.PROMPT: fire_prompt,
    ActionKind.SUMMARY: fire_summary,
    ActionKind.NEXT_EPISODE: series.fire_next_episode,
}


async def _fire_post(d: Deps, party: Party, action: Action, kind: SentKind,
                     priority: Priority, build: MessageFn, late: timedelta | None,
                     later: list[Later], prompt: str | None = None,
                     mentions: dict[ChatRef, tuple[str, ...]] | None = None) -> None:
    """Decide an action's message to every linked chat that has not had it yet.

    The messages are queued once the unit of work commits; `fire` awaits their delivery.
    """
    assert action.id is not None
    action_id = action.id
    done = {(s.chat, s.prompt) for s in await d.store.sent_for_action(action_id)}
    decided: list[tuple[ChatRef, ChatRef, Message]] = []
    for chat in party.approved_chats():
        # Prompts, polls and the summary go to the party's thread in the chat, if it has one.
        where = threads.target(party, chat, kind)
        if (chat, prompt) in done or (where, prompt) in done:
            continue
        message = build(await d.zone_for(chat))
        if mentions and mentions.get(chat):
            message = replace(message, mentions=mentions[chat])
        if late is not None:
            message = render.with_late_note(message, late)
        decided.append((chat, where, message))

    async def queue() -> None:
        d.deliveries.setdefault(action_id, []).extend(
            d.queue_post(party, where, message, kind, priority, action_id=action_id,
                         prompt=prompt, fallback=chat if where != chat else None)
            for chat, where, message in decided)
    later.append(queue)


async def _fire_prompt(d: Deps, party: Party, action: Action, index: int,
                       late: timedelta | None, later: list[Later]) -> None:
    guide = await d.guide_of(party)
    if guide is None or not 1 <= index <= len(guide.chapters):
        return
    chapter = guide.chapters[index - 1]
    for qnum, question in enumerate(chapter.questions, start=1):
        ref = f"{index}.{qnum}"
        message = render.prompt(party, guide, index, qnum, question,
                                buttons.answer(party.id, ref))
        await _fire_post(d, party, action, SentKind.PROMPT, Priority.PROMPT,
                              same(message), late, later, prompt=ref)
    if chapter.poll is not None:
        poll = chapter.poll
        await _fire_post(d, party, action, SentKind.POLL, Priority.PROMPT,
                              lambda zone: render.poll(party, guide, index, poll),
                              late, later, prompt=f"{index}.poll")


async def _fire_retention(d: Deps, action: Action) -> ActionStatus:
    party_id = int(action.payload.get("party_id", 0))
    chat: ChatRef | None = None
    if "chat_id" in action.payload:
        chat = ChatRef(str(action.payload["platform"]), str(action.payload["chat_id"]))
        party = await d.store.get_party(party_id)
        if party is not None and party.finished_at is not None:
            # The chat may have lengthened its retention_days since the party ended.
            days = (await d.store.get_chat_settings(chat)).retention_days
            due = party.finished_at + timedelta(days=days)
            if due > action.due_at:
                await d.schedule([Action(None, ActionKind.RETENTION, due,
                                             dict(action.payload))])
                return ActionStatus.DONE
    # An action from before per-chat retention names no chat: the whole party's records.
    deleted = await d.store.delete_party_records(party_id, chat)
    log.info("retention removed %d records of party %s in %s", deleted, party_id,
             chat or "every chat")
    return ActionStatus.DONE
