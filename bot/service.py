"""The core's services: every subcommand, button and recorded interaction, and every action."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot import buttons, render
from bot import commands as c
from bot.actions import Action, ActionKind, ActionStatus
from bot.chats import ChatRef, ChatSettings, Creators
from bot.errors import UserError
from bot.export import CHAT_FORMATS, export_bytes, filename
from bot.guide import Guide, GuideLibrary, parse_guide, validate_guide_name
from bot.outbox import Outbox, Priority
from bot.party import (
    ACTIVE_STATES,
    LinkStatus,
    Party,
    PartyChat,
    PartyState,
    new_join_code,
    normalize_code,
)
from bot.ports import Clock, LogEntry, PartyWork, SentKind, SentMessage, Store
from bot.records import Record, RecordKind, Rsvp
from bot.richtext import Message
from bot.timeline import instant_of, position
from bot.timeparse import parse_bool, parse_reminders, parse_when, validate_zone

log = logging.getLogger(__name__)

TITLE_MAX = 100
ANSWER_MAX = 4000
NO_GUIDE_RUNTIME = timedelta(hours=2)
PRE_START_KINDS = frozenset({ActionKind.REMINDER, ActionKind.READY_CHECK, ActionKind.COUNTDOWN,
                             ActionKind.GO})
FILM_KINDS = frozenset({ActionKind.PROMPT, ActionKind.SUMMARY, ActionKind.RESUME_GO})
EXPORT_FORMATS = CHAT_FORMATS

MessageFn = Callable[[str], Message]
ScheduleFn = Callable[[list[Action]], Awaitable[list[Action]]]
Later = Callable[[], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class CoreConfig:
    """The core's knobs, taken from the settings at start-up."""

    default_timezone: str = "UTC"
    grace: timedelta = timedelta(minutes=5)
    countdown: timedelta = timedelta(seconds=10)
    resume_countdown: timedelta = timedelta(seconds=5)
    ready_check: timedelta = timedelta(minutes=2)
    late_note_after: timedelta = timedelta(seconds=15)


@dataclass(frozen=True, slots=True)
class Tally:
    """RSVP and ready counts across every linked chat (latest answer per person counts)."""

    going: int
    maybe: int
    not_going: int
    ready: int
    going_users: tuple[str, ...]


