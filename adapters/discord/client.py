"""The discord.py client: minimal intents, the command tree, and the raw events the core records.

Intents: `guilds` (channels and roles, for the command tree and role checks),
`guild_reactions` and `guild_polls` (reactions and poll votes on party messages). None of them
is privileged; the bot reads no message content (answers come through the Answer modal).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import discord
from discord import app_commands

from adapters.discord import texts
from adapters.discord.commands import WatchpartyGroup
from adapters.discord.events import ScheduledEvents
from adapters.discord.gateway import PLATFORM
from adapters.discord.interactions import Interactions
from adapters.discord.options import problem_of
from bot import commands as c
from bot import render
from bot.chats import Actor, ChatRef
from bot.service import WatchParty

log = logging.getLogger(__name__)

RECORD_WORKERS = 8  # reactions and votes of one person are recorded in order, people in parallel
SYNC_ATTEMPTS = 5
CLOSE_DRAIN_SECONDS = 5.0
# A reaction or vote can arrive before the core has stored the message it is on (stored once
# Discord answered the send): it waits this long for it, then counts as on another message.
SETTLE_SECONDS = 3.0


def intents() -> discord.Intents:
    """The gateway intents the bot needs: no privileged one."""
    wanted = discord.Intents.none()
    wanted.guilds = True
    wanted.guild_reactions = True
    wanted.guild_polls = True
    return wanted


class WatchpartyTree(app_commands.CommandTree[discord.Client]):
    """The command tree; errors discord.py raises before our handler runs get the calm line."""

    def __init__(self, client: discord.Client, bridge: Interactions) -> None:
        super().__init__(client)
        self.bridge = bridge

    async def interaction_check(self, interaction: discord.Interaction[discord.Client],
                                /) -> bool:
        """Refuse, with the option named, options not in the shape of the bot's commands."""
        command = interaction.command
        if not isinstance(command, app_commands.Command):
            return True  # an unknown command is answered by on_error
        autocomplete = interaction.type is discord.InteractionType.autocomplete
        problem = problem_of(command, interaction.data, autocomplete)
        if problem is None:
            return True
        log.info("/%s in channel %s: option %s is %s", command.qualified_name,
                 interaction.channel_id, problem.option, problem.kind)
        try:
            if autocomplete:
                await interaction.response.autocomplete([])
            else:
                await self.bridge.answer(
                    interaction, c.Reply(texts.option_problem(problem), private=True), None)
        except discord.DiscordException:
            log.warning("could not answer /%s", command.qualified_name, exc_info=True)
        return False

    async def on_error(self, interaction: discord.Interaction[discord.Client],
                       error: app_commands.AppCommandError, /) -> None:
        """Log a failure outside the core (option parsing, a check) and answer calmly."""
        name = interaction.command.qualified_name if interaction.command else "command"
        if interaction.type is discord.InteractionType.autocomplete:
            log.error("/%s in channel %s failed", name, interaction.channel_id, exc_info=error)
            return
        if isinstance(error, app_commands.CommandNotFound | app_commands.CommandSignatureMismatch):
            log.info("/%s in channel %s: %s", name, interaction.channel_id, error)
            message = texts.command_outdated()
        else:
            log.error("/%s in channel %s failed", name, interaction.channel_id, exc_info=error)
            message = render.unexpected()
        deferred = True if interaction.response.is_done() else None
        try:
            await self.bridge.answer(interaction, c.Reply(message, private=True), deferred)
        except discord.DiscordException:
            log.warning("could not answer the failed /%s", name, exc_info=True)


