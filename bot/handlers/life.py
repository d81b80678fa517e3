"""A party's life after its creation: edit, history, and its calendar file."""

from __future__ import annotations

from dataclasses import replace

from bot import commands as c
from bot import render_life as life
from bot.calendar import calendar_bytes, filename
from bot.errors import UserError
from bot.guide import Guide
from bot.handlers.deps import Deps, loaded, snapshot_scope
from bot.handlers.parties import TITLE_MAX
from bot.outbox import Priority
from bot.party import Party, PartyState
from bot.planning import PRE_START_KINDS, moved_pre_start_actions
from bot.ports import SentKind
from bot.series import anchor_for
from bot.tally import Fold
from bot.timeparse import parse_when

NO_GUIDE = frozenset({"none", "no", "-"})


def _require_editable(party: Party) -> None:
    if party.state is not PartyState.SCHEDULED:
        raise UserError("edit_too_late", title=party.title, state=party.state.value)


async def edit(d: Deps, ctx: c.Context, cmd: c.EditParty) -> c.Reply:
    """Change a party's title, start or guide before its countdown; everything else stays."""
    if not (cmd.title or cmd.when or cmd.guide):
        raise UserError("edit_nothing")
    found = await d.resolve_party(ctx, cmd.party)
    await d.require_host_or_mod(found, ctx, "edit")
    _require_editable(found)
    now = d.clock.now()
    # Everything is read and checked before the unit of work: a refusal changes nothing.
    title: str | None = None
    if cmd.title is not None:
        title = " ".join(cmd.title.split())
        if not title or len(title) > TITLE_MAX:
            raise UserError("title_invalid", length=len(title), maximum=TITLE_MAX)
    starts_at = parse_when(cmd.when, found.timezone, now) if cmd.when else None
    guide: Guide | None = None
    drop_guide = cmd.guide is not None and cmd.guide.strip().lower() in NO_GUIDE
    if cmd.guide and not drop_guide:
        guide = await d.find_guide(ctx.scope, cmd.guide)
        # The party's own copy, taken before it names the guide (as at creation).
        await d.store.save_guide(snapshot_scope(found), guide.name, guide.model_dump_json())
    async with d.store.party(found.id) as tx:
        party = loaded(tx, found.code)
        _require_editable(party)
        change = life.Change(
            title=(party.title, title) if title is not None and title != party.title else None,
            starts_at=(party.starts_at, starts_at)
            if starts_at is not None and starts_at != party.starts_at else None,
            guide=(party.guide_name, guide.name if guide else None)
            if (guide is not None and guide.name != party.guide_name)
            or (drop_guide and party.guide_name is not None) else None)
        if change == life.Change():
            raise UserError("edit_nothing")
        if change.title is not None:
            party.title = change.title[1]
        if change.guide is not None:
            party.guide_name = change.guide[1]
        party.sequence += 1
        if change.starts_at is not None:
            party.starts_at = change.starts_at[1]
            if party.series is not None:
                # Later episodes follow the moved one, at its new local time.
                party.series = replace(party.series, anchor=anchor_for(
                    party.starts_at, party.timezone, party.series.episode,
                    party.series.repeat_days))
            pending = await tx.pending_actions()
            await tx.cancel_actions(PRE_START_KINDS)
            await tx.add_actions(moved_pre_start_actions(party, pending, now,
                                                         d.config.ready_check,
                                                         d.config.countdown))
            d.reserve_go(party, party.starts_at, release=change.starts_at[0])
        await tx.save()
    if change.guide is not None:
        d.guide_cache[party.id] = guide
    await d.wake()
    d.spawn(d.refresh_announcements(party))
    going = await d.tally(party) if change.starts_at is not None else None
    for chat in party.approved_chats():
        zone = await d.zone_for(chat)
        message = life.edited(party, change, zone, now)
        if going is not None and (await d.store.get_chat_settings(chat)).ping_reminders:
            message = replace(message, mentions=going.going_in(chat))
        d.spawn(d.post(party, chat, message, SentKind.NOTICE, Priority.NORMAL))
    return c.Reply(life.edit_done(party, change, await d.zone_for(ctx.chat), now), private=True,
                   posted_here=d.in_party(party, ctx.chat))


async def _fold(d: Deps, party: Party) -> Fold:
    counted = Fold(reactions=False)
    async for record in d.store.iter_records(party.id):
        counted.add(record)
    return counted


async def history(d: Deps, ctx: c.Context, cmd: c.ShowHistory) -> c.Reply:
    """This chat's finished and cancelled parties, newest first, ten a page."""
    text = (cmd.page or "1").strip()
    page = int(text) if text.isascii() and text.isdigit() else 0
    offset = (max(page, 1) - 1) * life.HISTORY_PAGE
    parties, total = await d.store.party_history(ctx.chat, offset, life.HISTORY_PAGE)
    pages = max(1, -(-total // life.HISTORY_PAGE))
    if page < 1 or page > pages:
        raise UserError("history_page_invalid", text=text, pages=pages)
    entries = []
    for party in parties:
        counted = await _fold(d, party)
        attendance = counted.attendance()
        entries.append(life.HistoryEntry(party, attendance["going"], attendance["ready"],
                                         sum(counted.answers.values())))
    return c.Reply(life.history(entries, page, total, await d.zone_for(ctx.chat)))


async def calendar(d: Deps, ctx: c.Context, cmd: c.CalendarFile) -> c.Reply:
    """The party as an `.ics` file: its start, runtime, join code and the first reminder."""
    party = await d.resolve_party(ctx, cmd.party, ended=True)
    guide = await d.guide_of(party)
    reminders = (await d.store.get_chat_settings(ctx.chat)).reminders
    data = calendar_bytes(party, guide, max(reminders) if reminders else None, d.clock.now())
    return c.Reply(life.calendar_ready(party, guide), private=True,
                   attachment=c.Attachment(filename(party), data))