class WatchParty:
    """The core: commands in, messages out through the outbox, actions through the scheduler."""

    def __init__(self, store: Store, clock: Clock, outbox: Outbox, guides: GuideLibrary,
                 config: CoreConfig) -> None:
        self.store = store
        self.clock = clock
        self.outbox = outbox
        self.guides = guides
        self.config = config
        self._schedule_hook: list[ScheduleFn] = []
        self._guide_cache: dict[int, Guide | None] = {}
        self._background: set[asyncio.Task[Any]] = set()
        self._refreshing: dict[tuple[str, int], Party] = {}
        self._refresh_again: set[tuple[str, int]] = set()
        self._deliveries: dict[int, list[Awaitable[str | None]]] = {}
        self._delivering: dict[int, asyncio.Future[None]] = {}

    # ---- wiring -------------------------------------------------------------------------

    def on_schedule(self, fn: ScheduleFn) -> None:
        """Register how new actions reach the scheduler (the composition root wires this)."""
        self._schedule_hook.append(fn)

    async def _schedule(self, actions: list[Action]) -> None:
        if not actions:
            return
        if not self._schedule_hook:
            await self.store.add_actions(actions)
            return
        await self._schedule_hook[0](actions)

    async def _wake(self) -> None:
        """Wake the scheduler for actions a unit of work stored (it adds nothing more)."""
        if self._schedule_hook:
            await self._schedule_hook[0]([])

    async def drain(self) -> None:
        """Wait for background posts (announcements, edits) started by commands."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)

    def _spawn(self, coro: Coroutine[Any, Any, object]) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        task.add_done_callback(_log_failure)

    # ---- entry point ----------------------------------------------------------------------

    async def handle(self, ctx: c.Context, cmd: c.Command) -> c.Reply | None:
        """Run one command; UserErrors propagate for the adapter's error translator.

        Returns None when there is nothing to say (a reaction on a message that is not a
        party's, for instance).
        """
        match cmd:
            case c.CreateParty():
                return await self.create(ctx, cmd)
            case c.ListParties():
                return await self.list_parties(ctx)
            case c.ShowInfo():
                return await self.info(ctx, cmd)
            case c.SetRsvp():
                return await self.set_rsvp(ctx, cmd)
            case c.MarkReady():
                return await self.ready(ctx, cmd)
            case c.LinkChat():
                return await self.link(ctx, cmd)
            case c.DecideLink():
                return await self.decide_link(ctx, cmd)
            case c.UnlinkChat():
                return await self.unlink(ctx, cmd)
            case c.StartParty():
                return await self.start(ctx, cmd)
            case c.PauseParty():
                return await self.pause(ctx, cmd)
            case c.ResumeParty():
                return await self.resume(ctx, cmd)
            case c.CancelParty():
                return await self.cancel(ctx, cmd)
            case c.ListGuides():
                return await self.list_guides(ctx)
            case c.ShowGuide():
                return await self.show_guide(ctx, cmd)
            case c.UploadGuide():
                return await self.upload_guide(ctx, cmd)
            case c.Export():
                return await self.export(ctx, cmd)
            case c.ChangeSettings():
                return await self.change_settings(ctx, cmd)
            case c.ShowPrivacy():
                return c.Reply(render.privacy(), private=True)
            case c.ForgetMe():
                return await self.forget_me(ctx)
            case c.ShowHelp():
                return c.Reply(render.help_text(), private=True)
            case c.RecordAnswer():
                return await self.record_answer(ctx, cmd)
            case c.RecordReaction():
                await self.record_reaction(ctx, cmd)
                return None
            case c.RecordReactionCount():
                await self.record_reaction_count(ctx, cmd)
                return None
            case c.RecordPollVote():
                await self.record_poll_vote(ctx, cmd)
                return None
        raise AssertionError(f"unhandled command {cmd!r}")

    # ---- lookups --------------------------------------------------------------------------

    async def settings_for(self, chat: ChatRef) -> ChatSettings:
        """Return a chat's settings (adapters read the moderator role from here)."""
        return await self.store.get_chat_settings(chat)

    async def zone_for(self, chat: ChatRef) -> str:
        """Return the display zone of a chat."""
        settings = await self.store.get_chat_settings(chat)
        return settings.timezone or self.config.default_timezone

    async def resolve_party(self, ctx: c.Context, ref: str | None) -> Party:
        """Find a party by join code, by `#id` (buttons), or the chat's current one."""
        if ref:
            party: Party | None = None
            if ref.startswith("#") and ref[1:].isdigit():
                party = await self.store.get_party(int(ref[1:]))
            else:
                code = normalize_code(ref)
                if code is None:
                    raise UserError("code_invalid", code=ref)
                party = await self.store.get_party_by_code(code)
            if party is None:
                raise UserError("party_not_found", code=ref)
            return party
        parties = await self.store.parties_for_chat(ctx.chat, ACTIVE_STATES)
        if not parties:
            raise UserError("no_party_here")
        running = [p for p in parties if p.state is not PartyState.SCHEDULED]
        return running[0] if running else parties[0]

    def _in_party(self, party: Party, chat: ChatRef) -> bool:
        return chat in party.approved_chats()

    async def _require_host_or_mod(self, party: Party, ctx: c.Context, action: str) -> None:
        if party.is_host(ctx.actor.platform, ctx.actor.user_id):
            return
        if self._in_party(party, ctx.chat) and await ctx.is_moderator():
            return
        raise UserError("not_allowed", action=action, who="host_or_moderator",
                        host=party.host_name)

    async def _require_moderator(self, ctx: c.Context, action: str) -> None:
        if not await ctx.is_moderator():
            raise UserError("not_allowed", action=action, who="moderator")

    async def guide_of(self, party: Party) -> Guide | None:
        """Return the guide a party was created with (a snapshot taken at creation)."""
        if party.id in self._guide_cache:
            return self._guide_cache[party.id]
        guide = await load_party_guide(self.store, party)
        self._guide_cache[party.id] = guide
        return guide

    async def find_guide(self, scope: str, name: str) -> Guide:
        """Return a guide by name: this chat's uploads first, then operator and built-in ones."""
        key = name.strip().lower()
        source = await self.store.get_guide_source(scope, key)
        if source is not None:
            return parse_guide(source, key)
        try:
            return self.guides.load_file(key)
        except UserError as err:
            if err.key == "guide_unknown":
                uploaded = await self.store.list_guides(scope)
                err.params["known"] = sorted({*err.params.get("known", []), *uploaded})
            raise

    async def tally(self, party: Party) -> Tally:
        """Count RSVPs and ready marks across every chat, latest answer per person."""
        latest: dict[tuple[str, str], str] = {}
        ready: set[tuple[str, str]] = set()
        async for rec in self.store.iter_records(party.id):
            who = (rec.platform, rec.user_id)
            if rec.kind is RecordKind.RSVP:
                latest[who] = rec.value
            elif rec.kind is RecordKind.READY:
                ready.add(who)
        counts = Counter(latest.values())
        going = tuple(uid for (plat, uid), v in latest.items() if v == Rsvp.GOING.value)
        return Tally(counts[Rsvp.GOING.value], counts[Rsvp.MAYBE.value],
                     counts[Rsvp.NOT_GOING.value], len(ready), going)

    # ---- posting --------------------------------------------------------------------------

    async def _post(self, party: Party, chat: ChatRef, message: Message, kind: SentKind,
                    priority: Priority, *, action_id: int | None = None,
                    prompt: str | None = None) -> str | None:
        """Send through the outbox and remember the message; None if it could not be sent."""
        return await self._queue_post(party, chat, message, kind, priority,
                                      action_id=action_id, prompt=prompt)

    def _queue_post(self, party: Party, chat: ChatRef, message: Message, kind: SentKind,
                    priority: Priority, *, action_id: int | None = None,
                    prompt: str | None = None) -> Awaitable[str | None]:
        """Queue a message now; the awaitable remembers it once delivered (None: not sent)."""
        try:
            sent: Awaitable[str] = self.outbox.send(chat, message, priority)
        except Exception as exc:
            sent = _failed(exc)
        return self._remember(sent, party, chat, kind, action_id, prompt)

    async def _remember(self, sent: Awaitable[str], party: Party, chat: ChatRef, kind: SentKind,
                        action_id: int | None, prompt: str | None) -> str | None:
        try:
            message_id = await sent
        except Exception:
            log.warning("could not post %s of party %s to %s", kind.value, party.id, chat,
                        exc_info=True)
            return None
        await self.store.add_sent_message(SentMessage(party.id, chat, message_id, kind,
                                                      prompt, action_id))
        return message_id

    async def _announcement(self, party: Party, chat: ChatRef) -> Message:
        guide = await self.guide_of(party)
        zone = await self.zone_for(chat)
        return render.announcement(party, guide, await self.tally(party), zone,
                                   self.clock.now())

    async def _refresh_announcements(self, party: Party) -> None:
        """Edit every announcement of a party so counts and state stay current."""
        await self._coalesced("announcement", party, self._edit_announcements)

    async def _edit_announcements(self, party: Party) -> None:
        for sent in await self.store.sent_messages(party.id, SentKind.ANNOUNCEMENT):
            if not self._in_party(party, sent.chat):
                continue
            message = await self._announcement(party, sent.chat)
            with contextlib.suppress(Exception):
                self.outbox.edit(sent.chat, sent.message_id, message, Priority.REFRESH)

    async def _refresh_ready_checks(self, party: Party) -> None:
        await self._coalesced("ready_check", party, self._edit_ready_checks)

    async def _edit_ready_checks(self, party: Party) -> None:
        tally = await self.tally(party)
        for sent in await self.store.sent_messages(party.id, SentKind.READY_CHECK):
            message = render.ready_check(party, tally, party.state is PartyState.SCHEDULED)
            with contextlib.suppress(Exception):
                self.outbox.edit(sent.chat, sent.message_id, message, Priority.REFRESH)

    async def _coalesced(self, what: str, party: Party,
                         work: Callable[[Party], Awaitable[None]]) -> None:
        """Run one refresh of a party at a time; one asked for meanwhile runs once more after.

        Edits are queued, not awaited: the outbox merges them into one per message, and the
        refresh that runs last reads every record stored before it, so the last edit is final.
        """
        key = (what, party.id)
        running = key in self._refreshing
        self._refreshing[key] = party
        if running:
            self._refresh_again.add(key)
            return
        try:
            while True:
                self._refresh_again.discard(key)
                await work(self._refreshing[key])
                if key not in self._refresh_again:
                    break
        finally:
            del self._refreshing[key]
            self._refresh_again.discard(key)

    def _reserve_go(self, party: Party, at: datetime | None, *,
                    release: datetime | None = None) -> None:
        """Tell the outbox a GO is due at `at` in every chat, so their budget is kept for it."""
        for chat in party.approved_chats():
            with contextlib.suppress(ValueError):  # a platform with no gateway in this process
                if release is not None and release != at:
                    self.outbox.release(chat, release)
                if at is not None and at > self.clock.now():
                    self.outbox.reserve(chat, at)

    async def _broadcast(self, party: Party, build: MessageFn, kind: SentKind,
                         priority: Priority) -> None:
        """Post a message to every linked chat now (not for actions: they use _fire_post)."""
        for chat in party.approved_chats():
            message = build(await self.zone_for(chat))
            self._spawn(self._post(party, chat, message, kind, priority))

    # ---- create / list / info -----------------------------------------------------------

    async def create(self, ctx: c.Context, cmd: c.CreateParty) -> c.Reply:
        """Create a party, schedule its actions and post its announcement."""
        settings = await self.store.get_chat_settings(ctx.chat)
        if settings.creators is Creators.MODERATORS and not await ctx.is_moderator():
            raise UserError("not_allowed", action="create", who="moderator")
        title = " ".join(cmd.title.split())
        if not title or len(title) > TITLE_MAX:
            raise UserError("title_invalid", length=len(title), maximum=TITLE_MAX)
        zone = validate_zone(cmd.timezone or settings.timezone or self.config.default_timezone)
        now = self.clock.now()
        starts_at = parse_when(cmd.when, zone, now)
        guide = await self.find_guide(ctx.scope, cmd.guide) if cmd.guide else None
        code = new_join_code()
        while await self.store.get_party_by_code(code) is not None:
            code = new_join_code()
        # The party and its first actions are stored together: a party never lacks its GO.
        async with self.store.new_party(Party(
                id=0, code=code, title=title, host_platform=ctx.actor.platform,
                host_user_id=ctx.actor.user_id, host_name=ctx.actor.display_name, home=ctx.chat,
                starts_at=starts_at, timezone=zone, guide_name=guide.name if guide else None,
                state=PartyState.SCHEDULED, created_at=now,
                chats=[PartyChat(0, ctx.chat, LinkStatus.APPROVED, is_home=True)])) as tx:
            party = _loaded(tx, code)
            self._guide_cache[party.id] = guide
            await tx.add_actions(self._pre_start_actions(party, settings, now))
        if guide is not None:
            await self.store.save_guide(_snapshot_scope(party), guide.name,
                                        guide.model_dump_json())
        await self._wake()
        self._reserve_go(party, party.starts_at)
        self._spawn(self._post(party, ctx.chat, await self._announcement(party, ctx.chat),
                               SentKind.ANNOUNCEMENT, Priority.NORMAL))
        return c.Reply(render.created(party, guide, zone), private=True)

    def _pre_start_actions(self, party: Party, settings: ChatSettings,
                           now: datetime) -> list[Action]:
        actions = [Action(party.id, ActionKind.REMINDER, party.starts_at - before,
                          {"before": int(before.total_seconds())})
                   for before in settings.reminders if party.starts_at - before > now]
        ready_at = party.starts_at - self.config.ready_check
        if ready_at > now:
            actions.append(Action(party.id, ActionKind.READY_CHECK, ready_at))
        countdown_at = max(now, party.starts_at - self.config.countdown)
        actions.append(Action(party.id, ActionKind.COUNTDOWN, countdown_at))
        actions.append(Action(party.id, ActionKind.GO, party.starts_at))
        return actions

    async def list_parties(self, ctx: c.Context) -> c.Reply:
        """List this chat's upcoming and running parties."""
        parties = await self.store.parties_for_chat(ctx.chat, ACTIVE_STATES)
        zone = await self.zone_for(ctx.chat)
        return c.Reply(render.party_list(parties, zone, self.clock.now()))

    async def info(self, ctx: c.Context, cmd: c.ShowInfo) -> c.Reply:
        """Say where a party is: when it starts, or where the film should be now."""
        party = await self.resolve_party(ctx, cmd.party)
        zone = await self.zone_for(ctx.chat)
        now = self.clock.now()
        return c.Reply(render.info(party, await self.guide_of(party), await self.tally(party),
                                   position(party, now), zone, now))

    # ---- RSVP, ready ------------------------------------------------------------------------

    async def _record(self, ctx: c.Context, party: Party, kind: RecordKind, value: str, *,
                      prompt: str | None = None, message_id: str | None = None,
                      event: str | None = None) -> Record:
        now = self.clock.now()
        return await self.store.add_record(Record(
            party_id=party.id, kind=kind, platform=ctx.chat.platform, chat_id=ctx.chat.chat_id,
            user_id=ctx.actor.user_id, display_name=ctx.actor.display_name, at=now,
            position=position(party, now), value=value, prompt=prompt, message_id=message_id,
            event=event or ctx.event))

    def _require_member_chat(self, party: Party, ctx: c.Context) -> None:
        if not self._in_party(party, ctx.chat):
            raise UserError("party_not_in_chat", code=party.code)

    async def set_rsvp(self, ctx: c.Context, cmd: c.SetRsvp) -> c.Reply:
        """Record Going / Maybe / Not going and update the announcements."""
        party = await self.resolve_party(ctx, cmd.party)
        self._require_member_chat(party, ctx)
        if party.state not in ACTIVE_STATES:
            raise UserError("party_over", title=party.title, state=party.state.value)
        status = Rsvp(cmd.status)
        await self._record(ctx, party, RecordKind.RSVP, status.value)
        self._spawn(self._refresh_announcements(party))
        return c.Reply(render.rsvp_done(party, status), private=True)

    async def ready(self, ctx: c.Context, cmd: c.MarkReady) -> c.Reply:
        """Record a ready mark; start the countdown if the `ready N` target is reached."""
        party = await self.resolve_party(ctx, cmd.party)
        self._require_member_chat(party, ctx)
        if party.state not in (PartyState.SCHEDULED, PartyState.COUNTING_DOWN):
            raise UserError("ready_too_late", title=party.title, state=party.state.value)
        await self._record(ctx, party, RecordKind.READY, "ready")
        started = False
        async with self.store.party(party.id) as tx:
            party = _loaded(tx, party.code)
            tally = await self.tally(party)
            if (party.state is PartyState.SCHEDULED and party.ready_target is not None
                    and tally.ready >= party.ready_target):
                await self._start_countdown(tx, party)
                started = True
        if started:
            await self._countdown_started(party)
        self._spawn(self._refresh_ready_checks(party))
        return c.Reply(render.ready_done(party, tally), private=True)



    # ---- linking --------------------------------------------------------------------------

    async def link(self, ctx: c.Context, cmd: c.LinkChat) -> c.Reply:
        """Ask the home chat to let this chat join its party."""
        await self._require_moderator(ctx, "link")
        code = normalize_code(cmd.code)
        if code is None:
            raise UserError("code_invalid", code=cmd.code)
        found = await self.store.get_party_by_code(code)
        if found is None:
            raise UserError("party_not_found", code=cmd.code)
        async with self.store.party(found.id) as tx:
            party = _loaded(tx, cmd.code)
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
        self._spawn(self._post(party, party.home, request, SentKind.LINK_REQUEST,
                               Priority.NORMAL))
        return c.Reply(render.link_requested(party))

    async def decide_link(self, ctx: c.Context, cmd: c.DecideLink) -> c.Reply:
        """Approve or decline a link request (host, or a moderator of the home chat)."""
        found = await self.resolve_party(ctx, cmd.party)
        async with self.store.party(found.id) as tx:
            party = _loaded(tx, found.code)
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
        self._spawn(self._post(party, cmd.chat, notice, SentKind.NOTICE, Priority.NORMAL))
        if cmd.approve:
            self._reserve_go(party, party.starts_at)
            self._spawn(self._post(party, cmd.chat, await self._announcement(party, cmd.chat),
                                   SentKind.ANNOUNCEMENT, Priority.NORMAL))
        return c.Reply(render.link_decided(party, cmd.approve, ctx.actor.display_name))

    async def unlink(self, ctx: c.Context, cmd: c.UnlinkChat) -> c.Reply:
        """Take a linked chat out of a party (the host, or a moderator of that chat).

        The chat's link is marked declined: nothing more is posted there, its records stay in
        the export, and a moderator may ask to link it again later.
        """
        found = await self.resolve_party(ctx, cmd.party)
        target = cmd.chat or ctx.chat
        async with self.store.party(found.id) as tx:
            party = _loaded(tx, found.code)
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
            self._spawn(self._post(party, party.home, notice, SentKind.NOTICE, Priority.NORMAL))
        return c.Reply(notice)

    # ---- start, pause, resume, cancel -----------------------------------------------------

    async def start(self, ctx: c.Context, cmd: c.StartParty) -> c.Reply:
        """Start the countdown now, or when N people are ready."""
        found = await self.resolve_party(ctx, cmd.party)
        await self._require_host_or_mod(found, ctx, "start")
        words = cmd.when.strip().lower().split()
        started = False
        async with self.store.party(found.id) as tx:
            party = _loaded(tx, found.code)
            if party.state is not PartyState.SCHEDULED:
                raise UserError("invalid_transition", title=party.title,
                                state=party.state.value, target=PartyState.COUNTING_DOWN.value)
            if words == ["now"] or not words:
                await self._start_countdown(tx, party)
                started = True
            elif len(words) == 2 and words[0] == "ready" and words[1].isdigit():
                target = int(words[1])
                if not 1 <= target <= 10_000:
                    raise UserError("start_when_invalid", text=cmd.when)
                party.ready_target = target
                await tx.save()
                tally = await self.tally(party)
                if tally.ready >= target:
                    await self._start_countdown(tx, party)
                    started = True
            else:
                raise UserError("start_when_invalid", text=cmd.when)
        if not started:
            return c.Reply(render.waiting_for_ready(party, tally))
        await self._countdown_started(party)
        return c.Reply(render.starting(party))

    async def _start_countdown(self, tx: PartyWork, party: Party) -> None:
        """Move the start to now + countdown in the unit of work; `_countdown_started` posts."""
        await tx.cancel_actions(PRE_START_KINDS)
        planned = party.starts_at
        party.starts_at = self.clock.now().replace(microsecond=0) + self.config.countdown
        self._reserve_go(party, party.starts_at, release=planned)
        party.transition(PartyState.COUNTING_DOWN)
        await tx.save()
        await tx.add_actions([Action(party.id, ActionKind.GO, party.starts_at)])

    async def _countdown_started(self, party: Party) -> None:
        """After the countdown's unit of work commits: wake the timer, post the countdown."""
        await self._wake()
        await self._broadcast(party, lambda zone: render.countdown(party, zone),
                              SentKind.COUNTDOWN, Priority.COUNTDOWN)
        self._spawn(self._refresh_announcements(party))

    async def pause(self, ctx: c.Context, cmd: c.PauseParty) -> c.Reply:
        """Pause the film clock; every later prompt waits."""
        found = await self.resolve_party(ctx, cmd.party)
        await self._require_host_or_mod(found, ctx, "pause")
        async with self.store.party(found.id) as tx:
            party = _loaded(tx, found.code)
            if party.state is PartyState.PAUSED:
                raise UserError("already_paused", title=party.title)
            party.transition(PartyState.PAUSED)
            now = self.clock.now()
            party.paused_at = now
            await tx.save()
            await tx.cancel_actions(FILM_KINDS)
            at = position(party, now) or 0.0
        await self._broadcast(party, lambda zone: render.paused(party, at, ctx.actor.display_name),
                              SentKind.NOTICE, Priority.COUNTDOWN)
        return c.Reply(render.paused(party, at, ctx.actor.display_name), private=True,
                       posted_here=self._in_party(party, ctx.chat))

    async def resume(self, ctx: c.Context, cmd: c.ResumeParty) -> c.Reply:
        """Post a short countdown, then GO again from where the film was paused."""
        found = await self.resolve_party(ctx, cmd.party)
        await self._require_host_or_mod(found, ctx, "resume")
        async with self.store.party(found.id) as tx:
            party = _loaded(tx, found.code)
            if party.state is not PartyState.PAUSED:
                raise UserError("invalid_transition", title=party.title,
                                state=party.state.value, target=PartyState.PLAYING.value)
            if party.resume_at is not None:
                raise UserError("already_resuming", title=party.title)
            seconds = int(self.config.resume_countdown.total_seconds())
            party.resume_at = self.clock.now().replace(microsecond=0) + self.config.resume_countdown
            await tx.save()
            await tx.add_actions([Action(party.id, ActionKind.RESUME_GO, party.resume_at)])
            self._reserve_go(party, party.resume_at)
            at = position(party, self.clock.now()) or 0.0
        await self._wake()
        await self._broadcast(party, lambda zone: render.resume_countdown(party, at, zone, seconds),
                              SentKind.COUNTDOWN, Priority.COUNTDOWN)
        return c.Reply(render.resume_countdown(party, at, await self.zone_for(ctx.chat), seconds),
                       private=True, posted_here=self._in_party(party, ctx.chat))

    async def cancel(self, ctx: c.Context, cmd: c.CancelParty) -> c.Reply:
        """Cancel a party that has not finished; its pending actions go with it."""
        found = await self.resolve_party(ctx, cmd.party)
        await self._require_host_or_mod(found, ctx, "cancel")
        async with self.store.party(found.id) as tx:
            party = _loaded(tx, found.code)
            party.transition(PartyState.CANCELLED)
            party.finished_at = self.clock.now()
            await tx.save()
            await tx.cancel_actions(frozenset(ActionKind))
            self._reserve_go(party, None, release=party.starts_at)
        # Retention actions belong to no party (they outlive it): stored once the party is.
        await self._schedule_retention(party, party.finished_at)
        await self._broadcast(party, lambda zone: render.cancelled(party, ctx.actor.display_name),
                              SentKind.NOTICE, Priority.NORMAL)
        self._spawn(self._refresh_announcements(party))
        return c.Reply(render.cancelled(party, ctx.actor.display_name), private=True,
                       posted_here=self._in_party(party, ctx.chat))

    # ---- guides ---------------------------------------------------------------------------

    async def list_guides(self, ctx: c.Context) -> c.Reply:
        """List built-in, operator and this chat's uploaded guides."""
        entries: list[tuple[str, str, Guide | None]] = []
        for name in self.guides.builtin_names():
            entries.append(("builtin", name, self._try_load(name)))
        for name in self.guides.operator_names():
            entries.append(("operator", name, self._try_load(name)))
        for name in await self.store.list_guides(ctx.scope):
            entries.append(("uploaded", name, None))
        return c.Reply(render.guide_list(entries))

    def _try_load(self, name: str) -> Guide | None:
        try:
            return self.guides.load_file(name)
        except UserError:
            return None

    async def show_guide(self, ctx: c.Context, cmd: c.ShowGuide) -> c.Reply:
        """Show a guide's chapters, prompt times and questions."""
        return c.Reply(render.guide_detail(await self.find_guide(ctx.scope, cmd.name)))

    async def upload_guide(self, ctx: c.Context, cmd: c.UploadGuide) -> c.Reply:
        """Validate and store a guide uploaded by a moderator for this chat."""
        await self._require_moderator(ctx, "upload")
        stem = cmd.filename.rsplit("/", 1)[-1]
        if not stem.lower().endswith(".toml"):
            raise UserError("guide_not_toml", filename=cmd.filename)
        name = validate_guide_name(stem[:-5].lower())
        guide = parse_guide(cmd.data, name)
        await self.store.save_guide(ctx.scope, name, cmd.data.decode("utf-8"))
        return c.Reply(render.guide_uploaded(guide))

    # ---- export, settings, privacy --------------------------------------------------------

    async def export(self, ctx: c.Context, cmd: c.Export) -> c.Reply:
        """Give a moderator of a linked chat the party's discussion log as a file."""
        await self._require_moderator(ctx, "export")
        if cmd.format not in EXPORT_FORMATS:
            raise UserError("export_format_unknown", format=cmd.format,
                            known=list(EXPORT_FORMATS))
        party = await self.resolve_party(ctx, cmd.party)
        if not self._in_party(party, ctx.chat):
            raise UserError("export_not_linked", code=party.code)
        # Streamed from the store, yielding to the loop as it goes; adapters fit the bytes to
        # their upload limit with bot.export.attachment.fit_reply.
        data = await export_bytes(self.store, party, await self.guide_of(party), cmd.format,
                                  anonymize=cmd.anonymize, now=self.clock.now())
        return c.Reply(render.export_ready(party, cmd.format, cmd.anonymize), private=True,
                       attachment=c.Attachment(filename(party, cmd.format), data))

    async def change_settings(self, ctx: c.Context, cmd: c.ChangeSettings) -> c.Reply:
        """Show or change this chat's settings (moderators)."""
        await self._require_moderator(ctx, "settings")
        settings = await self.store.get_chat_settings(ctx.chat)
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
        if changed:
            await self.store.save_chat_settings(settings)
        return c.Reply(render.settings_view(settings, self.config.default_timezone, changed))

    async def forget_me(self, ctx: c.Context) -> c.Reply:
        """Delete the caller's records in this chat and keep them out of later exports."""
        deleted = await self.store.delete_user_records(ctx.chat, ctx.actor.user_id)
        await self.store.add_forgotten(ctx.chat, ctx.actor.user_id, self.clock.now())
        return c.Reply(render.forgotten(deleted), private=True)

    # ---- recorded interactions ------------------------------------------------------------

    async def record_answer(self, ctx: c.Context, cmd: c.RecordAnswer) -> c.Reply | None:
        """Record an answer to a prompt; messages unrelated to a party are ignored."""
        if cmd.message_id is not None:
            found = await self._party_message(ctx.chat, cmd.message_id, SentKind.PROMPT)
            if found is None:
                return None
            party = found[1]
            prompt = found[0].prompt
        else:
            party = await self.resolve_party(ctx, cmd.party)
            prompt = cmd.prompt
        if prompt is None:
            return None
        self._require_member_chat(party, ctx)
        text = cmd.text.strip()
        if not text:
            raise UserError("answer_empty")
        if len(text) > ANSWER_MAX:
            raise UserError("answer_too_long", length=len(text), maximum=ANSWER_MAX)
        await self._record(ctx, party, RecordKind.ANSWER, text, prompt=prompt,
                           message_id=cmd.message_id)
        return c.Reply(render.answer_recorded(party, prompt, ctx.actor.display_name, text))

    async def _party_message(self, chat: ChatRef, message_id: str,
                             kind: SentKind | None = None) -> tuple[SentMessage, Party] | None:
        """The party message a reply, reaction or vote concerns; None for any other message."""
        sent = await self.store.find_sent_message(chat, message_id)
        if sent is None or (kind is not None and sent.kind is not kind):
            return None
        party = await self.store.get_party(sent.party_id)
        return None if party is None else (sent, party)

    async def record_reaction(self, ctx: c.Context, cmd: c.RecordReaction) -> None:
        """Record a reaction added to or removed from a party message."""
        found = await self._party_message(ctx.chat, cmd.message_id)
        if found is None:
            return
        sent, party = found
        kind = RecordKind.REACTION_ADDED if cmd.added else RecordKind.REACTION_REMOVED
        await self._record(ctx, party, kind, cmd.emoji, prompt=sent.prompt,
                           message_id=cmd.message_id)

    async def record_reaction_count(self, ctx: c.Context, cmd: c.RecordReactionCount) -> None:
        """Turn the totals of anonymous reactions on a party message into added/removed records.

        The actor stands for everyone anonymous; what is stored is the difference between the
        totals and what that actor's records already add up to, so a repeated update adds nothing.
        """
        found = await self._party_message(ctx.chat, cmd.message_id)
        if found is None:
            return
        sent, party = found
        have: Counter[str] = Counter()
        async for rec in self.store.iter_records(party.id):
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
                await self._record(ctx, party, RecordKind.REACTION_ADDED if added
                                   else RecordKind.REACTION_REMOVED, emoji,
                                   prompt=sent.prompt, message_id=cmd.message_id,
                                   event=event)

    async def record_poll_vote(self, ctx: c.Context, cmd: c.RecordPollVote) -> None:
        """Record a vote in a guide poll (the option texts, or empty for a retraction)."""
        found = await self._party_message(ctx.chat, cmd.message_id, SentKind.POLL)
        if found is None:
            return
        sent, party = found
        guide = await self.guide_of(party)
        options: tuple[str, ...] = ()
        if guide is not None and sent.prompt is not None:
            chapter = guide.chapters[int(sent.prompt.split(".")[0]) - 1]
            if chapter.poll is not None:
                options = chapter.poll.options
        labels = [options[i] if 0 <= i < len(options) else str(i) for i in cmd.options]
        await self._record(ctx, party, RecordKind.POLL_VOTE, " | ".join(labels),
                           prompt=sent.prompt, message_id=cmd.message_id)

    # ---- platform bookkeeping (for adapters) ---------------------------------------------

    async def remember_message_ref(self, platform: str, ref: str, chat: ChatRef,
                                   message_id: str) -> None:
        """Durably remember a platform's own name for a posted message (a Telegram poll id)."""
        await self.store.save_message_ref(platform, ref, chat, message_id)

    async def find_message_ref(self, platform: str, ref: str) -> tuple[ChatRef, str] | None:
        """Return the chat and message id remembered for a platform's name of a message."""
        return await self.store.find_message_ref(platform, ref)

    async def is_party_message(self, chat: ChatRef, message_id: str) -> bool:
        """Return whether a posted message is known as a party's (stored once it was posted)."""
        return await self.store.find_sent_message(chat, message_id) is not None

    async def move_chat(self, old: ChatRef, new: ChatRef) -> None:
        """A chat got a new id (a Telegram group became a supergroup): everything follows it."""
        if old == new:
            return
        await self.store.move_chat(old, new)
        log.info("moved the parties and records of %s to %s", old, new)

    # ---- actions --------------------------------------------------------------------------

    async def fire(self, action: Action, now: datetime) -> ActionStatus:
        """Carry out one due action; one too late for the grace period is skipped and logged."""
        if action.kind is ActionKind.RETENTION:
            return await self._fire_retention(action)
        if action.party_id is None:
            return ActionStatus.SKIPPED
        assert action.id is not None
        earlier = self._delivering.get(action.id)
        if earlier is not None:
            # The same action is still being delivered: what it posted is stored first.
            await earlier
        delivered: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._delivering[action.id] = delivered
        try:
            return await self._fire_work(action, action.party_id, now)
        finally:
            # The party is free again while its messages go out: a slow chat stops nobody.
            try:
                await asyncio.gather(*self._deliveries.pop(action.id, []))
            finally:
                del self._delivering[action.id]
                delivered.set_result(None)

    async def _fire_work(self, action: Action, party_id: int, now: datetime) -> ActionStatus:
        """Decide and store what an action does in one unit of work; deliver after it commits."""
        later: list[Later] = []
        async with self.store.party(party_id) as tx:
            party = tx.party
            if party is None:
                return ActionStatus.SKIPPED
            lateness = now - action.due_at
            too_late = lateness > self.config.grace
            late = lateness if lateness > self.config.late_note_after else None
            status = await self._fire_party_action(tx, party, action, now, too_late, late, later)
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

    async def _fire_party_action(self, tx: PartyWork, party: Party, action: Action,
                                 now: datetime, too_late: bool, late: timedelta | None,
                                 later: list[Later]) -> ActionStatus:
        kind = action.kind
        if kind is ActionKind.REMINDER or kind is ActionKind.READY_CHECK:
            if party.state is not PartyState.SCHEDULED or too_late:
                return ActionStatus.SKIPPED
            self._reserve_go(party, party.starts_at)  # again: a restart forgets reservations
            tally = await self.tally(party)
            settings = await self.store.get_chat_settings(party.home)
            if kind is ActionKind.REMINDER:
                mentions = tally.going_users if settings.ping_reminders else ()
                await self._fire_post(party, action, SentKind.REMINDER, Priority.NORMAL,
                                      lambda zone: render.reminder(party, zone, now, mentions),
                                      late, later)
            else:
                await self._fire_post(party, action, SentKind.READY_CHECK, Priority.NORMAL,
                                      lambda zone: render.ready_check(party, tally, True), late,
                                      later)
            return ActionStatus.DONE
        if kind is ActionKind.COUNTDOWN:
            if party.state is not PartyState.SCHEDULED:
                return ActionStatus.SKIPPED
            party.transition(PartyState.COUNTING_DOWN)
            await tx.save()
            if too_late or now >= party.starts_at:
                return ActionStatus.SKIPPED
            self._reserve_go(party, party.starts_at)
            await self._fire_post(party, action, SentKind.COUNTDOWN, Priority.COUNTDOWN,
                                  lambda zone: render.countdown(party, zone), None, later)
            later.append(self._later_refresh(party))
            return ActionStatus.DONE
        if kind is ActionKind.GO:
            if party.state is PartyState.SCHEDULED:
                party.transition(PartyState.COUNTING_DOWN)
            if party.state is not PartyState.COUNTING_DOWN:
                return ActionStatus.SKIPPED
            party.transition(PartyState.PLAYING)
            party.go_at = action.due_at
            await tx.save()
            await tx.add_actions(await self._film_actions(party, now))
            later.append(self._wake)
            if too_late:
                return ActionStatus.SKIPPED
            await self._fire_post(party, action, SentKind.GO, Priority.GO,
                                  lambda zone: render.go(party, 0.0), late, later)
            later.append(self._later_refresh(party))
            return ActionStatus.DONE
        if kind is ActionKind.RESUME_GO:
            if party.state is not PartyState.PAUSED or party.resume_at is None:
                return ActionStatus.SKIPPED
            assert party.paused_at is not None
            at = position(party, now) or 0.0
            party.paused_seconds += (party.resume_at - party.paused_at).total_seconds()
            party.paused_at = None
            party.resume_at = None
            party.transition(PartyState.PLAYING)
            await tx.save()
            await tx.add_actions(await self._film_actions(party, now))
            later.append(self._wake)
            if too_late:
                return ActionStatus.SKIPPED
            await self._fire_post(party, action, SentKind.GO, Priority.GO,
                                  lambda zone: render.go(party, at), late, later)
            return ActionStatus.DONE
        if kind is ActionKind.PROMPT:
            if party.state is not PartyState.PLAYING or too_late:
                return ActionStatus.SKIPPED
            await self._fire_prompt(party, action, late, later)
            return ActionStatus.DONE
        if kind is ActionKind.SUMMARY:
            if party.state not in (PartyState.PLAYING, PartyState.PAUSED):
                return ActionStatus.SKIPPED
            party.transition(PartyState.FINISHED)
            party.finished_at = now
            await tx.save()
            finished = party.finished_at

            async def retention() -> None:
                # Retention actions belong to no party (they outlive it): stored after it.
                await self._schedule_retention(party, finished)
            later.append(retention)
            later.append(self._later_refresh(party))
            if too_late:
                return ActionStatus.SKIPPED
            summary = await self.summary_of(party)
            await self._fire_post(party, action, SentKind.SUMMARY, Priority.NORMAL,
                                  lambda zone: render.summary(party, summary), late, later)
            return ActionStatus.DONE
        return ActionStatus.SKIPPED

    def _later_refresh(self, party: Party) -> Later:
        """A step, run after the commit, that starts refreshing a party's announcements."""
        async def step() -> None:
            self._spawn(self._refresh_announcements(party))
        return step

    async def _film_actions(self, party: Party, now: datetime) -> list[Action]:
        """Prompts still ahead in the film, and the closing summary, from the timeline."""
        guide = await self.guide_of(party)
        at = position(party, now) or 0.0
        actions: list[Action] = []
        end = NO_GUIDE_RUNTIME.total_seconds()
        if guide is not None:
            end = guide.runtime_seconds
            for index, chapter in enumerate(guide.chapters, start=1):
                if chapter.ends_at_seconds > at:
                    actions.append(Action(party.id, ActionKind.PROMPT,
                                          instant_of(party, chapter.ends_at_seconds),
                                          {"chapter": index}))
            end = max(end, guide.chapters[-1].ends_at_seconds) if guide.chapters else end
        actions.append(Action(party.id, ActionKind.SUMMARY, instant_of(party, max(end, at))
                              + timedelta(seconds=1)))
        return actions

    async def _fire_post(self, party: Party, action: Action, kind: SentKind,
                         priority: Priority, build: MessageFn, late: timedelta | None,
                         later: list[Later], prompt: str | None = None) -> None:
        """Decide an action's message to every linked chat that has not had it yet.

        The messages are queued once the unit of work commits; `fire` awaits their delivery.
        """
        assert action.id is not None
        action_id = action.id
        done = {(s.chat, s.prompt) for s in await self.store.sent_for_action(action_id)}
        decided: list[tuple[ChatRef, Message]] = []
        for chat in party.approved_chats():
            if (chat, prompt) in done:
                continue
            message = build(await self.zone_for(chat))
            if late is not None:
                message = render.with_late_note(message, late)
            decided.append((chat, message))

        async def queue() -> None:
            self._deliveries.setdefault(action_id, []).extend(
                self._queue_post(party, chat, message, kind, priority, action_id=action_id,
                                 prompt=prompt) for chat, message in decided)
        later.append(queue)

    async def _fire_prompt(self, party: Party, action: Action, late: timedelta | None,
                           later: list[Later]) -> None:
        guide = await self.guide_of(party)
        index = int(action.payload.get("chapter", 0))
        if guide is None or not 1 <= index <= len(guide.chapters):
            return
        chapter = guide.chapters[index - 1]
        for qnum, question in enumerate(chapter.questions, start=1):
            ref = f"{index}.{qnum}"
            message = render.prompt(party, guide, index, qnum, question,
                                    buttons.answer(party.id, ref))
            await self._fire_post(party, action, SentKind.PROMPT, Priority.PROMPT,
                                  _same(message), late, later, prompt=ref)
        if chapter.poll is not None:
            poll = chapter.poll
            await self._fire_post(party, action, SentKind.POLL, Priority.PROMPT,
                                  lambda zone: render.poll(party, guide, index, poll),
                                  late, later, prompt=f"{index}.poll")

    async def _schedule_retention(self, party: Party, ended: datetime) -> None:
        """Each chat's records of an ended party go that chat's retention_days after the end."""
        actions = []
        for linked in party.chats:
            settings = await self.store.get_chat_settings(linked.chat)
            actions.append(Action(None, ActionKind.RETENTION,
                                  ended + timedelta(days=settings.retention_days),
                                  {"party_id": party.id, "platform": linked.chat.platform,
                                   "chat_id": linked.chat.chat_id}))
        await self._schedule(actions)

    async def _fire_retention(self, action: Action) -> ActionStatus:
        party_id = int(action.payload.get("party_id", 0))
        chat: ChatRef | None = None
        if "chat_id" in action.payload:
            chat = ChatRef(str(action.payload["platform"]), str(action.payload["chat_id"]))
            party = await self.store.get_party(party_id)
            if party is not None and party.finished_at is not None:
                # The chat may have lengthened its retention_days since the party ended.
                days = (await self.store.get_chat_settings(chat)).retention_days
                due = party.finished_at + timedelta(days=days)
                if due > action.due_at:
                    await self._schedule([Action(None, ActionKind.RETENTION, due,
                                                 dict(action.payload))])
                    return ActionStatus.DONE
        # An action from before per-chat retention names no chat: the whole party's records.
        deleted = await self.store.delete_party_records(party_id, chat)
        log.info("retention removed %d records of party %s in %s", deleted, party_id,
                 chat or "every chat")
        return ActionStatus.DONE

    async def summary_of(self, party: Party) -> render.Summary:
        """Attendance, answers per chapter and the most-reacted film minutes of a party."""
        rsvp: dict[tuple[str, str], str] = {}
        ready: set[tuple[str, str]] = set()
        answered: set[tuple[str, str]] = set()
        answers: Counter[int] = Counter()
        # The film positions of the reactions that still stand, per person, message and emoji:
        # a removal takes back that person's latest one (the anonymous totals stand for many).
        standing: dict[tuple[str, str, str, str | None, str], list[float | None]] = {}
        async for rec in self.store.iter_records(party.id):
            who = (rec.platform, rec.user_id)
            if rec.kind is RecordKind.RSVP:
                rsvp[who] = rec.value
            elif rec.kind is RecordKind.READY:
                ready.add(who)
            elif rec.kind is RecordKind.ANSWER:
                answered.add(who)
                if rec.prompt:
                    answers[int(rec.prompt.split(".")[0])] += 1
            elif rec.kind in (RecordKind.REACTION_ADDED, RecordKind.REACTION_REMOVED):
                stack = standing.setdefault(
                    (rec.platform, rec.chat_id, rec.user_id, rec.message_id, rec.value), [])
                if rec.kind is RecordKind.REACTION_ADDED:
                    stack.append(rec.position)
                elif stack:
                    stack.pop()
        minutes: Counter[int] = Counter()
        emoji: dict[int, Counter[str]] = {}
        for key, positions in standing.items():
            for at in positions:
                if at is None:
                    continue  # before GO: no film minute
                minute = int(at // 60)
                minutes[minute] += 1
                emoji.setdefault(minute, Counter())[key[-1]] += 1
        top = [(m * 60, n, emoji[m].most_common(1)[0][0]) for m, n in minutes.most_common(3)]
        going = sum(1 for v in rsvp.values() if v == Rsvp.GOING.value)
        return render.Summary(going=going, ready=len(ready), answered=len(answered),
                              answers_per_chapter=dict(answers), top_moments=top,
                              guide=await self.guide_of(party))


def _snapshot_scope(party: Party) -> str:
    """Where a party's copy of its guide is stored, so later uploads never change its plan."""
    return f"party:{party.id}"


async def load_party_guide(store: Store, party: Party) -> Guide | None:
    """Return the guide a party was created with, from the snapshot taken at creation."""
    if not party.guide_name:
        return None
    source = await store.get_guide_source(_snapshot_scope(party), party.guide_name)
    return Guide.model_validate_json(source) if source is not None else None


def _loaded(tx: PartyWork, code: str) -> Party:
    """The party a unit of work read; gone meanwhile is the same as never found."""
    if tx.party is None:
        raise UserError("party_not_found", code=code)
    return tx.party


async def _failed(exc: Exception) -> str:
    """An awaitable for a message the outbox refused at once."""
    raise exc


def _same(message: Message) -> MessageFn:
    """A message builder that ignores the chat's zone."""
    return lambda zone: message


def _log_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("background work failed", exc_info=task.exception())

