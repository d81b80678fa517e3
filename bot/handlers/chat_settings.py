"""A chat's settings, privacy, forget-me and exports."""

from __future__ import annotations

from bot import commands as c
from bot import render
from bot.chats import Creators
from bot.errors import UserError
from bot.export import CHAT_FORMATS, export_bytes, filename
from bot.handlers.deps import Deps
from bot.timeparse import parse_bool, parse_reminders, validate_zone

EXPORT_FORMATS = CHAT_FORMATS


async def export(d: Deps, ctx: c.Context, cmd: c.Export) -> c.Reply:
    """Give a moderator of a linked chat the party's discussion log as a file."""
    await d.require_moderator(ctx, "export")
    if cmd.format not in EXPORT_FORMATS:
        raise UserError("export_format_unknown", format=cmd.format,
                        known=list(EXPORT_FORMATS))
    party = await d.resolve_party(ctx, cmd.party, ended=True)
    if not d.in_party(party, ctx.chat):
        raise UserError("export_not_linked", code=party.code)
    # Streamed from the store, yielding to the loop as it goes; adapters fit the bytes to
    # their upload limit with bot.export.attachment.fit_reply.
    data = await export_bytes(d.store, party, await d.guide_of(party), cmd.format,
                              anonymize=cmd.anonymize, now=d.clock.now())
    return c.Reply(render.export_ready(party, cmd.format, cmd.anonymize), private=True,
                   attachment=c.Attachment(filename(party, cmd.format), data))


async def change_settings(d: Deps, ctx: c.Context, cmd: c.ChangeSettings) -> c.Reply:
    """Show or change this chat's settings (moderators)."""
    await d.require_moderator(ctx, "settings")
    settings = await d.store.get_chat_settings(ctx.chat)
    changed = False
    if cmd.timezone:
        settings.timezone = validate_zone(cmd.timezone)
        changed = True
    if cmd.reminders:
        settings.reminders = parse_reminders(cmd.reminders)
        changed = True
    if cmd.creators:
        try:
            settings.creators = Creators(cmd.creators.strip().lower())
        except ValueError:
            raise UserError("creators_invalid", text=cmd.creators) from None
        changed = True
    if cmd.retention_days:
        text = cmd.retention_days.strip()
        if not text.isdigit() or not 1 <= int(text) <= 3650:
            raise UserError("retention_invalid", text=cmd.retention_days)
        settings.retention_days = int(text)
        changed = True
    if cmd.moderator_role:
        role = cmd.moderator_role.strip().lstrip("@")
        settings.moderator_role = None if role.lower() in {"none", "off", ""} else role
        changed = True
    if cmd.ping_reminders:
        settings.ping_reminders = parse_bool(cmd.ping_reminders)
        changed = True
    if cmd.threads:
        settings.threads = parse_bool(cmd.threads)
        changed = True
    if changed:
        await d.store.save_chat_settings(settings)
    return c.Reply(render.settings_view(settings, d.config.default_timezone, changed))


async def forget_me(d: Deps, ctx: c.Context, cmd: c.ForgetMe) -> c.Reply:
    """Delete the caller's records in this chat and keep them out of later exports."""
    deleted = await d.store.delete_user_records(ctx.chat, ctx.actor.user_id)
    await d.store.add_forgotten(ctx.chat, ctx.actor.user_id, d.clock.now())
    return c.Reply(render.forgotten(deleted), private=True)


async def show_privacy(d: Deps, ctx: c.Context, cmd: c.ShowPrivacy) -> c.Reply:
    """Say what is recorded and how to be forgotten."""
    return c.Reply(render.privacy(), private=True)


async def show_help(d: Deps, ctx: c.Context, cmd: c.ShowHelp) -> c.Reply:
    """List the commands."""
    return c.Reply(render.help_text(), private=True)
