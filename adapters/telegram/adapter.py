"""The Telegram adapter: python-telegram-bot's Application, driven by hand, feeding the core.

Updates are fetched with getUpdates by this adapter (not PTB's Updater) so that the offset that
confirms them to Telegram moves past an update only once `Application.process_update` has
finished with it, that is once whatever it records is stored. A crash or a restart therefore
never drops an RSVP, an answer or a reaction: Telegram delivers the unconfirmed updates again,
and every record carries its update's name, so a second delivery stores nothing twice.
Updates of different chats are processed side by side, one chat's in order (see `intake`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
import warnings
from collections.abc import Callable, Coroutine, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

from telegram import BotCommand, Chat, MaybeInaccessibleMessage, Update, User
from telegram import Message as TgMessage
from telegram.constants import ReactionEmoji
from telegram.error import (
    BadRequest,
    Conflict,
    EndPointNotFound,
    InvalidToken,
    NetworkError,
    TelegramError,
)
from telegram.error import RetryAfter as TgRetryAfter
from telegram.ext import (
    Application,
    ApplicationBuilder,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    MessageReactionHandler,
    PollAnswerHandler,
    TypeHandler,
    filters,
)
from telegram.warnings import PTBUserWarning

from adapters.telegram import texts
from adapters.telegram.chats import (
    GROUP_TYPES,
    PLATFORM,
    chat_actor,
    chat_ref,
    message_actor,
    message_chat,
    scope_of,
    split_ref,
    user_actor,
)
from adapters.telegram.formatting import CALLBACK_ANSWER_LIMIT, clip, plain
from adapters.telegram.gateway import TelegramGateway, ref_for_message, ref_for_poll, retry_seconds
from adapters.telegram.intake import Intake
from adapters.telegram.members import Members
from adapters.telegram.shapes import kind_of, well_formed
from adapters.telegram.workers import WEBHOOK_PATIENCE, Once, PollerLease, Webhook
from bot import buttons, render
from bot import commands as c
from bot.arguments import parse_command_text
from bot.chats import Actor, ChatRef
from bot.errors import ConfigurationError, UserError
from bot.export.attachment import fit_reply
from bot.guide import MAX_GUIDE_BYTES
from bot.lifecycle import Shutdown
from bot.ports import DeliveryFailed
from bot.ratelimits import RateLimits
from bot.richtext import Message
from bot.service import WatchParty
from bot.settings import Settings

log = logging.getLogger(__name__)

# The Bot API's limit for a document a bot sends.
UPLOAD_LIMIT = 50 * 1024 * 1024

COMMAND = "watchparty"
COMMAND_DESCRIPTION = "Watch parties: create, join, start, export — /watchparty help"
# message_reaction, message_reaction_count and chat_member arrive only when asked for by name.
ALLOWED_UPDATES = (Update.MESSAGE, Update.CALLBACK_QUERY, Update.MESSAGE_REACTION,
                   Update.MESSAGE_REACTION_COUNT, Update.POLL_ANSWER, Update.MY_CHAT_MEMBER)
BATCH = 100
# Connections to the Bot API for everything but getUpdates. PTB's default is 256; httpcore looks
# at every pooled connection for every request it places, so a large pool costs CPU on each
# request under load (a third of the bot's time at 1,700 presses a second) and buys nothing:
# the bot's own sends are paced at 30 a second.
CONNECTIONS = 32
# Button answers in flight at once. A burst of presses is answered as fast as the connection pool
# allows; the rest wait here, not inside the HTTP client's pool, whose bookkeeping grows with
# every request queued in it (and which GO and the other sends share).
ANSWERS_IN_FLIGHT = 24
# An update whose recording failed unexpectedly (the database was busy, say) is tried again
# after these pauses before it is given up, logged and confirmed.
RETRY_PAUSES = (0.5, 2.0)
# While updates are in flight getUpdates answers at once (with them): ask for new ones this often.
REFETCH_SECONDS = 0.05
# How long a long poll's answer may take beyond its timeout before it counts as lost.
POLL_READ_MARGIN = 10.0
# On stop, how long the updates in flight get to finish before the offset is confirmed.
DRAIN_SECONDS = 10.0
# How long a reply, reaction or vote on a message posted a moment ago waits for the core to have
# stored that message (it is stored right after Telegram answers the send).
SETTLE_SECONDS = 3.0
UPLOAD_CAPTION = re.compile(rf"^/{COMMAND}(?:@(\w+))?\s+guide\s+upload\s*$", re.IGNORECASE)
ANONYMOUS = Actor(PLATFORM, "anonymous", "Anonymous")

Context = ContextTypes.DEFAULT_TYPE


class _Stopped(Exception):
    """The bot is stopping while a long poll waits."""


@dataclass
class _Attempt:
    """One try at an update: may it be tried again, does its handler only record, and did that
    recording fail unexpectedly? Per update, as updates of several chats run at once."""

    retrying: bool
    retryable: bool = False
    failed: BaseException | None = None


# The attempt of the update the current task is processing (PTB runs handlers and the error
# handler in that task).
_ATTEMPT: ContextVar[_Attempt | None] = ContextVar("telegram_attempt", default=None)


def create_adapter(settings: Settings) -> TelegramAdapter:
    """Build the Telegram adapter from the settings (the composition root calls this)."""
    # httpx logs every request URL at INFO, and a Bot API URL carries the token.
    http_log = logging.getLogger("httpx")
    if http_log.level == logging.NOTSET:
        http_log.setLevel(logging.WARNING)
    # getUpdates is asked for raw (see `TelegramAdapter._fetch`), which PTB warns about.
    warnings.filterwarnings("ignore", message=r"Please use 'Bot\.getUpdates'",
                            category=PTBUserWarning)
    return TelegramAdapter(settings)


def _reaction_key(reaction: Any) -> str:
    """The text a reaction is recorded as: its emoji, or a name for custom and paid ones."""
    emoji = getattr(reaction, "emoji", None)
    if emoji:
        return str(emoji)
    custom = getattr(reaction, "custom_emoji_id", None)
    if custom:
        return f"custom:{custom}"
    return str(getattr(reaction, "type", "reaction"))


def _what(update: object) -> str:
    """What an update asked, for the log: the command and subcommand, never the user's text."""
    if not isinstance(update, Update):
        return type(update).__name__
    if update.callback_query is not None:
        return f"button {buttons.verb_of(update.callback_query.data or '') or 'unknown'}"
    message = update.message
    if message is not None:
        words = (message.text or message.caption or "").split()
        if words and words[0].startswith("/"):
            return " ".join(words[:2])
        return "reply" if message.reply_to_message is not None else "message"
    for kind in ("message_reaction", "message_reaction_count", "poll_answer", "my_chat_member"):
        if getattr(update, kind) is not None:
            return kind
    return "update"


