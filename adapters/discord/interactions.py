"""From an interaction to the core and back: context, moderator check, answer, error translator.

Discord wants a first answer to every interaction within 3 seconds. A command that the core
answers quickly gets its reply in that first answer; one that takes longer (or is known to:
exports, uploads) is deferred and its reply follows. Private replies and files are ephemeral.
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

import discord

from adapters.discord import components
from adapters.discord.gateway import PLATFORM, Piece, pieces
from bot import buttons, render
from bot import commands as c
from bot.chats import Actor, ChatRef
from bot.errors import UserError
from bot.export.attachment import fit_reply
from bot.service import WatchParty

log = logging.getLogger(__name__)

DEFER_AFTER = 1.5  # seconds the core may take before the interaction is deferred (Discord: 3 s)

CommandSource = c.Command | Callable[[c.Context], Awaitable[c.Command]]


def chat_of(interaction: discord.Interaction[Any]) -> ChatRef:
    """The chat an interaction came from: its channel or thread."""
    return ChatRef(PLATFORM, str(interaction.channel_id))


def scope_of(interaction: discord.Interaction[Any]) -> str:
    """Who owns guides uploaded from here: the whole server (or the channel, outside one)."""
    if interaction.guild_id is not None:
        return f"{PLATFORM}:guild:{interaction.guild_id}"
    return str(chat_of(interaction))


def _kwargs(piece: Piece) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"allowed_mentions": piece.allowed}
    if piece.content is not None:
        kwargs["content"] = piece.content
    if piece.embed is not None:
        kwargs["embed"] = piece.embed
    if piece.view is not None:
        kwargs["view"] = piece.view
    return kwargs


class Names:
    """Display names last seen per user (a bounded cache): reaction removals carry none."""

    def __init__(self, size: int = 10_000) -> None:
        self._size = size
        self._names: OrderedDict[int, str] = OrderedDict()

    def remember(self, user_id: int, name: str) -> None:
        """Note a user's current display name."""
        self._names[user_id] = name
        self._names.move_to_end(user_id)
        if len(self._names) > self._size:
            self._names.popitem(last=False)

    def get(self, user_id: int) -> str | None:
        """The name last seen, if any."""
        return self._names.get(user_id)


