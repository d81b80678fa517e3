"""What every handler is given: the store, the clock, the outbox, the guides and the config."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot import commands as c
from bot import render
from bot.actions import Action, ActionKind
from bot.chats import ChatRef
from bot.errors import UserError
from bot.feeds import DEFAULT_ALLOWED_HOSTS, LOST_AFTER_SECONDS, FollowControl
from bot.guide import Guide, GuideLibrary, parse_guide
from bot.outbox import Outbox, Priority
from bot.party import ACTIVE_STATES, Party, PartyState, normalize_code
from bot.ports import Clock, DeliveryFailed, PartyWork, SentKind, SentMessage, Store
from bot.records import Record, RecordKind
from bot.richtext import Message
from bot.tally import Summary, Tally, fold
from bot.timeline import position

log = logging.getLogger(__name__)

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
    follow_allowed_hosts: tuple[str, ...] = (DEFAULT_ALLOWED_HOSTS,)
    feed_lost_after: timedelta = timedelta(seconds=LOST_AFTER_SECONDS)
    worker_id: str = "worker"  # this worker's name in leases (WORKER_ID)


class Deps:
    """The core's dependencies and its posting machinery, shared by every handler."""

    def __init__(self, store: Store, clock: Clock, outbox: Outbox, guides: GuideLibrary,
                 config: CoreConfig) -> None:
        self.store = store
        self.clock = clock
        self.outbox = outbox
        self.guides = guides
        self.config = config
        self.schedule_hook: list[ScheduleFn] = []
        self.guide_cache: dict[int, Guide | None] = {}
        self.background: set[asyncio.Task[Any]] = set()
        self._refreshing: dict[tuple[str, int], Party] = {}
        self._refresh_again: set[tuple[str, int]] = set()
        self.deliveries: dict[int, list[Awaitable[str | None]]] = {}
        self.delivering: dict[int, asyncio.Future[None]] = {}
        self.following: FollowControl | None = None
        self.thread_parents: dict[ChatRef, ChatRef] = {}  # party threads seen: their chats

    async def schedule(self, actions: list[Action]) -> None:
        """Store actions through the scheduler (or straight in the store, unwired)."""
        if not actions:
            return
        if not self.schedule_hook:
            await self.store.add_actions(actions)
            return
        await self.schedule_hook[0](actions)

    async def wake(self) -> None:
        """Wake the scheduler for actions a unit of work stored (it adds nothing more)."""
        if self.schedule_hook:
            await self.schedule_hook[0]([])

    async def drain(self) -> None:
        """Wait for background posts (announcements, edits) started by commands."""
        while self.background:
            await asyncio.gather(*list(self.background), return_exceptions=True)

    def spawn(self, coro: Coroutine[Any, Any, object]) -> None:
        """Run a post or a refresh in the background; `drain` waits for it."""
        task = asyncio.ensure_future(coro)
        self.background.add(task)
        task.add_done_callback(self.background.discard)
        task.add_done_callback(_log_failure)

    async def zone_for(self, chat: ChatRef) -> str:
        """Return the display zone of a chat."""
        settings = await self.store.get_chat_settings(chat)
        return settings.timezone or self.config.default_timezone

    async def resolve_party(self, ctx: c.Context, ref: str | None, *,
                            ended: bool = False) -> Party:
        """Find a party by join code, by `#id` (buttons), or the chat's current one.

        Left out, it is the running party, else the next one, else (with `ended`: `info`,
        `export`, `calendar`) the one that finished last.
        """
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
        if not parties and ended:
            finished = await self.store.parties_for_chat(ctx.chat,
                                                         frozenset({PartyState.FINISHED}))
            if finished:
                return max(finished, key=lambda p: (p.finished_at or p.starts_at, p.id))
            raise UserError("no_party_ended_here")
        if not parties:
            raise UserError("no_party_here")
        running = [p for p in parties if p.state is not PartyState.SCHEDULED]
        return running[0] if running else parties[0]

    def in_party(self, party: Party, chat: ChatRef) -> bool:
        """Whether a chat takes part in a party (its link approved)."""
        return chat in party.approved_chats()

    async def require_host_or_mod(self, party: Party, ctx: c.Context, action: str) -> None:
        """Refuse unless the caller is the host or a moderator of a linked chat."""
        if party.is_host(ctx.actor.platform, ctx.actor.user_id):
            return
        if self.in_party(party, ctx.chat) and await ctx.is_moderator():
            return
        raise UserError("not_allowed", action=action, who="host_or_moderator",
                        host=party.host_name)

    async def require_moderator(self, ctx: c.Context, action: str) -> None:
        """Refuse unless the caller is a moderator here."""
        if not await ctx.is_moderator():
            raise UserError("not_allowed", action=action, who="moderator")

    async def guide_of(self, party: Party) -> Guide | None:
        """Return the guide a party was created with (a snapshot taken at creation)."""
        if party.id in self.guide_cache:
            return self.guide_cache[party.id]
        guide = await load_party_guide(self.store, party)
        self.guide_cache[party.id] = guide
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

    async def post(self, party: Party, chat: ChatRef, message: Message, kind: SentKind,
                    priority: Priority, *, action_id: int | None = None,
                    prompt: str | None = None) -> str | None:
        """Send through the outbox and remember the message; None if it could not be sent."""
        return await self.queue_post(party, chat, message, kind, priority,
                                      action_id=action_id, prompt=prompt)

    def queue_post(self, party: Party, chat: ChatRef, message: Message, kind: SentKind,
                    priority: Priority, *, action_id: int | None = None,
                    prompt: str | None = None,
                    fallback: ChatRef | None = None) -> Awaitable[str | None]:
        """Queue a message now; the awaitable remembers it once delivered (None: not sent).

        `fallback` is where it goes instead if `chat` refuses it for good (a party's thread
        that was deleted or locked, or where the bot may no longer post: its parent chat).
        """
        # A scheduled action's post to one chat is named, so whichever worker fires it, and
        # however often, it carries the same idempotency keys (Discord's nonce).
        name = None if action_id is None else f"action {action_id} {prompt or ''} {chat}"
        try:
            sent: Awaitable[str] = self.outbox.send(chat, message, priority, name=name)
        except Exception as exc:
            sent = _failed(exc)
        if fallback is not None:
            return self._or_instead(sent, party, chat, message, kind, priority, action_id,
                                    prompt, fallback)
        return self.remember(sent, party, chat, kind, action_id, prompt)

    async def _or_instead(self, sent: Awaitable[str], party: Party, chat: ChatRef,
                          message: Message, kind: SentKind, priority: Priority,
                          action_id: int | None, prompt: str | None,
                          fallback: ChatRef) -> str | None:
        try:
            message_id = await sent
        except DeliveryFailed as gone:  # ChatGone, or a permission taken away since
            log.info("%s of party %s: %s refused it (%s); posting in %s instead", kind.value,
                     party.id, chat, gone, fallback)
            return await self.queue_post(party, fallback, message, kind, priority,
                                         action_id=action_id, prompt=prompt)
        return await self.remember(_done(message_id), party, chat, kind, action_id, prompt)

    async def remember(self, sent: Awaitable[str], party: Party, chat: ChatRef, kind: SentKind,
                        action_id: int | None, prompt: str | None) -> str | None:
        """Await a send and store the message it posted; None if it failed."""
        try:
            message_id = await sent
        except Exception:
            log.warning("could not post %s of party %s to %s", kind.value, party.id, chat,
                        exc_info=True)
            return None
        await self.store.add_sent_message(SentMessage(party.id, chat, message_id, kind,
                                                      prompt, action_id))
        return message_id

    async def announcement(self, party: Party, chat: ChatRef) -> Message:
        """A party's announcement as a chat sees it (its zone, the current counts)."""
        guide = await self.guide_of(party)
        zone = await self.zone_for(chat)
        return render.announcement(party, guide, await self.tally(party), zone,
                                   self.clock.now())

    async def refresh_announcements(self, party: Party) -> None:
        """Edit every announcement of a party so counts and state stay current."""
        await self._coalesced("announcement", party, self._edit_announcements)

    async def _edit_announcements(self, party: Party) -> None:
        for sent in await self.store.sent_messages(party.id, SentKind.ANNOUNCEMENT):
            if not self.in_party(party, sent.chat):
                continue
            message = await self.announcement(party, sent.chat)
            with contextlib.suppress(Exception):
                self.outbox.edit(sent.chat, sent.message_id, message, Priority.REFRESH)

    async def refresh_ready_checks(self, party: Party) -> None:
        """Edit every ready check of a party so its counts stay current."""
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

    def reserve_go(self, party: Party, at: datetime | None, *,
                    release: datetime | None = None) -> None:
        """Tell the outbox a GO is due at `at` in every chat, so their budget is kept for it."""
        for chat in party.approved_chats():
            with contextlib.suppress(ValueError):  # a platform with no gateway in this process
                if release is not None and release != at:
                    self.outbox.release(chat, release)
                if at is not None and at > self.clock.now():
                    self.outbox.reserve(chat, at)

    async def broadcast(self, party: Party, build: MessageFn, kind: SentKind,
                         priority: Priority) -> None:
        """Post a message to every linked chat now (not for actions: they use _fire_post)."""
        for chat in party.approved_chats():
            message = build(await self.zone_for(chat))
            self.spawn(self.post(party, chat, message, kind, priority))

    async def record(self, ctx: c.Context, party: Party, kind: RecordKind, value: str, *,
                      prompt: str | None = None, message_id: str | None = None,
                      event: str | None = None) -> Record:
        """Store what the caller did in this party, at the film's position now."""
        now = self.clock.now()
        return await self.store.add_record(Record(
            party_id=party.id, kind=kind, platform=ctx.chat.platform, chat_id=ctx.chat.chat_id,
            user_id=ctx.actor.user_id, display_name=ctx.actor.display_name, at=now,
            position=position(party, now), value=value, prompt=prompt, message_id=message_id,
            event=event or ctx.event))

    def require_member_chat(self, party: Party, ctx: c.Context) -> None:
        """Refuse a chat that does not take part in the party."""
        if not self.in_party(party, ctx.chat):
            raise UserError("party_not_in_chat", code=party.code)

    async def party_message(self, chat: ChatRef, message_id: str,
                             kind: SentKind | None = None) -> tuple[SentMessage, Party] | None:
        """The party message a reply, reaction or vote concerns; None for any other message."""
        sent = await self.store.find_sent_message(chat, message_id)
        if sent is None or (kind is not None and sent.kind is not kind):
            return None
        party = await self.store.get_party(sent.party_id)
        return None if party is None else (sent, party)

    async def schedule_retention(self, party: Party, ended: datetime) -> None:
        """Each chat's records of an ended party go that chat's retention_days after the end."""
        actions = []
        for linked in party.chats:
            settings = await self.store.get_chat_settings(linked.chat)
            actions.append(Action(None, ActionKind.RETENTION,
                                  ended + timedelta(days=settings.retention_days),
                                  {"party_id": party.id, "platform": linked.chat.platform,
                                   "chat_id": linked.chat.chat_id}))
        await self.schedule(actions)

    def later_refresh(self, party: Party) -> Later:
        """A step, run after the commit, that starts refreshing a party's announcements."""
        async def step() -> None:
            self.spawn(self.refresh_announcements(party))
        return step

    async def tally(self, party: Party) -> Tally:
        """Count RSVPs and ready marks across every chat, latest answer per person."""
        return (await fold(self.store.iter_records(party.id))).tally()

    async def summary_of(self, party: Party) -> Summary:
        """Attendance, answers per chapter and the most-reacted film minutes of a party."""
        return (await fold(self.store.iter_records(party.id))).summary(await self.guide_of(party))


def snapshot_scope(party: Party) -> str:
    """Where a party's copy of its guide is stored, so later uploads never change its plan."""
    return f"party:{party.id}"


async def load_party_guide(store: Store, party: Party) -> Guide | None:
    """Return the guide a party was created with, from the snapshot taken at creation."""
    if not party.guide_name:
        return None
    source = await store.get_guide_source(snapshot_scope(party), party.guide_name)
    return Guide.model_validate_json(source) if source is not None else None


def loaded(tx: PartyWork, code: str) -> Party:
    """The party a unit of work read; gone meanwhile is the same as never found."""
    if tx.party is None:
        raise UserError("party_not_found", code=code)
    return tx.party


async def _failed(exc: Exception) -> str:
    """An awaitable for a message the outbox refused at once."""
    raise exc


async def _done(message_id: str) -> str:
    """An awaitable for a message already delivered."""
    return message_id


def same(message: Message) -> MessageFn:
    """A message builder that ignores the chat's zone."""
    return lambda zone: message


def _log_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("background work failed", exc_info=task.exception())
