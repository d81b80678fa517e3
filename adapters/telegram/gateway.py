"""The core's ChatGateway on the Telegram Bot API: HTML messages, inline keyboards, polls, files.

Each call is one Bot API request, except a text over 4,096 characters, which goes out as several
messages (cut between lines); a 429 met half-way resumes after the parts the outbox says are
already sent.
"""

from __future__ import annotations

import asyncio
import logging
import time
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, TypeVar

from telegram import Bot, ForumTopic, InputFile, LinkPreviewOptions, ReplyParameters
from telegram import Message as TgMessage
from telegram.constants import ParseMode
from telegram.error import BadRequest, ChatMigrated, Forbidden
from telegram.error import RetryAfter as TgRetryAfter
from telegram.warnings import PTBDeprecationWarning

from adapters.telegram import texts
from adapters.telegram.chats import PLATFORM, chat_ref, split_ref
from adapters.telegram.formatting import (
    CAPTION_LIMIT,
    POLL_OPTION_LIMIT,
    POLL_QUESTION_LIMIT,
    chunks,
    clip,
    keyboard,
    plain,
    to_html,
    utf16_len,
)
from adapters.telegram.members import Members
from bot import buttons as button_data
from bot.chats import ChatRef
from bot.ports import (
    ChatGone,
    DeliveryFailed,
    OpenedThread,
    RetryAfter,
    SendProgress,
    ThreadRefused,
)
from bot.richtext import Message

if TYPE_CHECKING:
    from bot.service import WatchParty

log = logging.getLogger(__name__)

T = TypeVar("T")
_NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
RECENT_SECONDS = 10.0
# What Telegram answers for a post in a forum topic that was deleted or closed.
TOPIC_GONE = ("message thread not found", "topic_deleted", "topic_closed")


@dataclass(frozen=True)
class _Cut:
    """How a long text was cut on its first attempt, so its retries post the same parts."""

    parts: list[str]
    noted: bool  # the not-an-administrator note is on it


def retry_seconds(exc: TgRetryAfter) -> float:
    """The wait a 429 asks for, in seconds, whichever way PTB is configured to give it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def ref_for_message(chat_id: int, message_id: int | str) -> str:
    """The platform name under which a message in a forum topic is remembered."""
    return f"msg:{chat_id}:{message_id}"


def topic_link(chat_id: int, topic: int) -> str:
    """The t.me link of a forum topic, which opens it for the group's members."""
    internal = str(chat_id).removeprefix("-100")
    return f"https://t.me/c/{internal}/{topic}"


def ref_for_poll(poll_id: str) -> str:
    """The platform name under which a poll is remembered."""
    return f"poll:{poll_id}"


