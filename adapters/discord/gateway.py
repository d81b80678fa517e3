"""The core's ChatGateway for Discord: posts, edits and uploads through discord.py's REST client.

Only the outbox calls this. discord.py itself obeys `retry_after` and the per-route rate-limit
headers while a request is in flight; when it gives up on a 429 (or a wait would exceed its
30-second ceiling) the gateway raises the core's `RetryAfter`, so the outbox holds the chat
and retries the message in its place. Nothing here retries on its own.

Retries are idempotent: each piece gets a nonce that the outbox keeps with the queued send for
its retries (Discord's `enforce_nonce` then returns the first post instead of posting twice),
and a message split in several pieces resumes after the pieces the outbox says are posted. A
scheduled action's post is named by the core, and its nonces come from that name: a worker that
fires it again after the first died before storing the post gets the first post back.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
import secrets
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any, Literal

import aiohttp
import discord

from adapters.discord import components, markdown
from adapters.discord.events import ScheduledEvents
from bot import render
from bot.chats import ChatRef
from bot.ports import (
    ChatGone,
    DeliveryFailed,
    OpenedThread,
    RetryAfter,
    SendProgress,
    ThreadRefused,
)
from bot.richtext import Italic, Message, Poll

log = logging.getLogger(__name__)

PLATFORM = "discord"
POLL_HOURS = 24
POLL_QUESTION_LIMIT = 300
POLL_ANSWER_LIMIT = 55
DEFAULT_RETRY_AFTER = 1.0
NONCE_LIMIT = 25  # characters: Discord refuses a longer nonce
NO_MENTIONS = discord.AllowedMentions.none()
# Discord's JSON error codes (https://discord.com/developers/docs/topics/opcodes-and-status-codes)
UNKNOWN_CHANNEL = 10003
MISSING_ACCESS = 50001
MISSING_PERMISSIONS = 50013
WRONG_CHANNEL_TYPE = 50024
THREAD_ARCHIVED = 50083
GONE_CODES = frozenset({UNKNOWN_CHANNEL, THREAD_ARCHIVED})
# A party's thread stays in the channel's list through a week of quiet.
THREAD_ARCHIVE_MINUTES: Literal[10080] = 10080
DISCORD_ANSWER_HINT = "Press Answer to reply; everyone here sees the answers."


@dataclass(frozen=True)
class Piece:
    """One Discord message of a (possibly split) core message."""

    content: str | None
    embed: discord.Embed | None = None
    view: discord.ui.View | None = None
    poll: discord.Poll | None = None
    allowed: discord.AllowedMentions = NO_MENTIONS


def allowed_mentions(user_ids: list[int]) -> discord.AllowedMentions:
    """Allow pinging exactly these users (a reminder), never everyone or a role."""
    if not user_ids:
        return NO_MENTIONS
    return discord.AllowedMentions(everyone=False, roles=False, replied_user=False,
                                   users=[discord.Object(id=uid) for uid in user_ids])


def native_poll(poll: Poll) -> discord.Poll:
    """Return a guide poll as a Discord poll (one answer per person)."""
    native = discord.Poll(question=markdown.truncate(poll.question, POLL_QUESTION_LIMIT),
                          duration=timedelta(hours=POLL_HOURS), multiple=False)
    for option in poll.options[:10]:
        native.add_answer(text=markdown.truncate(option, POLL_ANSWER_LIMIT))
    return native


def answer_hint(message: Message) -> Message:
    """Replace the core's reply hint on prompts: on Discord people answer with the button."""
    spans = tuple(Italic(DISCORD_ANSWER_HINT) if isinstance(s, Italic)
                  and s.text == render.ANSWER_HINT else s for s in message.spans)
    if spans == message.spans:
        return message
    return replace(message, spans=spans)


