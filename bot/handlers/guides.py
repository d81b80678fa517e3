"""Guides: listing, showing, uploading."""

from __future__ import annotations

from bot import commands as c
from bot import render
from bot.errors import UserError
from bot.guide import Guide, parse_guide, validate_guide_name
from bot.handlers.deps import Deps


async def list_guides(d: Deps, ctx: c.Context, cmd: c.ListGuides) -> c.Reply:
    """List built-in, operator and this chat's uploaded guides."""
    entries: list[tuple[str, str, Guide | None]] = []
    for name in d.guides.builtin_names():
        entries.append(("builtin", name, _try_load(d, name)))
    for name in d.guides.operator_names():
        entries.append(("operator", name, _try_load(d, name)))
    for name in await d.store.list_guides(ctx.scope):
        entries.append(("uploaded", name, None))
    return c.Reply(render.guide_list(entries))


def _try_load(d: Deps, name: str) -> Guide | None:
    try:
        return d.guides.load_file(name)
    except UserError:
        return None


async def show_guide(d: Deps, ctx: c.Context, cmd: c.ShowGuide) -> c.Reply:
    """Show a guide's chapters, prompt times and questions."""
    return c.Reply(render.guide_detail(await d.find_guide(ctx.scope, cmd.name)))


async def upload_guide(d: Deps, ctx: c.Context, cmd: c.UploadGuide) -> c.Reply:
    """Validate and store a guide uploaded by a moderator for this chat."""
    await d.require_moderator(ctx, "upload")
    stem = cmd.filename.rsplit("/", 1)[-1]
    if not stem.lower().endswith(".toml"):
        raise UserError("guide_not_toml", filename=cmd.filename)
    name = validate_guide_name(stem[:-5].lower())
    guide = parse_guide(cmd.data, name)
    await d.store.save_guide(ctx.scope, name, cmd.data.decode("utf-8"))
    return c.Reply(render.guide_uploaded(guide))