class WatchpartyClient(discord.Client):
    """The bot's connection to Discord."""

    def __init__(self, *, dev_guild_id: int | None = None,
                 bridge: Interactions | None = None, **options: Any) -> None:
        # The bot has no voice: spare the log discord.py's warnings about voice libraries.
        discord.VoiceClient.warn_nacl = False
        discord.VoiceClient.warn_dave = False
        # Waits longer than 30 s (discord.py's smallest ceiling) come back as RateLimited, so
        # the outbox holds the chat instead of a request sleeping inside discord.py.
        options.setdefault("max_ratelimit_timeout", 30.0)
        super().__init__(intents=intents(), allowed_mentions=discord.AllowedMentions.none(),
                         max_messages=None, chunk_guilds_at_startup=False,
                         member_cache_flags=discord.MemberCacheFlags.none(), **options)
        self.bridge = bridge or Interactions()
        self.tree = WatchpartyTree(self, self.bridge)
        self.tree.add_command(WatchpartyGroup(self.bridge))
        self.dev_guild_id = dev_guild_id
        self.events = ScheduledEvents(self)
        self.logged_in = asyncio.Event()
        self._queues: list[asyncio.Queue[tuple[c.Context, c.Command]]] = []
        self._workers: list[asyncio.Task[None]] = []

    # ---- start-up -------------------------------------------------------------------------

    async def setup_hook(self) -> None:
        """After login, before the gateway: publish the commands and start the recorders."""
        self.logged_in.set()
        self._queues = [asyncio.Queue() for _ in range(RECORD_WORKERS)]
        self._workers = [asyncio.create_task(self._record_worker(q), name=f"discord-record-{i}")
                         for i, q in enumerate(self._queues)]
        await self.sync_commands()

    async def sync_commands(self) -> None:
        """Publish `/watchparty`: to the dev guild at once, or globally (Discord caches those)."""
        guild = discord.Object(id=self.dev_guild_id) if self.dev_guild_id else None
        if guild is not None:
            self.tree.copy_global_to(guild=guild)
        for attempt in range(1, SYNC_ATTEMPTS + 1):
            try:
                synced = await self.tree.sync(guild=guild)
            except discord.RateLimited as exc:
                await asyncio.sleep(exc.retry_after)
            except discord.HTTPException as exc:
                where = f"guild {self.dev_guild_id}" if guild else "all servers"
                log.error("could not publish the slash commands to %s (%s %s): was the bot "
                          "invited with the applications.commands scope?", where, exc.status,
                          exc.text)
                return
            else:
                log.info("published /watchparty (%d commands) to %s", len(synced),
                         f"guild {self.dev_guild_id}" if guild else "all servers")
                return
            log.info("publishing the slash commands was rate limited (attempt %d)", attempt)

    async def close(self) -> None:
        """Record what was received (for up to 5 s), then disconnect."""
        try:
            await asyncio.wait_for(self.drained(), CLOSE_DRAIN_SECONDS)
        except TimeoutError:
            log.warning("stopping with reactions or votes not yet recorded")
        await super().close()
        for task in self._workers:
            task.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers = []

    # ---- interactions ---------------------------------------------------------------------

    async def on_interaction(self, interaction: discord.Interaction[discord.Client]) -> None:
        """Buttons and modals, from their custom_id (slash commands go through the tree)."""
        if interaction.type is discord.InteractionType.component:
            await self.bridge.on_component(interaction)
        elif interaction.type is discord.InteractionType.modal_submit:
            await self.bridge.on_modal(interaction)

    # ---- recorded events ------------------------------------------------------------------

    def _actor(self, user_id: int, member: discord.Member | None) -> Actor:
        if member is not None:
            self.bridge.names.remember(user_id, member.display_name)
            name = member.display_name
        else:
            user = self.get_user(user_id)
            name = self.bridge.names.get(user_id) or (user.display_name if user else str(user_id))
        return Actor(PLATFORM, str(user_id), name)

    def _enqueue(self, channel_id: int, user_id: int, member: discord.Member | None,
                 guild_id: int | None, command: c.Command) -> None:
        if not self._queues:
            return
        chat = ChatRef(PLATFORM, str(channel_id))
        scope = f"{PLATFORM}:guild:{guild_id}" if guild_id else str(chat)
        ctx = c.Context(chat, self._actor(user_id, member), scope)
        self._queues[user_id % len(self._queues)].put_nowait((ctx, command))

    def _ours(self, user_id: int, author_id: int | None) -> bool:
        me = self.user.id if self.user else None
        # The bot's own reactions are not a discussion, and messages of others are not ours.
        return user_id != me and (author_id is None or author_id == me)

    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        """A reaction added to any message; the core keeps those on party messages."""
        if self._ours(payload.user_id, payload.message_author_id):
            self._enqueue(payload.channel_id, payload.user_id, payload.member, payload.guild_id,
                          c.RecordReaction(str(payload.message_id), str(payload.emoji), True))

    async def on_raw_reaction_remove(self, payload: discord.RawReactionActionEvent) -> None:
        """A reaction removed from any message."""
        if self._ours(payload.user_id, payload.message_author_id):
            self._enqueue(payload.channel_id, payload.user_id, None, payload.guild_id,
                          c.RecordReaction(str(payload.message_id), str(payload.emoji), False))

    async def on_raw_poll_vote_add(self, payload: discord.RawPollVoteActionEvent) -> None:
        """A vote in a poll; answer ids count from 1, the core's options from 0."""
        if self._ours(payload.user_id, None):
            self._enqueue(payload.channel_id, payload.user_id, None, payload.guild_id,
                          c.RecordPollVote(str(payload.message_id), (payload.answer_id - 1,)))

    async def on_raw_poll_vote_remove(self, payload: discord.RawPollVoteActionEvent) -> None:
        """A vote taken back (the poll allows one answer, so nothing is left)."""
        if self._ours(payload.user_id, None):
            self._enqueue(payload.channel_id, payload.user_id, None, payload.guild_id,
                          c.RecordPollVote(str(payload.message_id), ()))

    async def _record_worker(self, queue: asyncio.Queue[tuple[c.Context, c.Command]]) -> None:
        while True:
            ctx, command = await queue.get()
            core = self.bridge.core
            try:
                if core is not None:
                    await self._settle(core, ctx.chat, command)
                    await core.handle(ctx, command)
            except Exception:
                log.exception("recording %s in channel %s failed", type(command).__name__,
                              ctx.chat.chat_id)
            finally:
                queue.task_done()

    @staticmethod
    async def _settle(core: WatchParty, chat: ChatRef, command: c.Command) -> None:
        """Wait, briefly, until the message a reaction or vote is on is known as the party's.

        Each person's records wait in their own queue, so their order is kept and other people
        are not held up.
        """
        if not isinstance(command, c.RecordReaction | c.RecordPollVote):
            return
        deadline = time.monotonic() + SETTLE_SECONDS
        while not await core.is_party_message(chat, command.message_id):
            if time.monotonic() > deadline:
                return
            await asyncio.sleep(0.02)

    async def drained(self) -> None:
        """Wait until received reactions and votes are recorded and events are updated."""
        for queue in self._queues:
            await queue.join()
        await self.events.drain()


class ShardedWatchpartyClient(WatchpartyClient, discord.AutoShardedClient):
    """The bot's connection on some of its shards (DISCORD_SHARD_COUNT, DISCORD_SHARD_IDS).

    discord.py's AutoShardedClient runs one gateway connection per shard; given a shard count
    it connects to the configured gateway without asking `GET /gateway/bot`. Interactions and
    events of the guilds on these shards arrive here; sending is REST, so this worker posts to
    any guild's channels.
    """