def pieces(message: Message) -> list[Piece]:
    """Turn a core message into the Discord messages that show it, in order.

    A message with a title is one embed. Otherwise the text is split under 2,000 characters at
    line breaks; buttons and the poll go on the last piece, the one people act on.
    """
    message = answer_hint(message)
    pings, users = markdown.mention_line(message.mentions)
    allowed = allowed_mentions(users)
    body = markdown.to_markdown(message.spans)
    view = components.view_for(message.buttons)
    poll = native_poll(message.poll) if message.poll is not None else None
    title = markdown.title_text(message)
    if title is not None:
        embed = discord.Embed(title=title, colour=discord.Colour.blurple(),
                              description=markdown.truncate(
                                  body, markdown.EMBED_DESCRIPTION_LIMIT))
        return [Piece(pings or None, embed, view, poll, allowed)]
    texts = markdown.split(f"{body}\n{pings}" if pings else body)
    out = [Piece(text, allowed=allowed) for text in texts[:-1]]
    out.append(Piece(texts[-1], view=view, poll=poll, allowed=allowed))
    return out


def translate(exc: Exception) -> Exception:
    """Map a discord.py failure to what the outbox understands."""
    if isinstance(exc, discord.RateLimited):
        return RetryAfter(exc.retry_after, chat_wide=True)
    if isinstance(exc, discord.HTTPException):
        if exc.status == 429:
            return RetryAfter(_retry_after(exc), chat_wide=True)
        if exc.code in GONE_CODES:
            # A deleted channel, or a thread that was archived and locked: the core posts
            # what was meant for a party's thread in its channel instead.
            return ChatGone(f"Discord: {exc.status} {exc.code}: {exc.text}")
        if exc.status in (400, 401, 403, 404, 413):
            # A missing channel, lost access or a payload Discord refuses won't improve.
            return DeliveryFailed(f"Discord refused it ({exc.status} {exc.code}: {exc.text})")
    return exc


def refusal(exc: Exception) -> Exception:
    """Map a failure to start a thread: no permission, or a channel that has no threads."""
    if isinstance(exc, discord.HTTPException):
        if exc.code in (MISSING_PERMISSIONS, MISSING_ACCESS):
            return ThreadRefused("permission", f"Discord: {exc.status} {exc.code}: {exc.text}")
        if exc.code == WRONG_CHANNEL_TYPE:  # a thread, a voice or forum channel
            return ThreadRefused("unsupported", f"Discord: {exc.code}: {exc.text}")
    return translate(exc)


def _nonce() -> str:
    return secrets.token_hex(12)


def _fit_nonce(key: str) -> str:
    """A nonce Discord accepts (at most 25 characters) for an idempotency key of any length:
    the same key, the same nonce."""
    return key if len(key) <= NONCE_LIMIT else hashlib.sha256(key.encode()).hexdigest()[:24]


def _retry_after(exc: discord.HTTPException) -> float:
    headers: Any = getattr(exc.response, "headers", {}) or {}
    for name in ("Retry-After", "X-RateLimit-Reset-After"):
        try:
            return max(0.0, float(headers.get(name)))
        except (TypeError, ValueError):
            continue
    return DEFAULT_RETRY_AFTER