class TelegramAdapter:
    """One bot account: its Application, its gateway for the outbox, and its update loop."""

    platform = PLATFORM

    def __init__(self, settings: Settings, *, poll_timeout: int = 25) -> None:
        assert settings.telegram_token is not None, "the Telegram adapter needs TELEGRAM_TOKEN"
        self.limits = RateLimits.parse(settings.telegram_rate_limits)
        self.application: Application[Any, Any, Any, Any, Any, Any] = (
            ApplicationBuilder()
            .token(settings.telegram_token.get_secret_value())
            .base_url(settings.telegram_base_url)
            .base_file_url(settings.telegram_base_file_url)
            .updater(None)  # updates are fetched here, confirmed only once processed
            .job_queue(None)  # the core's scheduler owns every timer
            .connection_pool_size(CONNECTIONS)
            .build())
        self.bot = self.application.bot
        self.members = Members(self.bot)
        self.gateway = TelegramGateway(self.bot, self.members)
        self.poll_timeout = poll_timeout
        self.bot_id = int(settings.telegram_token.get_secret_value().split(":", 1)[0])
        # With other workers on the database one of them polls, elected; with a webhook every
        # worker serves it. Either way each update is claimed in the database, handled once.
        self.elect = settings.shares_database()
        self.lease_seconds = settings.telegram_poller_lease_seconds
        self.webhook_url = settings.telegram_webhook_url
        self.webhook: Webhook | None = None
        if settings.telegram_webhook_url and settings.telegram_webhook_secret is not None:
            self.webhook = Webhook(urlsplit(settings.telegram_webhook_url).path or "/",
                                   settings.telegram_webhook_secret.get_secret_value(),
                                   self._on_webhook_update)
        self._lease: PollerLease | None = None
        self._once: Once | None = None
        self._core: WatchParty | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._answering = asyncio.Semaphore(ANSWERS_IN_FLIGHT)
        self._install_handlers()

    # ---- lifecycle --------------------------------------------------------------------------

    async def run(self, core: WatchParty, shutdown: Shutdown) -> None:
        """Connect, serve updates into the core until `shutdown.stop`, finish those in flight,
        and disconnect cleanly once `shutdown.disconnect` is set."""
        self._core = core
        app = self.application
        if not await self._initialize(shutdown.stop):
            return
        pruning: asyncio.Task[None] | None = None
        try:
            self.gateway.attach(core)
            await self._register_commands()
            await app.start()
            if self.webhook is not None or self.elect:
                self._once = (Once(core, self.bot_id) if self.webhook is not None else
                              Once(core, self.bot_id, claim_seconds=self.lease_seconds))
                pruning = asyncio.create_task(self._once.prune(shutdown.stop),
                                              name="telegram-prune")
            if self.webhook is not None:
                await self._serve_webhook(self.webhook, shutdown.stop)
            elif self.elect:
                await self._poll_elected(core, shutdown.stop)
            else:
                await self._leave_webhook_mode()
                log.info("Telegram: polling as @%s", self.bot.username)
                await self._poll(shutdown.stop)
            await self._wind_down()
            shutdown.idle.set()
            await shutdown.disconnect.wait()
        finally:
            if pruning is not None:
                pruning.cancel()
            self.gateway.detach()
            if app.running:
                await app.stop()
            await app.shutdown()

    def web_routes(self) -> list[Any]:
        """The routes this adapter serves on PORT: the webhook, in webhook mode."""
        return self.webhook.routes() if self.webhook is not None else []

    def health(self) -> dict[str, Any]:
        """What GET /healthz says of Telegram: how updates arrive, and whether this worker polls."""
        if self.webhook is not None:
            return {"telegram": "webhook", "poller": False}
        polling = (self._lease is not None and self._lease.held) if self.elect else True
        return {"telegram": "polling" if polling else "standby", "poller": polling}

    async def _serve_webhook(self, webhook: Webhook, stop: asyncio.Event) -> None:
        """Set the webhook (pending updates kept), serve it until `stop`, finish what is in
        flight. It stays set: the other workers go on serving it."""
        pause = 1.0
        while not stop.is_set():
            try:
                await self.bot.set_webhook(self.webhook_url or "",
                                           secret_token=webhook.secret,
                                           allowed_updates=list(ALLOWED_UPDATES),
                                           drop_pending_updates=False)
                break
            except TelegramError as exc:
                log.warning("setWebhook failed (%s); trying again in %.0fs", exc, pause)
                await self._pause(stop, pause)
                pause = min(pause * 2, 30.0)
        webhook.accepting = True
        log.info("Telegram: serving the webhook as @%s", self.bot.username)
        await stop.wait()
        await webhook.drain(DRAIN_SECONDS)

    async def _leave_webhook_mode(self) -> None:
        """Back to polling: remove a webhook an earlier run set, keeping its pending updates."""
        try:
            info = await self.bot.get_webhook_info()
            if info.url:
                await self.bot.delete_webhook(drop_pending_updates=False)
                log.info("Telegram: removed the webhook; polling from now on")
        except TelegramError as exc:
            log.warning("could not check for a webhook (%s); polling anyway", exc)

    async def _poll_elected(self, core: WatchParty, stop: asyncio.Event) -> None:
        """Poll while this worker holds the poller lease; stand by while another does."""
        lease = self._lease = PollerLease(core, self.bot_id, self.lease_seconds)
        while await lease.acquire(stop):
            log.info("Telegram: this worker (%s) polls as @%s", core.worker_id,
                     self.bot.username)
            halt = asyncio.Event()
            keeper = asyncio.create_task(lease.keep(stop, halt), name="telegram-lease")
            try:
                await self._leave_webhook_mode()
                await self._poll(halt, confirm=lambda: lease.held)
            finally:
                keeper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await keeper
            if stop.is_set():
                await lease.release()
                return

    async def _on_webhook_update(self, data: dict[str, Any]) -> bool | None:
        """One posted update, handled once: True handled now, False before, None elsewhere."""
        once = self._once
        assert once is not None
        update_id = int(data["update_id"])
        claimed = await once.claim(update_id, patience=WEBHOOK_PATIENCE)
        if not claimed:
            return claimed
        try:
            update = Update.de_json(data, self.bot)
        except Exception as exc:
            log.error("could not decode Telegram update %s (%s); skipped", update_id,
                      type(exc).__name__)
        else:
            await self._process(update)
        await once.finish(update_id)
        return True

    async def _process_once(self, update: Update) -> None:
        """Handle a polled update unless a worker handled it before (a poller that died)."""
        once = self._once
        assert once is not None
        if await once.claim(update.update_id, patience=None):
            await self._process(update)
            await once.finish(update.update_id)

    async def _initialize(self, stop: asyncio.Event) -> bool:
        """Initialize the Application (getMe), waiting out network trouble; False if stopped."""
        pause = 1.0
        while not stop.is_set():
            try:
                await self.application.initialize()
                return True
            except InvalidToken:
                raise ConfigurationError(
                    "TELEGRAM_TOKEN: Telegram does not accept this token (revoked, or meant "
                    "for another TELEGRAM_BASE_URL?)") from None
            except NetworkError as exc:
                log.warning("Telegram is unreachable (%s); trying again in %.0fs", exc, pause)
                await self._pause(stop, pause)
                pause = min(pause * 2, 30.0)
        return False

    async def _register_commands(self) -> None:
        try:
            await self.bot.set_my_commands([BotCommand(COMMAND, COMMAND_DESCRIPTION)])
        except TelegramError as exc:
            log.warning("could not register /%s with setMyCommands: %s", COMMAND, exc)

    async def _wind_down(self) -> None:
        """Let exports in flight finish, for a moment (the root then drains the outbox)."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5.0)

    @staticmethod
    async def _pause(stop: asyncio.Event, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), seconds)

    # ---- the update loop ----------------------------------------------------------------------

    async def _poll(self, stop: asyncio.Event,
                    confirm: Callable[[], bool] = lambda: True) -> None:
        """Fetch, hand each update to its chat's lane, confirm up to the intake's watermark.

        At the end what is finished is confirmed, if `confirm()` still says this worker polls.
        """
        intake = Intake(self._process_once if self._once is not None else self._process)
        pause = 1.0
        try:
            while not stop.is_set():
                if intake.busy:
                    # getUpdates answers at once while anything is unconfirmed: fetch what came
                    # for other chats at this pace rather than in a tight loop.
                    await self._until_settled(intake, stop)
                    if stop.is_set():
                        break
                try:
                    raw = await self._fetch(intake.watermark, stop,
                                            0 if intake.busy else self.poll_timeout)
                except _Stopped:
                    break
                except (InvalidToken, EndPointNotFound):
                    # A raw request reports a refused token as a missing endpoint.
                    raise ConfigurationError("TELEGRAM_TOKEN: Telegram stopped accepting this "
                                             "token") from None
                except TgRetryAfter as exc:
                    await self._pause(stop, retry_seconds(exc))
                    continue
                except (NetworkError, Conflict) as exc:
                    log.warning("getUpdates failed (%s); trying again in %.0fs", exc, pause)
                    await self._pause(stop, pause)
                    pause = min(pause * 2, 30.0)
                    continue
                pause = 1.0
                for data in raw:
                    self._admit(intake, data)
        finally:
            await intake.drain(DRAIN_SECONDS)
        offset = intake.watermark
        if offset is not None and confirm():
            # Confirm what is finished now, so the next start does not see it again.
            try:
                await self.bot.get_updates(offset=offset, limit=1, timeout=0,
                                           allowed_updates=list(ALLOWED_UPDATES))
            except TelegramError as exc:
                log.info("could not confirm the last updates (%s); they will be seen again "
                         "and recorded once", exc)

    @staticmethod
    async def _until_settled(intake: Intake, stop: asyncio.Event) -> None:
        """Wait until the intake is idle, or for REFETCH_SECONDS, or until `stop`."""
        settled = asyncio.ensure_future(intake.settle(REFETCH_SECONDS))
        stopped = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({settled, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            settled.cancel()
            stopped.cancel()

    async def _fetch(self, offset: int | None, stop: asyncio.Event,
                     wait: int) -> Sequence[Any]:
        """The raw updates from `offset` on, decoded one by one later (see `_admit`)."""
        fetch = asyncio.ensure_future(self.bot.do_api_request(
            "getUpdates", api_kwargs={"offset": offset, "limit": BATCH, "timeout": wait,
                                      "allowed_updates": list(ALLOWED_UPDATES)},
            read_timeout=wait + POLL_READ_MARGIN))
        waiter = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({fetch, waiter}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
        if not fetch.done():
            fetch.cancel()
            with contextlib.suppress(asyncio.CancelledError, TelegramError):
                await fetch
            raise _Stopped
        result = fetch.result()
        return result if isinstance(result, list) else []

    def _admit(self, intake: Intake, data: Any) -> None:
        """Decode one raw update and queue it; one that cannot be decoded is logged and passed."""
        update_id = data.get("update_id") if isinstance(data, dict) else None
        if not isinstance(update_id, int):
            log.error("Telegram sent an update without an id; ignored")
            return
        if not intake.is_new(update_id):
            return
        try:
            update = Update.de_json(data, self.bot)
        except Exception as exc:
            kinds = ", ".join(sorted(k for k in data if k != "update_id")) or "nothing"
            log.error("could not decode Telegram update %s (%s: %s); confirmed and skipped",
                      update_id, kinds, type(exc).__name__)
            intake.skip(update_id)
            return
        intake.admit(update)

    async def _process(self, update: Update) -> None:
        """Run an update through the Application; retry a recording that failed unexpectedly.

        Nothing escapes: an update that fails beyond that is logged, and counts as finished.
        """
        for attempt in range(len(RETRY_PAUSES) + 1):
            state = _Attempt(retrying=attempt < len(RETRY_PAUSES))
            token = _ATTEMPT.set(state)
            try:
                await self.application.process_update(update)
            except Exception as exc:
                log.error("Telegram update %s (%s) failed: %s; confirmed and skipped",
                          update.update_id, _what(update), type(exc).__name__)
                return
            finally:
                _ATTEMPT.reset(token)
            if state.failed is None:
                return
            log.warning("update %s failed (%s); trying again", update.update_id,
                        type(state.failed).__name__)
            await asyncio.sleep(RETRY_PAUSES[attempt])

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ---- handlers -----------------------------------------------------------------------------

    def _install_handlers(self) -> None:
        app = self.application
        app.add_handler(TypeHandler(Update, self._drop_malformed), group=-1)
        app.add_handler(CommandHandler(COMMAND, self._on_command,
                                       filters=filters.UpdateType.MESSAGE))
        app.add_handler(CommandHandler("start", self._on_start,
                                       filters=filters.UpdateType.MESSAGE
                                       & filters.ChatType.PRIVATE))
        app.add_handler(MessageHandler(filters.UpdateType.MESSAGE & filters.Document.ALL
                                       & filters.CaptionRegex(UPLOAD_CAPTION), self._on_upload))
        app.add_handler(MessageHandler(filters.UpdateType.MESSAGE & filters.REPLY & filters.TEXT
                                       & ~filters.COMMAND, self._on_reply))
        app.add_handler(MessageHandler(filters.StatusUpdate.MIGRATE, self._on_migrate))
        app.add_handler(CallbackQueryHandler(self._on_button))
        app.add_handler(MessageReactionHandler(self._on_reaction))
        app.add_handler(PollAnswerHandler(self._on_poll_answer))
        app.add_handler(ChatMemberHandler(self._on_my_member, ChatMemberHandler.MY_CHAT_MEMBER))
        app.add_error_handler(self._on_error)

    async def _drop_malformed(self, update: Update, context: Context) -> None:
        """An update not in the Bot API's shape reaches no handler (it is confirmed as read)."""
        if not well_formed(update):
            log.warning("update %s dropped: not in the Bot API's shape (%s)", update.update_id,
                        kind_of(update))
            raise ApplicationHandlerStop

    @property
    def core(self) -> WatchParty:
        """The core this adapter feeds (set by `run`)."""
        assert self._core is not None, "the adapter is not running"
        return self._core

    def _event(self, update: Update, part: int | None = None) -> str:
        """The name a record of this update carries, so a redelivery is not recorded twice."""
        name = f"tg:{self.bot.id}:{update.update_id}"
        return name if part is None else f"{name}:{part}"

    def _moderator_check(self, chat: Chat, user: User | None,
                         known: bool | None = None) -> c.ModeratorCheck:
        """How the core asks whether the sender moderates this chat, only when a rule needs it."""
        async def check() -> bool:
            if known is not None:
                return known
            if chat.type == Chat.PRIVATE:
                return True  # a private chat with the bot is the user's own
            if user is None:
                return False
            return await self.members.is_moderator(chat.id, user.id)
        return check

    def _message_context(self, update: Update, message: TgMessage) -> c.Context:
        actor, known = message_actor(message)
        return c.Context(message_chat(message), actor, scope_of(message.chat.id),
                         self._event(update),
                         self._moderator_check(message.chat, message.from_user, known))

    async def _on_command(self, update: Update, context: Context) -> None:
        """`/watchparty <subcommand> args` (also `/watchparty@botname` in groups)."""
        message = update.message
        assert message is not None
        words = (message.text or "").split(maxsplit=1)
        command = parse_command_text(words[1] if len(words) > 1 else "")
        ctx = self._message_context(update, message)
        reply = await self.core.handle(ctx, command)
        if reply is not None and isinstance(command, c.ShowHelp):
            reply = await self._with_admin_note(message.chat, reply)
        await self._answer(update, ctx.chat, reply)

    async def _on_start(self, update: Update, context: Context) -> None:
        """`/start` in a private chat: the help, and exports can now be sent here."""
        message = update.message
        assert message is not None
        await self._answer(update, message_chat(message), c.Reply(render.help_text()))

    async def _with_admin_note(self, chat: Chat, reply: c.Reply) -> c.Reply:
        """Help in a group says so while the bot is not an administrator (no reactions then)."""
        if chat.type not in GROUP_TYPES:
            return reply
        try:
            admin = await self.members.bot_is_admin(chat.id)
        except TelegramError:
            log.debug("could not ask whether the bot administers %s", chat.id, exc_info=True)
            return reply
        if admin:
            return reply
        return replace(reply, message=replace(
            reply.message, spans=(*reply.message.spans, *texts.not_admin_note())))

    async def _on_upload(self, update: Update, context: Context) -> None:
        """A .toml document with the caption `/watchparty guide upload`."""
        message = update.message
        assert message is not None and message.document is not None
        match = UPLOAD_CAPTION.match(message.caption or "")
        if match is None or (match[1] and match[1].lower() != (self.bot.username or "").lower()):
            return  # addressed to another bot
        document = message.document
        name = document.file_name or "guide.toml"
        if document.file_size is not None and document.file_size > MAX_GUIDE_BYTES:
            # Not downloaded: the core would refuse it for its size anyway.
            raise UserError("guide_invalid", name=name, problems=[
                f"file: {document.file_size:,} bytes; at most {MAX_GUIDE_BYTES:,} (64 KiB) "
                "allowed"])
        file = await document.get_file()
        data = bytes(await file.download_as_bytearray())
        command = c.UploadGuide(name, data)
        ctx = self._message_context(update, message)
        await self._answer(update, ctx.chat, await self.core.handle(ctx, command))

    async def _on_reply(self, update: Update, context: Context) -> None:
        """A reply to one of the bot's prompts is an answer to it."""
        message = update.message
        assert message is not None
        target = message.reply_to_message
        if target is None or target.from_user is None or target.from_user.id != self.bot.id:
            return
        ctx = self._message_context(update, message)
        self._retryable_step()
        await self._settle(message.chat.id, target.message_id)
        reply = await self.core.handle(ctx, c.RecordAnswer(message.text or "",
                                                           message_id=str(target.message_id)))
        if reply is not None:
            # A reaction, not a message: a group's 20 messages a minute are for the party.
            self._spawn(self._acknowledge(message))

    async def _acknowledge(self, message: TgMessage) -> None:
        try:
            await self.bot.set_message_reaction(message.chat.id, message.message_id,
                                                ReactionEmoji.WRITING_HAND)
        except TelegramError as exc:
            log.debug("could not mark answer %s as recorded: %s", message.message_id, exc)

    async def _on_button(self, update: Update, context: Context) -> None:
        """RSVP, Ready, Approve / Decline: the button's data is the command."""
        query = update.callback_query
        assert query is not None
        command = buttons.parse(query.data or "")
        message = query.message
        if message is None:
            raise UserError("button_unknown")
        chat = (message_chat(message) if isinstance(message, TgMessage)
                else chat_ref(message.chat.id))
        ctx = c.Context(chat, user_actor(query.from_user), scope_of(message.chat.id),
                        self._event(update), self._moderator_check(message.chat,
                                                                   query.from_user))
        self._retryable_step()
        reply = await self.core.handle(ctx, command)
        toast = clip(plain(reply.message.spans), CALLBACK_ANSWER_LIMIT) if reply else None
        # Answered as soon as the press is stored. Awaited, not spawned: under a flood of
        # presses the intake's window then paces the bot (measured: answering in the
        # background let the backlog take the CPU that GO needed, docs/benchmarks.md).
        await self._answer_query(update, toast)
        if reply is not None and reply.attachment is not None:
            # A file for whoever pressed (Add to calendar): privately if they started the bot.
            self._spawn(self._deliver_export(message, chat, reply.attachment, reply.message,
                                             f"reply:{self._event(update)}",
                                             user=query.from_user))
            return
        if reply is not None and not reply.private:
            self.core.reply(chat, replace(reply.message,
                                                reply_to=str(message.message_id)))

    async def _answer_query(self, update: Update, text: str | None,
                            alert: bool = False) -> None:
        query = update.callback_query
        assert query is not None
        try:
            async with self._answering:
                await query.answer(text, show_alert=alert)
        except BadRequest as exc:
            # A query delivered again after a restart is too old to answer; it is recorded.
            log.debug("could not answer callback query %s: %s", query.id, exc)
        except TelegramError as exc:
            # The press is recorded; the person's spinner just runs out.
            log.info("could not answer callback query %s: %s", query.id, exc)

    async def _on_reaction(self, update: Update, context: Context) -> None:
        """Reactions on party messages: each added or removed emoji is a record."""
        self._retryable_step()
        counted = update.message_reaction_count
        if counted is not None:
            chat = await self._reaction_chat(counted.chat, counted.message_id)
            await self._settle(counted.chat.id, counted.message_id)
            counts = tuple((_reaction_key(r.type), r.total_count) for r in counted.reactions)
            ctx = c.Context(chat, ANONYMOUS, scope_of(counted.chat.id), self._event(update))
            await self.core.handle(ctx, c.RecordReactionCount(str(counted.message_id), counts))
            return
        changed = update.message_reaction
        if changed is None:
            return
        if changed.user is not None:
            actor = user_actor(changed.user)
        elif changed.actor_chat is not None:
            actor = chat_actor(changed.actor_chat)
        else:
            return
        chat = await self._reaction_chat(changed.chat, changed.message_id)
        await self._settle(changed.chat.id, changed.message_id)
        old = [_reaction_key(r) for r in changed.old_reaction]
        new = [_reaction_key(r) for r in changed.new_reaction]
        changes = [(key, False) for key in old if key not in new]
        changes += [(key, True) for key in new if key not in old]
        for part, (emoji, added) in enumerate(changes):
            ctx = c.Context(chat, actor, scope_of(changed.chat.id), self._event(update, part))
            await self.core.handle(ctx, c.RecordReaction(str(changed.message_id), emoji, added))

    async def _settle(self, chat_id: int, message_id: int) -> None:
        """Wait, briefly, for the core to store a party message posted a moment ago.

        The core stores what a posted message is for once Telegram has answered the send; a
        quick reply, reaction or vote can arrive first, and would otherwise find nothing.
        """
        recent = self.gateway.recent(chat_id, message_id)
        if recent is None:
            return
        chat, sent_at = recent
        while not await self.core.is_party_message(chat, str(message_id)):
            if time.monotonic() - sent_at > SETTLE_SECONDS:
                return
            await asyncio.sleep(0.01)

    async def _reaction_chat(self, chat: Chat, message_id: int) -> ChatRef:
        """Reaction updates name the group, not the forum topic: look the message up."""
        recent = self.gateway.recent(chat.id, message_id)
        if recent is not None:
            return recent[0]
        if chat.is_forum:
            found = await self.core.find_message_ref(PLATFORM, ref_for_message(chat.id,
                                                                               message_id))
            if found is not None:
                return found[0]
        return chat_ref(chat.id)

    async def _on_poll_answer(self, update: Update, context: Context) -> None:
        """A vote in a guide's poll: the poll id leads to its chat and message."""
        answer = update.poll_answer
        assert answer is not None
        self._retryable_step()
        recent = self.gateway.recent_poll(answer.poll_id)
        found = (recent[:2] if recent is not None else
                 await self.core.find_message_ref(PLATFORM, ref_for_poll(answer.poll_id)))
        if found is None:
            return  # not a poll of ours, or from before this database
        chat, message_id = found
        await self._settle(split_ref(chat)[0], int(message_id))
        if answer.user is not None:
            actor = user_actor(answer.user)
        elif answer.voter_chat is not None:
            actor = chat_actor(answer.voter_chat)
        else:
            return
        ctx = c.Context(chat, actor, scope_of(split_ref(chat)[0]), self._event(update))
        await self.core.handle(ctx, c.RecordPollVote(message_id, tuple(answer.option_ids)))

    async def _on_migrate(self, update: Update, context: Context) -> None:
        """A group became a supergroup: its parties, settings and records move with it."""
        message = update.message
        assert message is not None
        if message.migrate_to_chat_id is not None:
            old, new = message.chat.id, message.migrate_to_chat_id
        elif message.migrate_from_chat_id is not None:
            old, new = message.migrate_from_chat_id, message.chat.id
        else:
            return
        self.members.forget(old)
        await self.core.move_chat(chat_ref(old), chat_ref(new))

    async def _on_my_member(self, update: Update, context: Context) -> None:
        """The bot was added, promoted or demoted: what it may see changed."""
        changed = update.my_chat_member
        assert changed is not None
        self.members.remember(changed.chat.id, self.bot.id, changed.new_chat_member.status)

    # ---- replies and errors -----------------------------------------------------------------

    async def _answer(self, update: Update, chat: ChatRef, reply: c.Reply | None) -> None:
        """Queue the reply to a command, as a reply to it; an export goes out as a document.

        Telegram has no private replies in a group, so every reply goes to the chat. Nothing
        waits for delivery here: the outbox keeps the group's pace, not the update loop's. A
        delivered reply is remembered under its update's name: a command Telegram delivers
        again after a crash (answered, but not yet confirmed) is not answered twice.
        """
        message = update.message
        assert message is not None
        if reply is None or (reply.posted_here and reply.attachment is None):
            return  # the chat was just sent the same news
        answered = f"reply:{self._event(update)}"
        if await self.core.find_message_ref(PLATFORM, answered) is not None:
            return
        reply_to = str(message.message_id)
        if reply.attachment is not None:
            self._spawn(self._deliver_fitted(message, chat, reply, answered))
            return
        self._remember(answered, chat, self.core.reply(chat, replace(reply.message,
                                                                     reply_to=reply_to)))

    def _remember(self, answered: str, chat: ChatRef, sent: asyncio.Future[str]) -> None:
        """Once a reply is delivered, remember that its command was answered."""
        async def remember() -> None:
            try:
                message_id = await sent
            except Exception:
                return  # not delivered: a command delivered again is answered again
            await self.core.remember_message_ref(PLATFORM, answered, chat, message_id)
        self._spawn(remember())

    async def _deliver_fitted(self, message: TgMessage, chat: ChatRef, reply: c.Reply,
                              answered: str) -> None:
        """Zip an export that is over Telegram's upload limit, or say why it can't be sent."""
        fitted = await fit_reply(reply, UPLOAD_LIMIT)
        if fitted.attachment is None:
            self._remember(answered, chat, self.core.reply(
                chat, replace(fitted.message, reply_to=str(message.message_id))))
            return
        await self._deliver_export(message, chat, fitted.attachment, fitted.message, answered)

    async def _deliver_export(self, message: TgMessage | MaybeInaccessibleMessage,
                              chat: ChatRef, attachment: c.Attachment, caption: Message,
                              answered: str, user: User | None = None) -> None:
        """To the asker's private chat if they started one with the bot, else here.

        The asker sent `message` (a command), or is `user` (who pressed a button on it).
        """
        core = self.core
        reply_to = str(message.message_id)
        try:
            if user is None and isinstance(message, TgMessage):
                user = message.from_user
            if message.chat.type != Chat.PRIVATE and user is not None and not user.is_bot:
                try:
                    await core.reply_file(chat_ref(user.id), attachment.filename,
                                           attachment.data, caption)
                except DeliveryFailed:
                    caption = Message((*caption.spans,
                                       *texts.export_here_note(self.bot.username or "")))
                else:
                    self._remember(answered, chat, core.reply(chat, replace(
                        texts.export_sent_privately(attachment.filename), reply_to=reply_to)))
                    return
            sent = core.reply_file(chat, attachment.filename, attachment.data,
                                   replace(caption, reply_to=reply_to))
            self._remember(answered, chat, sent)
            await sent
        except Exception:
            log.exception("could not deliver export %s to %s", attachment.filename, chat)

    def _retryable_step(self) -> None:
        """Mark that what follows only records, so an unexpected failure may be retried."""
        state = _ATTEMPT.get()
        if state is not None:
            state.retryable = True

    async def _on_error(self, update: object, context: Context) -> None:
        """The one error translator: a UserError is a reply, anything else is logged."""
        error = context.error
        if error is None:
            return
        if isinstance(error, UserError):
            await self._tell(update, render.error(error))
            return
        state = _ATTEMPT.get()
        if state is not None and state.retrying and state.retryable:
            state.failed = error  # the update loop tries it again
            return
        chat = update.effective_chat.id if isinstance(update, Update) and update.effective_chat \
            else None
        log.error("Telegram update failed: %s in chat %s", _what(update), chat, exc_info=error)
        await self._tell(update, render.unexpected())

    async def _tell(self, update: object, message: Message) -> None:
        """Say something to whoever sent an update: an alert for a button, a reply otherwise."""
        if not isinstance(update, Update):
            return
        try:
            if update.callback_query is not None:
                await self._answer_query(update, clip(plain(message.spans),
                                                       CALLBACK_ANSWER_LIMIT), alert=True)
            elif update.message is not None:
                await self._answer(update, message_chat(update.message), c.Reply(message))
        except Exception:
            log.exception("could not tell the user about an error")
