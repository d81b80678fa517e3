"""Linking chats to a party: asking, deciding, unlinking."""

from __future__ import annotations

from bot import buttons, render
from bot import commands as c
from bot.errors import UserError
from bot.handlers import threads
from bot.handlers.deps import Deps, loaded
from bot.outbox import Priority
from bot.party import ACTIVE_STATES, LinkStatus, PartyChat, normalize_code
from bot.ports import SentKind


async def link(d: Deps, ctx: c.Context, cmd: c.LinkChat) -> c.Reply:
    """Ask the home chat to let this chat join its party."""
    await d.require_moderator(ctx, "link")
    code = normalize_code(cmd.code)
    if code is None:
        raise UserError("code_invalid", code=cmd.code)
    found = await d.store.get_party_by_code(code)
    if found is None:
        raise UserError("party_not_found", code=cmd.code)
    async with d.store.party(found.id) as tx:
        party = loaded(tx, cmd.code)
        if party.state not in ACTIVE_STATES:
            raise UserError("party_over", title=party.title, state=party.state.value)
        existing = next((pc for pc in party.chats if pc.chat == ctx.chat), None)
        if existing is not None and existing.status is LinkStatus.APPROVED:
            raise UserError("already_linked", title=party.title)
        if existing is not None and existing.status is LinkStatus.PENDING:
            raise UserError("link_pending", title=party.title)
        await tx.upsert_chat(PartyChat(party.id, ctx.chat, LinkStatus.PENDING,
                                       requested_by=ctx.actor.display_name))
    request = render.link_request(party, ctx.chat, ctx.actor.display_name,
                                  buttons.link(party.id, ctx.chat, True),
                                  buttons.link(party.id, ctx.chat, False))
    d.spawn(d.post(party, party.home, request, SentKind.LINK_REQUEST,
                           Priority.NORMAL))
    return c.Reply(render.link_requested(party))


async def decide_link(d: Deps, ctx: c.Context, cmd: c.DecideLink) -> c.Reply:
    """Approve or decline a link request (host, or a moderator of the home chat)."""
    found = await d.resolve_party(ctx, cmd.party)
    async with d.store.party(found.id) as tx:
        party = loaded(tx, found.code)
        is_host = party.is_host(ctx.actor.platform, ctx.actor.user_id)
        if not is_host and not (ctx.chat == party.home and await ctx.is_moderator()):
            raise UserError("not_allowed", action="approve", who="host_or_home_moderator",
                            host=party.host_name)
        link = next((pc for pc in party.chats if pc.chat == cmd.chat), None)
        if link is None or link.status is not LinkStatus.PENDING:
            raise UserError("link_not_pending", title=party.title)
        status = LinkStatus.APPROVED if cmd.approve else LinkStatus.DECLINED
        await tx.set_link_status(cmd.chat, status)
    notice = render.link_decided(party, cmd.approve, ctx.actor.display_name)
    d.spawn(d.post(party, cmd.chat, notice, SentKind.NOTICE, Priority.NORMAL))
    if cmd.approve:
        d.reserve_go(party, party.starts_at)
        await threads.announce(d, party, cmd.chat)
    return c.Reply(render.link_decided(party, cmd.approve, ctx.actor.display_name))


async def unlink(d: Deps, ctx: c.Context, cmd: c.UnlinkChat) -> c.Reply:
    """Take a linked chat out of a party (the host, or a moderator of that chat).

    The chat's link is marked declined: nothing more is posted there, its records stay in
    the export, and a moderator may ask to link it again later.
    """
    found = await d.resolve_party(ctx, cmd.party)
    target = cmd.chat or ctx.chat
    async with d.store.party(found.id) as tx:
        party = loaded(tx, found.code)
        is_host = party.is_host(ctx.actor.platform, ctx.actor.user_id)
        if not is_host and not (ctx.chat == target and await ctx.is_moderator()):
            raise UserError("not_allowed", action="unlink", who="host_or_linked_moderator",
                            host=party.host_name)
        if target == party.home:
            raise UserError("unlink_home", title=party.title)
        if target not in party.approved_chats():
            raise UserError("not_linked", title=party.title)
        await tx.set_link_status(target, LinkStatus.DECLINED)
    notice = render.unlinked(party, target, ctx.actor.display_name)
    if ctx.chat != party.home:  # there the reply is the notice
        d.spawn(d.post(party, party.home, notice, SentKind.NOTICE, Priority.NORMAL))
    return c.Reply(notice)