class DiscordGateway:
    """Posts the core's messages to Discord channels (and threads)."""

    platform = PLATFORM

    def __init__(self, client: discord.Client, logged_in: asyncio.Event,
                 events: ScheduledEvents | None = None) -> None:
        self._client = client
        self._logged_in = logged_in  # REST works from the login on
        self._events = events

    def _mirror(self, chat: ChatRef, message: Message) -> None:
        """Keep the party's scheduled event in step with its announcement."""
        if self._events is not None and message.about is not None:
            self._events.announcement_changed(chat, message.about)

    def _channel(self, chat: ChatRef) -> discord.PartialMessageable:
        if not chat.chat_id.isdigit():
            raise DeliveryFailed(f"{chat} is not a Discord channel")
        return self._client.get_partial_messageable(int(chat.chat_id))

    async def _ready(self) -> None:
        # Actions that fell due while the bot was offline fire before the login completes.
        await self._logged_in.wait()

    async def send(self, chat: ChatRef, message: Message) -> str:
        """Post a message (in several pieces if long); return the id of the last piece."""
        return await self.send_resuming(chat, message, SendProgress())

    async def send_resuming(self, chat: ChatRef, message: Message,
                            progress: SendProgress) -> str:
        """Post the pieces not yet in `progress` (a retry resumes there); return the last id."""
        await self._ready()
        channel = self._channel(chat)
        last = ""
        for number, piece in enumerate(pieces(message)):
            done = progress.posted.get(number)
            if done is not None:  # posted before a later piece had to be retried
                last = done
                continue
            nonce = _fit_nonce(progress.key(number, _nonce))
            kwargs: dict[str, Any] = {"allowed_mentions": piece.allowed, "nonce": nonce}
            if number == 0 and message.reply_to and message.reply_to.isdigit():
                kwargs["reference"] = discord.MessageReference(
                    message_id=int(message.reply_to), channel_id=int(chat.chat_id),
                    fail_if_not_exists=False)
            if piece.embed is not None:
                kwargs["embed"] = piece.embed
            if piece.view is not None:
                kwargs["view"] = piece.view
            if piece.poll is not None:
                kwargs["poll"] = piece.poll
            try:
                sent = await channel.send(piece.content, **kwargs)
            except (discord.DiscordException, aiohttp.ClientError) as exc:
                raise translate(exc) from exc
            last = progress.posted[number] = str(sent.id)
        self._mirror(chat, message)
        return last

    async def edit(self, chat: ChatRef, message_id: str, message: Message) -> None:
        """Replace a message's text, embed and buttons (an edit can't add pieces: it is cut)."""
        await self._ready()
        all_pieces = pieces(message)
        piece = all_pieces[0]
        content = piece.content
        if len(all_pieces) > 1:
            content = markdown.truncate("\n".join(p.content or "" for p in all_pieces),
                                        markdown.MESSAGE_LIMIT)
        target = self._channel(chat).get_partial_message(int(message_id))
        view = all_pieces[-1].view  # None removes the buttons (a party that has started)
        try:
            await target.edit(content=content, embed=piece.embed, view=view,
                              allowed_mentions=piece.allowed)
        except (discord.DiscordException, aiohttp.ClientError) as exc:
            raise translate(exc) from exc
        self._mirror(chat, message)

    async def open_thread(self, chat: ChatRef, message_id: str, name: str) -> OpenedThread:
        """Start a public thread off a party's announcement; it is a channel of its own."""
        await self._ready()
        self._channel(chat)  # a channel id, or DeliveryFailed
        try:
            # The HTTP call itself: a message in a channel this worker has not cached (another
            # shard's guild) has no guild for `Message.create_thread`.
            data = await self._client.http.start_thread_with_message(
                int(chat.chat_id), int(message_id), name=name,
                auto_archive_duration=THREAD_ARCHIVE_MINUTES)
        except (discord.DiscordException, aiohttp.ClientError) as exc:
            raise refusal(exc) from exc
        return OpenedThread(ChatRef(PLATFORM, str(data["id"])))

    async def send_file(self, chat: ChatRef, filename: str, data: bytes,
                        caption: Message | None) -> str:
        """Upload a file with an optional caption; return the message id."""
        await self._ready()
        content = None
        if caption is not None:
            content = markdown.truncate(markdown.to_markdown(caption.spans),
                                        markdown.MESSAGE_LIMIT)
        nonce = (caption.extra if caption is not None else {}).setdefault(
            f"discord:{chat.chat_id}:file:nonce", _nonce())
        try:
            sent = await self._channel(chat).send(
                content, file=discord.File(io.BytesIO(data), filename=filename),
                allowed_mentions=NO_MENTIONS, nonce=nonce)
        except (discord.DiscordException, aiohttp.ClientError) as exc:
            raise translate(exc) from exc
        return str(sent.id)
