"""The core's facade: the entry points adapters and the composition root call."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from datetime import datetime, timedelta

from bot import commands as c
from bot.actions import Action, ActionStatus
from bot.chats import ChatRef, ChatSettings
from bot.feeds import FeedOpener
from bot.following import Following
from bot.guide import Guide, GuideLibrary
from bot.handlers import COMMAND_HANDLERS, actions, threads
from bot.handlers.chat_settings import EXPORT_FORMATS as EXPORT_FORMATS
from bot.handlers.deps import CoreConfig as CoreConfig
from bot.handlers.deps import Deps, ScheduleFn
from bot.handlers.deps import load_party_guide as load_party_guide
from bot.handlers.parties import TITLE_MAX as TITLE_MAX
from bot.handlers.records import ANSWER_MAX as ANSWER_MAX
from bot.outbox import Outbox
from bot.party import Party, PartyState
from bot.ports import Clock, Store, UpdateClaim
from bot.richtext import Message
from bot.tally import Summary, Tally

log = logging.getLogger(__name__)


class WatchParty:
    """The core: commands in, messages out through the outbox, actions through the scheduler."""

    def __init__(self, store: Store, clock: Clock, outbox: Outbox, guides: GuideLibrary,
                 config: CoreConfig) -> None:
        self.deps = Deps(store, clock, outbox, guides, config)
        self.store = store
        self.clock = clock
        self.outbox = outbox
        self.guides = guides
        self.config = config

    def follow_with(self, opener: FeedOpener) -> Following:
        """Let parties follow real players, opened by `opener` (the composition root's feeds)."""
        following = Following(self.deps, opener,
                              lost_after=self.config.feed_lost_after.total_seconds())
        self.deps.following = following
        return following

    async def start_following(self) -> None:
        """Follow again the players that parties followed when the bot stopped."""
        if isinstance(self.deps.following, Following):
            await self.deps.following.start()

    async def stop_following(self) -> None:
        """Close every feed (the parties stay stored as following)."""
        if isinstance(self.deps.following, Following):
            await self.deps.following.stop()

    def on_schedule(self, fn: ScheduleFn) -> None:
        """Register how new actions reach the scheduler (the composition root wires this)."""
        self.deps.schedule_hook.append(fn)

    async def drain(self) -> None:
        """Wait for background posts (announcements, edits) started by commands."""
        await self.deps.drain()

    async def handle(self, ctx: c.Context, cmd: c.Command) -> c.Reply | None:
        """Run one command; UserErrors propagate for the adapter's error translator.

        Returns None when there is nothing to say (a reaction on a message that is not a
        party's, for instance).
        """
        handler = COMMAND_HANDLERS.get(type(cmd))
        if handler is None:
            raise AssertionError(f"unhandled command {cmd!r}")
        # What is done in a party's thread counts as done in the thread's parent chat.
        ctx = await threads.in_parent(self.deps, ctx)
        reply = await handler(self.deps, ctx, cmd)
        if reply is not None and reply.posted_here and ctx.thread is not None:
            # The news went to the parent chat, not to the thread the command came from.
            reply = replace(reply, posted_here=False)
        return reply

    async def fire(self, action: Action, now: datetime) -> ActionStatus:
        """Carry out one due action; one too late for the grace period is skipped and logged."""
        return await actions.fire(self.deps, action, now)

    async def settings_for(self, chat: ChatRef) -> ChatSettings:
        """Return a chat's settings (adapters read the moderator role from here); a party's
        thread has its parent chat's."""
        parent = await threads.parent_of(self.deps, chat)
        return await self.store.get_chat_settings(parent or chat)

    async def zone_for(self, chat: ChatRef) -> str:
        """Return the display zone of a chat."""
        return await self.deps.zone_for(chat)

    async def resolve_party(self, ctx: c.Context, ref: str | None) -> Party:
        """Find a party by join code, by `#id` (buttons), or the chat's current one."""
        return await self.deps.resolve_party(ctx, ref)

    async def guide_of(self, party: Party) -> Guide | None:
        """Return the guide a party was created with (a snapshot taken at creation)."""
        return await self.deps.guide_of(party)

    async def find_guide(self, scope: str, name: str) -> Guide:
        """Return a guide by name: this chat's uploads first, then operator and built-in ones."""
        return await self.deps.find_guide(scope, name)

    async def tally(self, party: Party) -> Tally:
        """Count RSVPs and ready marks across every chat, latest answer per person."""
        return await self.deps.tally(party)

    async def summary_of(self, party: Party) -> Summary:
        """Attendance, answers per chapter and the most-reacted film minutes of a party."""
        return await self.deps.summary_of(party)

    async def chat_parties(self, chat: ChatRef, states: frozenset[PartyState]) -> list[Party]:
        """Return the parties in these states that this chat takes part in (for autocomplete)."""
        return await self.store.parties_for_chat(chat, states)

    async def guide_names(self, scope: str) -> list[str]:
        """Return the names of built-in, operator and this scope's uploaded guides, sorted."""
        return sorted({*self.guides.builtin_names(), *self.guides.operator_names(),
                       *await self.store.list_guides(scope)})

    def reply(self, chat: ChatRef, message: Message) -> asyncio.Future[str]:
        """Queue an adapter's reply to a person (it keeps its place behind GO and prompts)."""
        return self.outbox.send(chat, message)

    def reply_file(self, chat: ChatRef, filename: str, data: bytes,
                   caption: Message | None) -> asyncio.Future[str]:
        """Queue a file for a chat (an export); the future fails if it cannot be delivered."""
        return self.outbox.send_file(chat, filename, data, caption)

    def queued(self, platform: str) -> int:
        """Return how many requests to a platform are accepted and not yet delivered."""
        return self.outbox.queued(platform)

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

    # many workers on one database (PRODUCT §9)

    @property
    def worker_id(self) -> str:
        """This worker's name among the workers (WORKER_ID)."""
        return self.config.worker_id

    async def hold_lease(self, name: str, seconds: float) -> bool:
        """Take or renew the named lease (one poller of a stream) for this worker; True: held."""
        now = self.clock.now()
        return await self.store.hold_lease(name, self.config.worker_id, now,
                                           now + timedelta(seconds=seconds))

    async def release_lease(self, name: str) -> None:
        """Give up a lease this worker holds, so another takes it at once."""
        await self.store.release_lease(name, self.config.worker_id)

    async def claim_update(self, source: str, update_id: int, seconds: float) -> UpdateClaim:
        """Claim an inbound update for this worker for `seconds`: handle it only if CLAIMED."""
        now = self.clock.now()
        return await self.store.claim_update(source, update_id, self.config.worker_id, now,
                                             now + timedelta(seconds=seconds))

    async def finish_update(self, source: str, update_id: int) -> None:
        """Mark an inbound update handled, for every worker."""
        await self.store.finish_update(source, update_id, self.clock.now())

    async def prune_updates(self, older_than: timedelta) -> int:
        """Forget inbound updates finished longer ago than `older_than`."""
        return await self.store.prune_updates(self.clock.now() - older_than)
