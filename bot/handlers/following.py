"""`follow` and `unfollow`: the party's clock follows a real player, or the bot's own again."""

from __future__ import annotations

from bot import commands as c
from bot import render_feeds
from bot.actions import Action, ActionKind
from bot.errors import UserError
from bot.feeds import FeedSource, parse_source
from bot.handlers.deps import Deps, loaded
from bot.outbox import Priority
from bot.party import ACTIVE_STATES, Party
from bot.ports import SentKind
from bot.richtext import Message
from bot.timeline import position

FOLLOW = frozenset({ActionKind.FOLLOW})


def _require_active(party: Party) -> None:
    if party.state not in ACTIVE_STATES:
        raise UserError("follow_party_over", title=party.title,
                        state=party.state.value.replace("_", " "))


async def follow(d: Deps, ctx: c.Context, cmd: c.FollowParty) -> c.Reply:
    """Follow a Syncplay room or a Jellyfin user's session; refused sources connect nowhere."""
    found = await d.resolve_party(ctx, cmd.party)
    await d.require_host_or_mod(found, ctx, "follow")
    _require_active(found)
    source = parse_source(cmd.source, d.config.follow_allowed_hosts)
    if d.following is None:
        raise UserError("follow_unavailable")
    d.following.open(source)  # a missing API key refuses here; nothing connects yet
    async with d.store.party(found.id) as tx:
        party = loaded(tx, found.code)
        _require_active(party)
        party.follow_source = str(source)
        await tx.save()
        # One pending FOLLOW action per followed party: the worker holding its lease follows.
        await tx.cancel_actions(FOLLOW)
        await tx.add_actions([Action(party.id, ActionKind.FOLLOW, d.clock.now(),
                                     {"source": str(source)})])
    await d.wake()
    await d.broadcast(party, lambda zone: _followed(party, source), SentKind.NOTICE,
                      Priority.NORMAL)
    return c.Reply(_followed(party, source), private=True,
                   posted_here=d.in_party(party, ctx.chat))


def _followed(party: Party, source: FeedSource) -> Message:
    return render_feeds.followed(party, source.kind, source.target, source.where())


async def unfollow(d: Deps, ctx: c.Context, cmd: c.UnfollowParty) -> c.Reply:
    """Stop following: the party goes on on the bot's own clock from where the film is now."""
    found = await d.resolve_party(ctx, cmd.party)
    await d.require_host_or_mod(found, ctx, "unfollow")
    async with d.store.party(found.id) as tx:
        party = loaded(tx, found.code)
        if party.follow_source is None:
            raise UserError("not_following", title=party.title)
        party.follow_source = None
        await tx.save()
        await tx.cancel_actions(FOLLOW)
    if d.following is not None:
        await d.following.unfollow(party.id)
    at = position(party, d.clock.now())
    by = ctx.actor.display_name
    await d.broadcast(party, lambda zone: render_feeds.unfollowed(party, at, by), SentKind.NOTICE,
                      Priority.NORMAL)
    return c.Reply(render_feeds.unfollowed(party, at, by), private=True,
                   posted_here=d.in_party(party, ctx.chat))


def feed_line(d: Deps, party: Party) -> Message | None:
    """The source line of `now`/`info` for a followed party: the player and its last position."""
    if party.follow_source is None:
        return None
    status = d.following.status(party.id) if d.following is not None else None
    if status is None:
        try:
            source = parse_source(party.follow_source, (f"{_host(party.follow_source)}",))
        except UserError:
            return None
        return render_feeds.feed_status(source.kind, source.target, source.where(), None,
                                        None, False)
    now = d.clock.now()
    last = status.last
    return render_feeds.feed_status(status.source.kind, status.source.target, status.source.where(),
                              last.position_at(now) if last is not None else None,
                              (now - last.received_at).total_seconds() if last else None,
                              status.lost or status.refused)


def _host(stored: str) -> str:
    """The host:port of a stored source address (to read it back without the allowed list)."""
    return stored.partition("://")[2].partition("/")[0].lower()