class TelegramGateway:
    """Delivers the outbox's messages through python-telegram-bot's Bot."""

    platform = PLATFORM

    def __init__(self, bot: Bot, members: Members) -> None:
        self._bot = bot
        self._members = members
        self._ready = asyncio.Event()
        self._stopped = False
        self._core: WatchParty | None = None
        self._noted_chats: set[int] = set()
        self._noted_messages: set[tuple[ChatRef, str]] = set()
        # What was posted in the last seconds, before the core may have stored it: a reply,
        # a reaction or a vote can come back faster than the core's bookkeeping.
        self._recent: dict[tuple[int, int], tuple[ChatRef, float]] = {}
        self._recent_polls: dict[str, tuple[ChatRef, str, float]] = {}

    # lifecycle

    def attach(self, core: WatchParty) -> None:
        """Start delivering: the Bot is initialized and the core can remember message names."""
        self._core = core
        self._stopped = False
        self._ready.set()

    def detach(self) -> None:
        """Stop delivering: what is still queued fails at once instead of waiting."""
        self._stopped = True
        self._ready.set()

    async def _wait_ready(self) -> None:
        await self._ready.wait()
        if self._stopped:
            raise DeliveryFailed("the Telegram adapter has stopped")

    # the ChatGateway port

    async def send(self, chat: ChatRef, message: Message) -> str:
        """Post a message (several, if it is too long); return the id of the last part."""
        return await self.send_resuming(chat, message, SendProgress())

    async def send_resuming(self, chat: ChatRef, message: Message,
                            progress: SendProgress) -> str:
        """Post the parts not yet in `progress` (a retry resumes there); return the last id."""
        await self._wait_ready()
        if message.poll is not None:
            return await self._send_poll(chat, message)
        cut = progress.plan
        if not isinstance(cut, _Cut):
            noted = await self._needs_admin_note(chat, message)
            spans = (*message.spans, *texts.not_admin_note()) if noted else message.spans
            cut = progress.plan = _Cut(chunks(spans), noted)
        parts, noted = cut.parts, cut.noted
        markup = keyboard(message.buttons)
        reply = (ReplyParameters(int(message.reply_to), allow_sending_without_reply=True)
                 if message.reply_to else None)
        _, topic = split_ref(chat)
        for index, text in enumerate(parts):
            if index in progress.posted:  # posted before a later part had to be retried
                continue
            last = index == len(parts) - 1

            def post(chat_id: int, text: str = text, last: bool = last,
                     index: int = index) -> Awaitable[TgMessage]:
                return self._bot.send_message(
                    chat_id, text, parse_mode=ParseMode.HTML,
                    reply_markup=markup if last else None, message_thread_id=topic,
                    reply_parameters=reply if index == 0 else None,
                    link_preview_options=_NO_PREVIEW)

            sent = await self._call(chat, post)
            progress.posted[index] = str(sent.message_id)
            if message.reply_to is None:  # a party's post, not the reply to a command
                self._note_recent(chat, sent)
            await self._remember_in_topic(chat, sent)
        message_id = progress.posted[len(parts) - 1]
        if noted:
            self._noted_messages.add((chat, message_id))
        return message_id

    async def edit(self, chat: ChatRef, message_id: str, message: Message) -> None:
        """Replace a message's text and keyboard (no keyboard given removes it)."""
        await self._wait_ready()
        spans = message.spans
        if (chat, message_id) in self._noted_messages:
            spans = (*spans, *texts.not_admin_note())
        text = to_html(spans)
        markup = keyboard(message.buttons)

        def edit(chat_id: int) -> Awaitable[TgMessage | bool]:
            return self._bot.edit_message_text(
                text, chat_id=chat_id, message_id=int(message_id), parse_mode=ParseMode.HTML,
                reply_markup=markup, link_preview_options=_NO_PREVIEW)

        await self._call(chat, edit)

    async def open_thread(self, chat: ChatRef, message_id: str, name: str) -> OpenedThread:
        """Open a forum topic for a party (where the bot may manage topics); link to it.

        A topic starts from no message: the announcement stays in the group, and the link is
        posted there.
        """
        await self._wait_ready()

        def create(chat_id: int) -> Awaitable[ForumTopic]:
            return self._bot.create_forum_topic(chat_id, name)

        try:
            topic = await self._call(chat, create)
        except DeliveryFailed as exc:
            cause = exc.__cause__
            if isinstance(cause, Forbidden):
                raise ThreadRefused("permission", str(exc)) from exc
            if isinstance(cause, BadRequest):
                text = cause.message.lower()
                if "not a forum" in text:
                    raise ThreadRefused("not_forum", str(exc)) from exc
                if "rights" in text or "admin" in text:
                    raise ThreadRefused("permission", str(exc)) from exc
            raise
        chat_id, _ = split_ref(chat)
        return OpenedThread(chat_ref(chat_id, topic.message_thread_id),
                            topic_link(chat_id, topic.message_thread_id))

    async def send_file(self, chat: ChatRef, filename: str, data: bytes,
                        caption: Message | None) -> str:
        """Upload a document with an HTML caption; return its message id."""
        await self._wait_ready()
        text = to_html(caption.spans, CAPTION_LIMIT) if caption is not None else None
        _, topic = split_ref(chat)
        reply = (ReplyParameters(int(caption.reply_to), allow_sending_without_reply=True)
                 if caption is not None and caption.reply_to else None)

        def upload(chat_id: int) -> Awaitable[TgMessage]:
            return self._bot.send_document(
                chat_id, InputFile(data, filename=filename), caption=text,
                parse_mode=ParseMode.HTML if text else None, message_thread_id=topic,
                reply_parameters=reply)

        sent = await self._call(chat, upload)
        return str(sent.message_id)

    # details

    async def _send_poll(self, chat: ChatRef, message: Message) -> str:
        """A guide's poll as a native, non-anonymous poll, so each vote names its voter."""
        assert message.poll is not None
        poll = message.poll
        # The message's lines ("📊 Chapter 2 — Middle", the question) as one line, when they fit.
        head, *rest = plain(message.spans).split("\n")
        text = f"{head}: {' '.join(rest)}" if rest else head
        question = text if 0 < utf16_len(text) <= POLL_QUESTION_LIMIT else poll.question
        question = clip(question, POLL_QUESTION_LIMIT)
        options = [clip(option, POLL_OPTION_LIMIT) for option in poll.options]
        _, topic = split_ref(chat)

        def post(chat_id: int) -> Awaitable[TgMessage]:
            return self._bot.send_poll(chat_id, question, options, is_anonymous=False,
                                       message_thread_id=topic)

        sent = await self._call(chat, post)
        message_id = str(sent.message_id)
        self._note_recent(chat, sent)
        if sent.poll is not None:
            self._recent_polls[sent.poll.id] = (chat, message_id, time.monotonic())
            # poll_answer updates carry only the poll id: without this name a vote finds nothing.
            await self._remember(ref_for_poll(sent.poll.id), chat, message_id)
        await self._remember_in_topic(chat, sent)
        return message_id

    def _note_recent(self, chat: ChatRef, sent: TgMessage) -> None:
        now = time.monotonic()
        if len(self._recent) > 1000 or len(self._recent_polls) > 100:
            self._recent = {k: v for k, v in self._recent.items()
                            if now - v[1] < RECENT_SECONDS}
            self._recent_polls = {k: v for k, v in self._recent_polls.items()
                                  if now - v[2] < RECENT_SECONDS}
        self._recent[(sent.chat.id, sent.message_id)] = (chat, now)

    def recent(self, chat_id: int, message_id: int) -> tuple[ChatRef, float] | None:
        """Where and when (monotonic) a party message was posted, if in the last seconds."""
        found = self._recent.get((chat_id, message_id))
        if found is None or time.monotonic() - found[1] > RECENT_SECONDS:
            return None
        return found

    def recent_poll(self, poll_id: str) -> tuple[ChatRef, str, float] | None:
        """Where and when a poll was posted, if in the last seconds."""
        found = self._recent_polls.get(poll_id)
        if found is None or time.monotonic() - found[2] > RECENT_SECONDS:
            return None
        return found

    async def _remember_in_topic(self, chat: ChatRef, sent: TgMessage) -> None:
        """Reactions name the group, not the topic: remember which topic a message is in."""
        chat_id, topic = split_ref(chat)
        if topic is not None:
            await self._remember(ref_for_message(chat_id, sent.message_id), chat,
                                 str(sent.message_id))

    async def _remember(self, ref: str, chat: ChatRef, message_id: str) -> None:
        assert self._core is not None
        try:
            await self._core.remember_message_ref(PLATFORM, ref, chat, message_id)
        except Exception:
            # The message is out; posting it again would only duplicate it.
            log.exception("could not remember %s for message %s in %s", ref, message_id, chat)

    async def _needs_admin_note(self, chat: ChatRef, message: Message) -> bool:
        """A group's first announcement says so while the bot is not an administrator."""
        chat_id, _ = split_ref(chat)
        if chat_id >= 0 or chat_id in self._noted_chats:
            return False
        if not any(button_data.verb_of(b.data) == button_data.Verb.RSVP
                   for row in message.buttons for b in row):
            return False
        try:
            admin = await self._members.bot_is_admin(chat_id)
        except Exception:
            log.debug("could not ask whether the bot administers %s", chat_id, exc_info=True)
            return False
        self._noted_chats.add(chat_id)
        return not admin

    async def _call(self, chat: ChatRef, request: Callable[[int], Awaitable[T]]) -> T:
        """Run one Bot API request, turning Telegram's errors into the outbox's terms."""
        chat_id, topic = split_ref(chat)
        for _ in range(3):
            try:
                return await request(chat_id)
            except TgRetryAfter as exc:
                # Telegram's flood wait is per chat (a group's 20 a minute, a chat's 1 a second).
                raise RetryAfter(retry_seconds(exc), chat_wide=True) from exc
            except ChatMigrated as exc:
                # The group became a supergroup: its parties follow, and so does this message.
                new_id = exc.new_chat_id
                if self._core is not None:
                    await self._core.move_chat(chat_ref(chat_id), chat_ref(new_id))
                chat_id = new_id
                chat = chat_ref(new_id, topic)
            except Forbidden as exc:
                raise DeliveryFailed(f"Telegram refused: {exc.message}") from exc
            except BadRequest as exc:
                if "not modified" in exc.message.lower():
                    return None  # type: ignore[return-value]  # an edit that changes nothing
                if topic is not None and any(m in exc.message.lower() for m in TOPIC_GONE):
                    # A party's topic deleted or closed: the core posts in the group instead.
                    raise ChatGone(f"Telegram refused: {exc.message}") from exc
                raise DeliveryFailed(f"Telegram refused: {exc.message}") from exc
        raise DeliveryFailed(f"{chat} keeps moving to a new chat id")