class Interactions:
    """Runs slash commands, button clicks and modal submits through the core."""

    def __init__(self, defer_after: float = DEFER_AFTER) -> None:
        self.core: WatchParty | None = None
        self.defer_after = defer_after
        self.names = Names()

    # ---- who and where --------------------------------------------------------------------

    async def is_moderator(self, interaction: discord.Interaction[Any], chat: ChatRef) -> bool:
        """Manage Server or Manage Events in this channel, or the chat's moderator role."""
        perms = interaction.permissions
        if perms.administrator or perms.manage_guild or perms.manage_events:
            return True
        if self.core is None or not isinstance(interaction.user, discord.Member):
            return False
        role = (await self.core.settings_for(chat)).moderator_role
        if not role:
            return False
        wanted = role.strip().lstrip("@").lower()
        return any(str(r.id) == wanted or r.name.lower() == wanted
                   for r in interaction.user.roles)

    async def context(self, interaction: discord.Interaction[Any]) -> c.Context:
        """Build the core's context: chat, actor (with the moderator fact) and guide scope."""
        chat = chat_of(interaction)
        user = interaction.user
        self.names.remember(user.id, user.display_name)
        actor = Actor(PLATFORM, str(user.id), user.display_name)
        return c.Context(chat, actor, scope_of(interaction),
                         is_moderator=lambda: self.is_moderator(interaction, chat))

    # ---- running ----------------------------------------------------------------------------

    async def run(self, interaction: discord.Interaction[Any], source: CommandSource, *,
                  name: str, private: bool = True, slow: bool = False) -> None:
        """Run one command and answer the interaction, whatever happens.

        `private` says how the core normally answers this command, so a deferred answer is
        ephemeral or public from the start; `slow` defers at once.
        """
        deferred: bool | None = None  # None: not deferred; else whether it was ephemeral
        # The core's work runs to its end even if answering fails: a party half-created
        # because Discord timed out would be worse than a lost answer.
        task = asyncio.ensure_future(self._handle(interaction, source))
        if not slow:
            await asyncio.wait({task}, timeout=self.defer_after)
        if slow or not task.done():
            try:
                await interaction.response.defer(ephemeral=private, thinking=True)
                deferred = private
            except discord.DiscordException:
                log.warning("could not defer %s in channel %s", name, interaction.channel_id,
                            exc_info=True)
        try:
            reply = await task
        except UserError as err:
            reply = c.Reply(render.error(err), private=True)
        except Exception:
            log.exception("%s in channel %s failed", name, interaction.channel_id)
            reply = c.Reply(render.unexpected(), private=True)
        try:
            await self.answer(interaction, reply, deferred)
        except discord.DiscordException:
            log.warning("could not answer %s in channel %s", name, interaction.channel_id,
                        exc_info=True)

    async def _handle(self, interaction: discord.Interaction[Any],
                      source: CommandSource) -> c.Reply | None:
        if self.core is None:
            raise RuntimeError("the Discord adapter got an interaction before the core was wired")
        ctx = await self.context(interaction)
        command = source if not callable(source) else await source(ctx)
        reply = await self.core.handle(ctx, command)
        if reply is not None and reply.attachment is not None:
            # Discord says with each interaction how large a file this answer may carry.
            reply = await fit_reply(reply, interaction.filesize_limit)
        return reply

    async def answer(self, interaction: discord.Interaction[Any], reply: c.Reply | None,
                     deferred: bool | None) -> None:
        """Send the core's reply as the interaction's answer (and follow-ups when it is long)."""
        if reply is None:
            if deferred is None:
                await interaction.response.defer()
            else:
                await interaction.delete_original_response()
            return
        private = reply.private
        parts = pieces(reply.message)
        file = None
        if reply.attachment is not None:
            file = discord.File(io.BytesIO(reply.attachment.data),
                                filename=reply.attachment.filename)
        first = _kwargs(parts[0])
        if file is not None:
            first["file"] = file
        if deferred is None:
            await interaction.response.send_message(ephemeral=private, **first)
        elif deferred == private:
            if file is not None:
                first["attachments"] = [first.pop("file")]
            await interaction.edit_original_response(**first)
        else:
            # The deferred answer was public and this one is private (or the reverse): replace
            # the "thinking…" message by a follow-up of the right kind.
            await interaction.delete_original_response()
            await interaction.followup.send(ephemeral=private, **first)
        for piece in parts[1:]:
            await interaction.followup.send(ephemeral=private, **_kwargs(piece))

    # ---- components -------------------------------------------------------------------------

    async def on_component(self, interaction: discord.Interaction[Any]) -> None:
        """A button click: open the Answer modal, or run the command in its custom_id."""
        data: dict[str, Any] = dict(interaction.data or {})
        custom_id = str(data.get("custom_id", ""))
        if not buttons.is_ours(custom_id):
            # Discord delivers only this application's components: an id it no longer reads
            # (an old message, a mangled id) still gets its answer within the 3 seconds.
            await self.run(interaction, _unknown_button, name="unknown button")
            return
        if components.is_answer(custom_id):
            if components.answer_target(custom_id) is None:
                await self.run(interaction, _unknown_button, name="unknown answer button")
                return
            try:
                modal = components.answer_modal(custom_id,
                                                components.question_of(interaction.message))
                await interaction.response.send_modal(modal)
            except discord.DiscordException:
                log.warning("could not open the answer form in channel %s",
                            interaction.channel_id, exc_info=True)
            return

        async def build(ctx: c.Context) -> c.Command:
            return buttons.parse(custom_id)

        verb = buttons.verb_of(custom_id)
        await self.run(interaction, build, name=f"button {verb}",
                       private=verb in {buttons.Verb.RSVP, buttons.Verb.READY,
                                        buttons.Verb.CALENDAR},
                       slow=verb == buttons.Verb.CALENDAR)

    async def on_modal(self, interaction: discord.Interaction[Any]) -> None:
        """A submitted Answer modal: record the answer and echo it in the channel."""
        data: dict[str, Any] = dict(interaction.data or {})
        custom_id = str(data.get("custom_id", ""))
        target = components.answer_target(custom_id) if components.is_answer(custom_id) \
            else None
        if target is None:
            await self.run(interaction, _unknown_button, name="unknown form")
            return
        party, prompt = target
        text = components.submitted_answer(data) or ""

        async def build(ctx: c.Context) -> c.Command:
            return c.RecordAnswer(text, party=party, prompt=prompt)

        await self.run(interaction, build, name="answer", private=False)


async def _unknown_button(ctx: c.Context) -> c.Command:
    raise UserError("button_unknown")
