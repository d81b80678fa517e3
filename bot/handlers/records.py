"""Recorded interactions: answers, reactions, anonymous reaction totals, poll votes."""

from __future__ import annotations

from collections import Counter

from bot import commands as c
from bot import render
from bot.errors import UserError
from bot.handlers.deps import Deps
from bot.ports import SentKind
from bot.records import RecordKind

ANSWER_MAX = 4000


async def record_answer(d: Deps, ctx: c.Context, cmd: c.RecordAnswer) -> c.Reply | None:
    """Record an answer to a prompt; messages unrelated to a party are ignored."""
    if cmd.message_id is not None:
        found = await d.party_message(ctx.origin, cmd.message_id, SentKind.PROMPT)
        if found is None:
            return None
        party = found[1]
        prompt = found[0].prompt
    else:
        party = await d.resolve_party(ctx, cmd.party)
        prompt = cmd.prompt
    if prompt is None:
        return None
    d.require_member_chat(party, ctx)
    text = cmd.text.strip()
    if not text:
        raise UserError("answer_empty")
    if len(text) > ANSWER_MAX:
        raise UserError("answer_too_long", length=len(text), maximum=ANSWER_MAX)
    await d.record(ctx, party, RecordKind.ANSWER, text, prompt=prompt,
                       message_id=cmd.message_id)
    return c.Reply(render.answer_recorded(party, prompt, ctx.actor.display_name, text))


async def record_reaction(d: Deps, ctx: c.Context, cmd: c.RecordReaction) -> None:
    """Record a reaction added to or removed from a party message."""
    found = await d.party_message(ctx.origin, cmd.message_id)
    if found is None:
        return
    sent, party = found
    kind = RecordKind.REACTION_ADDED if cmd.added else RecordKind.REACTION_REMOVED
    await d.record(ctx, party, kind, cmd.emoji, prompt=sent.prompt,
                       message_id=cmd.message_id)


async def record_reaction_count(d: Deps, ctx: c.Context, cmd: c.RecordReactionCount) -> None:
    """Turn the totals of anonymous reactions on a party message into added/removed records.

    The actor stands for everyone anonymous; what is stored is the difference between the
    totals and what that actor's records already add up to, so a repeated update adds nothing.
    """
    found = await d.party_message(ctx.origin, cmd.message_id)
    if found is None:
        return
    sent, party = found
    have: Counter[str] = Counter()
    async for rec in d.store.iter_records(party.id):
        if (rec.message_id == cmd.message_id and rec.platform == ctx.chat.platform
                and rec.chat_id == ctx.chat.chat_id and rec.user_id == ctx.actor.user_id):
            if rec.kind is RecordKind.REACTION_ADDED:
                have[rec.value] += 1
            elif rec.kind is RecordKind.REACTION_REMOVED:
                have[rec.value] -= 1
    wanted = dict(cmd.counts)
    for emoji in sorted(set(have) | set(wanted)):
        count, target = have[emoji], max(0, wanted.get(emoji, 0))
        while count != target:
            added = count < target
            count += 1 if added else -1
            # One event name per total reached, so a redelivered update stores nothing new.
            event = f"{ctx.event}:{emoji}:{count}" if ctx.event else None
            await d.record(ctx, party, RecordKind.REACTION_ADDED if added
                               else RecordKind.REACTION_REMOVED, emoji,
                               prompt=sent.prompt, message_id=cmd.message_id,
                               event=event)


async def record_poll_vote(d: Deps, ctx: c.Context, cmd: c.RecordPollVote) -> None:
    """Record a vote in a guide poll (the option texts, or empty for a retraction)."""
    found = await d.party_message(ctx.origin, cmd.message_id, SentKind.POLL)
    if found is None:
        return
    sent, party = found
    guide = await d.guide_of(party)
    options: tuple[str, ...] = ()
    if guide is not None and sent.prompt is not None:
        chapter = guide.chapters[int(sent.prompt.split(".")[0]) - 1]
        if chapter.poll is not None:
            options = chapter.poll.options
    labels = [options[i] if 0 <= i < len(options) else str(i) for i in cmd.options]
    await d.record(ctx, party, RecordKind.POLL_VOTE, " | ".join(labels),
                       prompt=sent.prompt, message_id=cmd.message_id)
