"""A fake Telegram Bot API on 127.0.0.1, written for this project from PLATFORM_NOTES.md.

It speaks the real protocol to the real python-telegram-bot: `POST /bot<TOKEN>/<method>` with
form or multipart bodies (string parameters raw, everything else JSON-encoded), answers
`{"ok": true, "result": …}` or `{"ok": false, "error_code": …, "description": …}` (429s with
`parameters.retry_after`, migrated groups with `parameters.migrate_to_chat_id`), long-polls
`getUpdates` with `offset` and a persistent `allowed_updates`, and serves files under
`/file/bot<TOKEN>/<path>`. Text sent with `parse_mode=HTML` is parsed as strictly as Telegram
parses it, so a `<` or `&` that the bot forgot to escape is a 400, exactly as in production.

Tests act as users through it (commands, button presses, replies, reactions, poll votes,
uploads, a group's migration) and read what the bot posted, as people in the chat would see it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
import time
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from tests.loopback import LoopbackServer

TOKEN = "123456789:AAH-fake-token-for-the-loopback-server-0123"
BOT_ID = int(TOKEN.split(":")[0])
BOT_USERNAME = "watchparty_test_bot"
DEFAULT_UPDATES = frozenset({"message", "edited_message", "channel_post", "edited_channel_post",
                             "callback_query", "poll", "poll_answer", "my_chat_member",
                             "chat_join_request", "inline_query", "chosen_inline_result",
                             "shipping_query", "pre_checkout_query"})
STRING_PARAMS = frozenset({"text", "caption", "parse_mode", "callback_query_id", "question",
                           "file_id", "url", "language_code"})
HTML_TAGS = {"b": "bold", "strong": "bold", "i": "italic", "em": "italic", "u": "underline",
             "ins": "underline", "s": "strikethrough", "strike": "strikethrough",
             "del": "strikethrough", "code": "code", "pre": "pre", "a": "text_link",
             "tg-spoiler": "spoiler", "blockquote": "blockquote", "tg-time": "date_time",
             "tg-emoji": "custom_emoji", "span": "spoiler"}
SENDING = frozenset({"sendMessage", "sendDocument", "sendPoll", "editMessageText",
                     "editMessageReplyMarkup"})
_TAG = re.compile(r'<(/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[a-zA-Z_-]+\s*=\s*"[^"<>]*")*)\s*>')
_ATTR = re.compile(r'([a-zA-Z_-]+)\s*=\s*"([^"]*)"')
_ENTITY = re.compile(r"&(?:(lt|gt|amp|quot)|#(\d+)|#x([0-9a-fA-F]+));")
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_REQUEST: ContextVar[web.Request | None] = ContextVar("fake_telegram_request", default=None)
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


def utf16(text: str) -> int:
    """Length in UTF-16 code units, as Telegram counts."""
    return len(text.encode("utf-16-le")) // 2


class ApiError(Exception):
    """A Bot API error answer."""

    def __init__(self, code: int, description: str, **parameters: Any) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters


def parse_html(source: str) -> tuple[str, list[dict[str, Any]]]:
    """Telegram's HTML parse mode: the text people see and its entities, or a 400."""
    out: list[str] = []
    pos16 = 0
    stack: list[tuple[str, int, dict[str, str]]] = []
    entities: list[dict[str, Any]] = []
    i = 0
    while i < len(source):
        char = source[i]
        if char == "<":
            match = _TAG.match(source, i)
            if match is None:
                raise ApiError(400, "Bad Request: can't parse entities: Unsupported start tag "
                                    f"at byte offset {len(source[:i].encode())}")
            closing, name, raw_attrs = match[1] == "/", match[2].lower(), match[3]
            if name not in HTML_TAGS:
                raise ApiError(400, f'Bad Request: can\'t parse entities: Unsupported start tag '
                                    f'"{name}" at byte offset {len(source[:i].encode())}')
            if closing:
                if not stack or stack[-1][0] != name:
                    raise ApiError(400, "Bad Request: can't parse entities: Unmatched end tag "
                                        f'"{name}"')
                _, start, attrs = stack.pop()
                if pos16 > start:
                    entity: dict[str, Any] = {"type": HTML_TAGS[name], "offset": start,
                                              "length": pos16 - start}
                    if name == "tg-time":
                        entity["unix_time"] = int(attrs["unix"])
                        if "format" in attrs:
                            entity["date_time_format"] = attrs["format"]
                    if name == "a":
                        entity["url"] = attrs.get("href", "")
                    entities.append(entity)
            else:
                attrs = dict(_ATTR.findall(raw_attrs))
                if name == "tg-time" and not attrs.get("unix", "").isdigit():
                    raise ApiError(400, "Bad Request: can't parse entities: tg-time needs a "
                                        "unix attribute")
                stack.append((name, pos16, attrs))
            i = match.end()
            continue
        if char == "&":
            match = _ENTITY.match(source, i)
            if match is None:
                raise ApiError(400, "Bad Request: can't parse entities: Can't find end of the "
                                    f"entity starting at byte offset {len(source[:i].encode())}")
            if match[1]:
                char = _NAMED[match[1]]
            else:
                char = chr(int(match[2]) if match[2] else int(match[3], 16))
            i = match.end()
        else:
            i += 1
        out.append(char)
        pos16 += utf16(char)
    if stack:
        raise ApiError(400, "Bad Request: can't parse entities: Can't find end tag "
                            f'corresponding to start tag "{stack[-1][0]}"')
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


@dataclass
class Posted:
    """A message the bot posted, as it stands now (edits applied), and its history."""

    chat_id: int
    message_id: int
    kind: str  # text, document, poll
    text: str
    entities: list[dict[str, Any]]
    buttons: list[list[dict[str, Any]]]
    json: dict[str, Any]
    at: float
    thread: int | None = None
    reply_to: int | None = None
    html: str = ""
    edits: list[str] = field(default_factory=list)
    document: bytes = b""
    filename: str = ""
    wall: float = field(default_factory=time.time)  # when it arrived, UNIX seconds

    def entity_texts(self, kind: str) -> list[str]:
        """The text under each entity of a kind (UTF-16 offsets, as Telegram gives them)."""
        raw = self.text.encode("utf-16-le")
        return [raw[e["offset"] * 2:(e["offset"] + e["length"]) * 2].decode("utf-16-le")
                for e in self.entities if e["type"] == kind]

    def button_data(self) -> list[str]:
        """Every button's callback data, row by row."""
        return [b["callback_data"] for row in self.buttons for b in row]

    def button(self, label: str) -> str:
        """The callback data of the button with this label."""
        for row in self.buttons:
            for b in row:
                if b["text"] == label:
                    return str(b["callback_data"])
        raise AssertionError(f"no button {label!r} on message {self.message_id}: {self.buttons}")


@dataclass
class Call:
    """One request the bot made."""

    at: float
    method: str
    params: dict[str, Any]
    status: int
    chat_id: int | None = None
    done: float = 0.0  # when the fake answered it (monotonic)


@dataclass
class Storm:
    """Flood control for one chat: `accept` sends, then 429 for `retry_after` s, again and again."""

    retry_after: int
    accept: int
    left: int = 0
    blocked_until: float = 0.0
    violations: list[float] = field(default_factory=list)
    refusals: int = 0


class FakeTelegram(LoopbackServer):
    """One bot's Bot API: chats, members, messages, updates, files and polls, in memory."""

    client_max_size = 50 * 1024 * 1024
    shutdown_timeout = 0.5

    def __init__(self, token: str = TOKEN, username: str = BOT_USERNAME) -> None:
        super().__init__()
        self.token = token
        self.bot_user = {"id": int(token.split(":")[0]), "is_bot": True,
                         "first_name": "Watch Party", "username": username,
                         "can_join_groups": True, "can_read_all_group_messages": False,
                         "supports_inline_queries": False}
        self.bot_id = int(self.bot_user["id"])
        self.chats: dict[int, dict[str, Any]] = {}
        self.members: dict[tuple[int, int], str] = {}
        # an administrator's rights beyond the everyday ones (can_manage_topics), by member
        self.rights: dict[tuple[int, int], set[str]] = {}
        # forum topics, by (chat id, message_thread_id): their name, and whether deleted
        self.topics: dict[tuple[int, int], dict[str, Any]] = {}
        self.users: dict[int, dict[str, Any]] = {}
        self.started: set[int] = set()  # users who opened a private chat with the bot
        self.migrated: dict[int, int] = {}
        self.messages: dict[tuple[int, int], dict[str, Any]] = {}
        self.posted: list[Posted] = []
        self.calls: list[Call] = []
        self.updates: list[dict[str, Any]] = []
        self.dropped: list[dict[str, Any]] = []  # not delivered: not in allowed_updates
        self.confirmed = 0  # every update below this id has been confirmed
        self.allowed: frozenset[str] = DEFAULT_UPDATES
        self.commands: list[dict[str, Any]] = []
        self.callback_answers: dict[str, dict[str, Any]] = {}
        self.open_queries: set[str] = set()
        self.answered: dict[str, float] = {}  # when each query was answered (monotonic)
        self.reactions_set: list[tuple[int, int, list[dict[str, Any]]]] = []
        self.files: dict[str, tuple[str, bytes]] = {}
        self.polls: dict[str, dict[str, Any]] = {}
        self.storms: dict[int, Storm] = {}
        self.getupdates_waiting = 0
        self.failures: list[str] = []  # the fake's own bugs
        self.held: set[str] = set()  # methods whose answers are held back (a hung request)
        self.broken: dict[str, int] = {}  # methods that answer with a server error
        self._release = asyncio.Event()
        self._ids = itertools.count(1)
        self._update_ids = itertools.count(7000)
        self._message_ids: dict[int, itertools.count[int]] = {}
        self._user_ids = itertools.count(5001)
        self._chat_ids = itertools.count(1)
        self._changed = asyncio.Condition()
        self._pokes: set[asyncio.Task[None]] = set()
        # two bots polling at once: Telegram ends the older getUpdates with a 409
        self._polling: dict[int, web.Request] = {}
        self._poll_generation = 0
        self.poll_overlaps = 0
        # webhook mode: what setWebhook set, and every post made to it (update id, status)
        self.webhook: dict[str, Any] | None = None
        self.webhook_posts: list[tuple[int, int]] = []
        self.sent_updates: dict[int, dict[str, Any]] = {}  # every update queued, by id
        self.dropped_pending = 0  # updates thrown away by drop_pending_updates
        self._pusher: asyncio.Task[None] | None = None
        # Telegram's limits, counted once `count_limits` is called: every send or edit beyond
        # them is a violation (a real Telegram would have answered 429)
        self.counted: tuple[tuple[int, float], tuple[tuple[int, float], ...], float] | None = None
        self.limit_violations: list[str] = []
        self._bot_sends: list[float] = []
        self._chat_sends: dict[int, list[float]] = {}

    async def stop(self) -> None:
        """Stop posting to a webhook, then stop listening."""
        if self._pusher is not None:
            self._pusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pusher
            self._pusher = None
        await super().stop()

    @property
    def pollers(self) -> int:
        """How many getUpdates calls wait now on connections that are still open."""
        return sum(1 for r in self._polling.values()
                   if r.transport is not None and not r.transport.is_closing())

    # ---- server ---------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """TELEGRAM_BASE_URL for the bot."""
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        """TELEGRAM_BASE_FILE_URL for the bot."""
        return f"http://127.0.0.1:{self.port}/file/bot"

    def routes(self, app: web.Application) -> None:
        """The Bot API's methods and its file downloads."""
        app.router.add_post("/bot{token}/{method}", self._handle)
        app.router.add_get("/bot{token}/{method}", self._handle)
        app.router.add_get("/file/bot{token}/{path:.+}", self._download)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def wait_for(self, predicate: Callable[[], Any], within: float = 10.0,
                       what: str = "condition") -> Any:
        """Wait until `predicate()` is truthy (checked on every change); return its value."""
        deadline = asyncio.get_running_loop().time() + within
        async with self._changed:
            while True:
                value = predicate()
                if value:
                    return value
                left = deadline - asyncio.get_running_loop().time()
                if left <= 0:
                    raise AssertionError(f"timed out after {within:g}s waiting for {what}\n"
                                         + self.transcript())
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), min(left, 0.25))

    def transcript(self, last: int = 40) -> str:
        """The bot's latest posts, for failure messages."""
        lines = [f"[{p.chat_id}{'/' + str(p.thread) if p.thread else ''} #{p.message_id}] "
                 f"{p.text!r} {p.button_data() or ''}" for p in self.posted[-last:]]
        return "--- posted by the bot ---\n" + "\n".join(lines)

    # ---- the Bot API ------------------------------------------------------------------------

    async def _params(self, request: web.Request) -> tuple[dict[str, Any], dict[str, Any]]:
        params: dict[str, Any] = {}
        files: dict[str, Any] = {}
        if request.method == "POST" and request.can_read_body:
            if request.content_type == "application/json":
                params = dict(await request.json())
            else:
                form = await request.post()
                for key, value in form.items():
                    if isinstance(value, web.FileField):
                        files[key] = (value.filename, value.file.read())
                    elif key in STRING_PARAMS:
                        params[key] = value
                    else:
                        try:
                            params[key] = json.loads(value)
                        except (TypeError, ValueError):
                            params[key] = value
        for key, value in request.query.items():
            params.setdefault(key, value)
        return params, files

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if request.match_info["token"] != self.token:
            return web.json_response({"ok": False, "error_code": 401,
                                      "description": "Unauthorized"}, status=401)
        params, files = await self._params(request)
        handler = getattr(self, f"api_{method}", None)
        chat_id = params.get("chat_id")
        call = Call(time.monotonic(), method, params, 200,
                    int(chat_id) if isinstance(chat_id, int | str) and str(chat_id).lstrip(
                        "-").isdigit() else None)
        self.calls.append(call)
        _REQUEST.set(request)
        try:
            if handler is None:
                raise ApiError(404, "Not Found: method not found")
            if method in self.held:
                await self._release.wait()
            if method in self.broken:
                raise ApiError(self.broken[method], "Internal Server Error")
            if method in SENDING and call.chat_id is not None:
                self._flood_check(call.chat_id, call.at)
                self._count_limits(method, call.chat_id, time.monotonic())
            result = await handler(params, files)
        except ApiError as err:
            call.status = err.code
            body: dict[str, Any] = {"ok": False, "error_code": err.code,
                                    "description": err.description}
            if err.parameters:
                body["parameters"] = err.parameters
            await self._notify()
            return web.json_response(body, status=err.code)
        except Exception as exc:  # a bug in the fake: the test must fail, loudly
            self.failures.append(f"{method}: {exc!r}")
            call.status = 500
            await self._notify()
            return web.json_response({"ok": False, "error_code": 500,
                                      "description": f"fake server bug: {exc!r}"}, status=500)
        call.done = time.monotonic()
        await self._notify()
        return web.json_response({"ok": True, "result": result})

    async def _download(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.Response(status=401)
        for path, data in self.files.values():
            if path == request.match_info["path"]:
                return web.Response(body=data)
        return web.Response(status=404)

    def count_limits(self, per_bot: tuple[int, float] = (30, 1.0),
                     per_chat: tuple[tuple[int, float], ...] = ((1, 1.0), (20, 60.0)),
                     slack: float = 0.1) -> None:
        """Count sends and edits beyond Telegram's limits (a window is `slack` s shorter, for
        the jitter between the bot's clock and this server's)."""
        self.counted = (per_bot, per_chat, slack)

    def _count_limits(self, method: str, chat_id: int, now: float) -> None:
        if self.counted is None:
            return
        per_bot, per_chat, slack = self.counted
        sends = self._chat_sends.setdefault(chat_id, [])
        for times, rates, scope in ((self._bot_sends, (per_bot,), "the bot"),
                                    (sends, per_chat, f"chat {chat_id}")):
            times.append(now)
            for count, window in rates:
                inside = sum(1 for t in times if t > now - (window - slack))
                if inside > count:
                    self.limit_violations.append(
                        f"{method} to {chat_id}: {inside} in {window:g}s for {scope}")
            longest = max(w for _, w in rates)
            del times[:sum(1 for t in times if t <= now - longest)]

    def _flood_check(self, chat_id: int, now: float) -> None:
        storm = self.storms.get(chat_id)
        if storm is None:
            return
        if now < storm.blocked_until:
            storm.violations.append(storm.blocked_until - now)
            raise ApiError(429, f"Too Many Requests: retry after {storm.retry_after}",
                           retry_after=storm.retry_after)
        if storm.left <= 0:
            storm.blocked_until = now + storm.retry_after
            storm.left = storm.accept  # for when the wait is over
            storm.refusals += 1
            raise ApiError(429, f"Too Many Requests: retry after {storm.retry_after}",
                           retry_after=storm.retry_after)
        storm.left -= 1

    def _chat(self, chat_id: Any) -> dict[str, Any]:
        try:
            key = int(chat_id)
        except (TypeError, ValueError):
            raise ApiError(400, "Bad Request: chat not found") from None
        if key in self.migrated:
            raise ApiError(400, "Bad Request: group chat was upgraded to a supergroup chat",
                           migrate_to_chat_id=self.migrated[key])
        chat = self.chats.get(key)
        if chat is None:
            if key in self.started:
                return self.private_chat(self.users[key])
            if key in self.users:
                raise ApiError(403, "Forbidden: bot can't initiate conversation with a user")
            raise ApiError(400, "Bad Request: chat not found")
        if chat["type"] != "private" and self.members.get((key, self.bot_id)) in (
                None, "left", "kicked"):
            raise ApiError(403, "Forbidden: bot is not a member of the group chat")
        return chat

    def _next_message_id(self, chat_id: int) -> int:
        counter = self._message_ids.setdefault(chat_id, itertools.count(1))
        return next(counter)

    def _message(self, chat: dict[str, Any], sender: dict[str, Any], thread: int | None = None,
                 **fields: Any) -> dict[str, Any]:
        message_id = self._next_message_id(chat["id"])
        message: dict[str, Any] = {"message_id": message_id, "date": int(time.time()),
                                   "chat": chat, "from": sender, **fields}
        if thread is not None and chat.get("is_forum"):
            message["message_thread_id"] = thread
            message["is_topic_message"] = True
        self.messages[(chat["id"], message_id)] = message
        return message

    def _markup(self, params: dict[str, Any]) -> list[list[dict[str, Any]]]:
        markup = params.get("reply_markup") or {}
        rows: list[list[dict[str, Any]]] = markup.get("inline_keyboard", [])
        for row in rows:
            for button in row:
                data = button.get("callback_data", "")
                if not 1 <= len(data.encode()) <= 64:
                    raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
        return rows

    def _text(self, params: dict[str, Any], key: str, limit: int) -> tuple[str, list[Any], str]:
        source = str(params.get(key) or "")
        if params.get("parse_mode") == "HTML":
            text, entities = parse_html(source)
        elif params.get("parse_mode"):
            raise ApiError(400, "Bad Request: unsupported parse_mode in this fake")
        else:
            text, entities = source, list(params.get("entities") or [])
        if utf16(text) > limit:
            raise ApiError(400, f"Bad Request: {'message' if key == 'text' else key} is too long")
        return text, entities, source

    def _post(self, chat: dict[str, Any], kind: str, params: dict[str, Any],
              shown: str = "", shown_entities: list[Any] | None = None, html: str = "",
              **fields: Any) -> Posted:
        thread = params.get("message_thread_id")
        if thread is not None and chat.get("is_forum"):
            topic = self.topics.get((chat["id"], int(thread)))
            if topic is None or topic.get("deleted"):
                raise ApiError(400, "Bad Request: message thread not found")
        buttons = self._markup(params)
        extra: dict[str, Any] = dict(fields)
        reply = params.get("reply_parameters") or {}
        reply_to = None
        if reply.get("message_id") is not None:
            target = self.messages.get((chat["id"], int(reply["message_id"])))
            if target is None and not reply.get("allow_sending_without_reply"):
                raise ApiError(400, "Bad Request: message to be replied not found")
            if target is not None:
                extra["reply_to_message"] = target
                reply_to = int(reply["message_id"])
        if buttons:
            extra["reply_markup"] = {"inline_keyboard": buttons}
        message = self._message(chat, self.bot_user, thread, **extra)
        posted = Posted(chat["id"], message["message_id"], kind, shown, shown_entities or [],
                        buttons,
                        message, time.monotonic(), thread if chat.get("is_forum") else None,
                        reply_to, html)
        self.posted.append(posted)
        return posted

    async def api_getMe(self, params: dict[str, Any], files: dict[str, Any]) -> Any:
        return self.bot_user

    def _drop_pending(self, params: dict[str, Any]) -> None:
        if params.get("drop_pending_updates") in (True, "true", "True"):
            self.dropped_pending += len(self.updates)
            self.updates = []

    async def api_setWebhook(self, params: dict[str, Any], files: dict[str, Any]) -> Any:
        url = str(params.get("url") or "")
        if not url:
            return await self.api_deleteWebhook(params, files)
        if not url.startswith(("https://", "http://127.0.0.1", "http://localhost")):
            raise ApiError(400, "Bad Request: bad webhook: An HTTPS URL must be provided for "
                                "webhook")
        secret = params.get("secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", str(secret)):
            raise ApiError(400, "Bad Request: secret token contains unallowed characters")
        self._drop_pending(params)
        allowed = params.get("allowed_updates")
        if allowed is not None:
            self.allowed = frozenset(allowed) if allowed else DEFAULT_UPDATES
        self.webhook = {"url": url, "secret_token": None if secret is None else str(secret)}
        if self._pusher is None or self._pusher.done():
            self._pusher = asyncio.get_running_loop().create_task(self._push())
        self._poke()
        return True

    async def api_deleteWebhook(self, params: dict[str, Any], files: dict[str, Any]) -> Any:
        self._drop_pending(params)
        self.webhook = None
        self._poke()
        return True

    async def api_getWebhookInfo(self, params: dict[str, Any], files: dict[str, Any]) -> Any:
        return {"url": self.webhook["url"] if self.webhook else "",
                "has_custom_certificate": False, "pending_update_count": len(self.updates)}

    async def _push(self) -> None:
        """Post each pending update to the webhook in order, again until it is answered 200."""
        async with aiohttp.ClientSession() as session:
            while self.webhook is not None:
                if not self.updates:
                    async with self._changed:
                        await self._changed.wait()
                    continue
                update = self.updates[0]
                status = await self.post_webhook(update, self.webhook.get("secret_token"),
                                                 session=session)
                self.webhook_posts.append((update["update_id"], status))
                if status == 200:
                    self.updates = [u for u in self.updates if u is not update]
                    self.confirmed = max(self.confirmed, int(update["update_id"]) + 1)
                else:
                    await asyncio.sleep(0.2)
                await self._notify()

    async def post_webhook(self, update: dict[str, Any], secret: str | None, *,
                           url: str | None = None,
                           session: aiohttp.ClientSession | None = None) -> int:
        """Post one update to the webhook as Telegram does (or as someone else might); its
        HTTP status (599: no answer)."""
        target = url or (self.webhook or {}).get("url")
        assert target, "no webhook is set"
        headers = {} if secret is None else {SECRET_HEADER: secret}
        own = session is None
        client = session or aiohttp.ClientSession()
        try:
            async with client.post(target, json=update, headers=headers,
                                   timeout=aiohttp.ClientTimeout(total=60)) as response:
                await response.read()
                return response.status
        except (aiohttp.ClientError, TimeoutError):
            return 599
        finally:
            if own:
                await client.close()

    async def api_setMyCommands(self, params: dict[str, Any], files: dict[str, Any]) -> Any:
        for command in params.get("commands", []):
            if not re.fullmatch(r"[a-z0-9_]{1,32}", command["command"]) or not (
                    1 <= len(command["description"]) <= 256):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
        self.commands = list(params.get("commands", []))
        return True

    async def api_getUpdates(self, params: dict[str, Any], files: dict[str, Any]) -> Any:
        if self.webhook is not None:
            raise ApiError(409, "Conflict: can't use getUpdates method while webhook is active; "
                                "use deleteWebhook to delete the webhook first")
        request = _REQUEST.get()
        if self.pollers:
            self.poll_overlaps += 1
            self._poll_generation += 1  # the waiting one is ended with a 409, as Telegram does
            self._poke()
        generation = self._poll_generation
        offset = params.get("offset")
        if offset is not None and int(offset) > 0:
            self.confirmed = max(self.confirmed, int(offset))
            self.updates = [u for u in self.updates if u["update_id"] >= self.confirmed]
            await self._notify()
        allowed = params.get("allowed_updates")
        if allowed is not None:
            self.allowed = frozenset(allowed) if allowed else DEFAULT_UPDATES
        limit = int(params.get("limit") or 100)
        timeout = float(params.get("timeout") or 0)
        self.getupdates_waiting += 1
        if request is not None:
            self._polling[id(request)] = request
        try:
            deadline = asyncio.get_running_loop().time() + timeout
            async with self._changed:
                while not self.updates and generation == self._poll_generation:
                    left = deadline - asyncio.get_running_loop().time()
                    if left <= 0:
                        break
                    try:
                        await asyncio.wait_for(self._changed.wait(), left)
                    except TimeoutError:
                        break
        finally:
            self.getupdates_waiting -= 1
            if request is not None:
                self._polling.pop(id(request), None)
        if generation != self._poll_generation:
            raise ApiError(409, "Conflict: terminated by other getUpdates request; make sure "
                                "that only one bot instance is running")
        return self.updates[:limit]

    async def api_sendMessage(self, params: dict[str, Any], files: dict[str, Any]) -> Any:
        chat = self._chat(params.get("chat_id"))
        text, entities, source = self._text(params, "text", 4096)
        if not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        posted = self._post(chat, "text", params, text, entities, source, text=text,
                            **({"entities": entities} if entities else {}))
        return posted.json

    async def api_editMessageText(self, params: dict[str, Any], files: dict[str, Any]) -> Any:
        chat = self._chat(params.get("chat_id"))
        posted = self._own(chat["id"], params.get("message_id"))
        text, entities, source = self._text(params, "text", 4096)
        buttons = self._markup(params)
        if text == posted.text and entities == posted.entities and buttons == posted.buttons:
            raise ApiError(400, "Bad Request: message is not modified: specified new message "
                                "content and reply markup are exactly the same as a current "
                                "content and reply markup of the message")
        posted.edits.append(posted.text)
        posted.text, posted.entities, posted.buttons, posted.html = text, entities, buttons, source
        posted.json["text"] = text
        posted.json["entities"] = entities
        posted.json["edit_date"] = int(time.time())
        posted.json["reply_markup"] = {"inline_keyboard": buttons}
        return posted.json

    async def api_editMessageReplyMarkup(self, params: dict[str, Any],
                                         files: dict[str, Any]) -> Any:
        chat = self._chat(params.get("chat_id"))
        posted = self._own(chat["id"], params.get("message_id"))
        buttons = self._markup(params)
        if buttons == posted.buttons:
            raise ApiError(400, "Bad Request: message is not modified")
        posted.buttons = buttons
        posted.json["reply_markup"] = {"inline_keyboard": buttons}
        return posted.json

    def _own(self, chat_id: int, message_id: Any) -> Posted:
        for posted in self.posted:
            if posted.chat_id == chat_id and posted.message_id == int(message_id or 0):
                return posted
        if (chat_id, int(message_id or 0)) in self.messages:
            raise ApiError(400, "Bad Request: message can't be edited")
        raise ApiError(400, "Bad Request: message to edit not found")

    async def api_answerCallbackQuery(self, params: dict[str, Any],
                                      files: dict[str, Any]) -> Any:
        query_id = str(params.get("callback_query_id"))
        if query_id not in self.open_queries:
            raise ApiError(400, "Bad Request: query is too old and response timeout expired or "
                                "query ID is invalid")
        self.open_queries.discard(query_id)
        text = params.get("text")
        if text is not None and len(text) > 200:
            raise ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        self.callback_answers[query_id] = {"text": text,
                                           "show_alert": bool(params.get("show_alert"))}
        self.answered[query_id] = time.monotonic()
        return True

    async def api_sendDocument(self, params: dict[str, Any], files: dict[str, Any]) -> Any:
        chat = self._chat(params.get("chat_id"))
        if "document" not in files:
            raise ApiError(400, "Bad Request: there is no document in the request")
        filename, data = files["document"]
        caption, entities, source = self._text(params, "caption", 1024)
        file_id = self._store_file(filename, data)
        document = {"file_id": file_id, "file_unique_id": file_id + "u", "file_name": filename,
                    "mime_type": "application/octet-stream", "file_size": len(data)}
        fields: dict[str, Any] = {"document": document}
        if caption:
            fields["caption"] = caption
            if entities:
                fields["caption_entities"] = entities
        posted = self._post(chat, "document", params, caption, entities, source, **fields)
        posted.document, posted.filename = data, filename
        return posted.json

    def _store_file(self, filename: str, data: bytes) -> str:
        file_id = f"file{next(self._ids)}"
        self.files[file_id] = (f"documents/{file_id}_{filename}", data)
        return file_id

    async def api_getFile(self, params: dict[str, Any], files: dict[str, Any]) -> Any:
        file_id = str(params.get("file_id"))
        if file_id not in self.files:
            raise ApiError(400, "Bad Request: invalid file_id")
        path, data = self.files[file_id]
        return {"file_id": file_id, "file_unique_id": file_id + "u", "file_size": len(data),
                "file_path": path}

    def _member_json(self, chat_id: int, user_id: int) -> dict[str, Any]:
        user = self.bot_user if user_id == self.bot_id else self.users.get(user_id)
        if user is None:
            raise ApiError(400, "Bad Request: user not found")
        status = self.members.get((chat_id, user_id), "left")
        member: dict[str, Any] = {"status": status, "user": user}
        if status == "creator":
            member["is_anonymous"] = False
        elif status == "administrator":
            member.update({key: False for key in (
                "can_be_edited", "is_anonymous", "can_manage_chat", "can_delete_messages",
                "can_manage_video_chats", "can_restrict_members", "can_promote_members",
                "can_change_info", "can_invite_users", "can_post_stories", "can_edit_stories",
                "can_delete_stories")})
            for right in self.rights.get((chat_id, user_id), ()):
                member[right] = True
        elif status == "kicked":
            member["until_date"] = 0
        return member

    async def api_getChatMember(self, params: dict[str, Any], files: dict[str, Any]) -> Any:
        chat = self._chat(params.get("chat_id"))
        return self._member_json(chat["id"], int(params.get("user_id") or 0))

    async def api_createForumTopic(self, params: dict[str, Any], files: dict[str, Any]) -> Any:
        chat = self._chat(params.get("chat_id"))
        if not chat.get("is_forum"):
            raise ApiError(400, "Bad Request: the chat is not a forum")
        status = self.members.get((chat["id"], self.bot_id))
        if status != "creator" and not (status == "administrator" and "can_manage_topics" in
                                        self.rights.get((chat["id"], self.bot_id), ())):
            raise ApiError(400, "Bad Request: not enough rights to create a topic")
        name = str(params.get("name") or "")
        if not 1 <= utf16(name) <= 128:
            raise ApiError(400, "Bad Request: TOPIC_TITLE_EMPTY" if not name
                           else "Bad Request: topic name is too long")
        thread = self.forum_topic(chat, name, self.bot_user)
        return {"message_thread_id": thread, "name": name, "icon_color": 7322096}

    def delete_topic(self, chat: dict[str, Any], thread: int) -> None:
        """An administrator deletes a forum topic: posting there finds no thread."""
        self.topics[(chat["id"], thread)]["deleted"] = True

    async def api_getChatAdministrators(self, params: dict[str, Any],
                                        files: dict[str, Any]) -> Any:
        chat = self._chat(params.get("chat_id"))
        return [self._member_json(chat["id"], user_id)
                for (chat_id, user_id), status in self.members.items()
                if chat_id == chat["id"] and status in ("creator", "administrator")]

    async def api_sendPoll(self, params: dict[str, Any], files: dict[str, Any]) -> Any:
        chat = self._chat(params.get("chat_id"))
        question = str(params.get("question") or "")
        options = [o if isinstance(o, str) else o.get("text", "")
                   for o in params.get("options", [])]
        if not 1 <= utf16(question) <= 300:
            raise ApiError(400, "Bad Request: poll question length must not exceed 300")
        if not 2 <= len(options) <= 12 or any(not 1 <= utf16(o) <= 100 for o in options):
            raise ApiError(400, "Bad Request: POLL_OPTION_INVALID")
        poll_id = str(5_000_000_000 + next(self._ids))
        poll = {"id": poll_id, "question": question,
                "options": [{"text": o, "voter_count": 0, "persistent_id": f"o{i}"}
                            for i, o in enumerate(options)],
                "total_voter_count": 0, "is_closed": False,
                "is_anonymous": params.get("is_anonymous", True) is not False,
                "type": "regular", "allows_multiple_answers": False,
                "allows_revoting": True, "members_only": False}
        posted = self._post(chat, "poll", params, question, [], question, poll=poll)
        self.polls[poll_id] = {"chat_id": chat["id"], "message_id": posted.message_id,
                               "options": options, "anonymous": poll["is_anonymous"]}
        return posted.json

    async def api_setMessageReaction(self, params: dict[str, Any],
                                     files: dict[str, Any]) -> Any:
        chat = self._chat(params.get("chat_id"))
        if (chat["id"], int(params.get("message_id") or 0)) not in self.messages:
            raise ApiError(400, "Bad Request: message to react not found")
        reaction = params.get("reaction") or []
        self.reactions_set.append((chat["id"], int(params["message_id"]), reaction))
        return True

    # ---- the world: chats and people ----------------------------------------------------------

    def add_user(self, first_name: str, last_name: str | None = None) -> dict[str, Any]:
        """A Telegram user."""
        user: dict[str, Any] = {"id": next(self._user_ids), "is_bot": False,
                                "first_name": first_name}
        if last_name:
            user["last_name"] = last_name
        self.users[user["id"]] = user
        return user

    def add_group(self, title: str, *, supergroup: bool = True, forum: bool = False,
                  bot_status: str = "administrator", bot_rights: Iterable[str] = (),
                  members: Iterable[tuple[dict[str, Any], str]] = ()) -> dict[str, Any]:
        """A group with the bot in it (an administrator unless told otherwise, with
        `bot_rights` such as can_manage_topics)."""
        number = next(self._chat_ids)
        chat_id = -(1_000_000_000_000 + number) if supergroup else -(4_000 + number)
        chat: dict[str, Any] = {"id": chat_id, "type": "supergroup" if supergroup else "group",
                                "title": title}
        if forum:
            chat["is_forum"] = True
        self.chats[chat_id] = chat
        self.members[(chat_id, self.bot_id)] = bot_status
        self.rights[(chat_id, self.bot_id)] = set(bot_rights)
        for user, status in members:
            self.members[(chat_id, user["id"])] = status
        return chat

    def private_chat(self, user: dict[str, Any]) -> dict[str, Any]:
        """The private chat of a user with the bot (it exists once they press Start)."""
        chat = {"id": user["id"], "type": "private", "first_name": user["first_name"]}
        return chat

    def set_member(self, chat: dict[str, Any], user: dict[str, Any], status: str) -> None:
        """Make a user a member, an administrator or the creator of a chat."""
        self.members[(chat["id"], user["id"])] = status

    def forum_topic(self, chat: dict[str, Any], name: str,
                    creator: dict[str, Any]) -> int:
        """Open a topic in a forum; return its message_thread_id."""
        message = self._message(chat, creator, forum_topic_created={
            "name": name, "icon_color": 7322096})
        message["message_thread_id"] = message["message_id"]
        message["is_topic_message"] = True
        self.topics[(chat["id"], int(message["message_id"]))] = {"name": name,
                                                                 "creator": creator["id"]}
        return int(message["message_id"])

    # ---- users acting ----------------------------------------------------------------------

    def _queue(self, kind: str, payload: dict[str, Any]) -> int:
        update = {"update_id": next(self._update_ids), kind: payload}
        self.sent_updates[update["update_id"]] = update
        admin = self.members.get((payload.get("chat", {}).get("id", 0), self.bot_id)) in (
            "administrator", "creator")
        if kind.startswith("message_reaction") and not admin:
            self.dropped.append(update)  # Telegram tells only administrator bots of reactions
        elif kind in self.allowed:
            self.updates.append(update)
        else:
            self.dropped.append(update)
        self._poke()
        return int(update["update_id"])

    def _poke(self) -> None:
        task = asyncio.get_running_loop().create_task(self._notify())
        self._pokes.add(task)
        task.add_done_callback(self._pokes.discard)

    def _user_message(self, chat: dict[str, Any], user: dict[str, Any], text: str,
                      topic: int | None = None, **fields: Any) -> dict[str, Any]:
        if topic is not None and "reply_to_message" not in fields:
            fields["reply_to_message"] = self.messages[(chat["id"], topic)]
        message = self._message(chat, user, topic, **fields)
        if text:
            message["text"] = text
        return message

    def command(self, chat: dict[str, Any], user: dict[str, Any], text: str,
                topic: int | None = None) -> tuple[int, dict[str, Any]]:
        """A user types a command; the text must start with `/`. Returns (update id, message)."""
        word = text.split(maxsplit=1)[0]
        message = self._user_message(chat, user, text, topic, entities=[
            {"type": "bot_command", "offset": 0, "length": utf16(word)}])
        return self._queue("message", message), message

    def say(self, chat: dict[str, Any], user: dict[str, Any], text: str,
            topic: int | None = None) -> tuple[int, dict[str, Any]]:
        """A plain message, not for the bot."""
        message = self._user_message(chat, user, text, topic)
        return self._queue("message", message), message

    def reply(self, chat: dict[str, Any], user: dict[str, Any], to: Posted | dict[str, Any],
              text: str) -> tuple[int, dict[str, Any]]:
        """A user replies to a message."""
        target = to.json if isinstance(to, Posted) else to
        topic = target.get("message_thread_id") if target.get("is_topic_message") else None
        message = self._user_message(chat, user, text, topic, reply_to_message=target)
        return self._queue("message", message), message

    def upload(self, chat: dict[str, Any], user: dict[str, Any], filename: str, data: bytes,
               caption: str) -> tuple[int, dict[str, Any]]:
        """A user sends a document with a caption."""
        file_id = self._store_file(filename, data)
        message = self._user_message(chat, user, "", document={
            "file_id": file_id, "file_unique_id": file_id + "u", "file_name": filename,
            "mime_type": "application/toml", "file_size": len(data)}, caption=caption)
        return self._queue("message", message), message

    def press(self, posted: Posted, user: dict[str, Any], label: str) -> tuple[int, str]:
        """A user presses an inline button; returns (update id, callback query id)."""
        query_id = str(next(self._ids) + 900_000)
        self.open_queries.add(query_id)
        payload = {"id": query_id, "from": user, "chat_instance": f"ci{posted.chat_id}",
                   "message": posted.json, "data": posted.button(label)}
        return self._queue("callback_query", payload), query_id

    def inject(self, payload: dict[str, Any]) -> int:
        """Deliver an update exactly as given (one the bot may not be able to decode)."""
        update = {"update_id": next(self._update_ids), **payload}
        self.updates.append(update)
        self._poke()
        return int(update["update_id"])

    def press_data(self, posted: Posted, user: dict[str, Any], data: str) -> tuple[int, str]:
        """A user presses a button carrying arbitrary data (a stale or forged one)."""
        query_id = str(next(self._ids) + 900_000)
        self.open_queries.add(query_id)
        payload = {"id": query_id, "from": user, "chat_instance": f"ci{posted.chat_id}",
                   "message": posted.json, "data": data}
        return self._queue("callback_query", payload), query_id

    def react(self, posted: Posted, user: dict[str, Any], new: list[str],
              old: Iterable[str] = ()) -> int:
        """A user's reactions on a message change from `old` to `new`."""
        chat = self.chats[posted.chat_id]
        return self._queue("message_reaction", {
            "chat": chat, "message_id": posted.message_id, "user": user,
            "date": int(time.time()),
            "old_reaction": [{"type": "emoji", "emoji": e} for e in old],
            "new_reaction": [{"type": "emoji", "emoji": e} for e in new]})

    def react_count(self, posted: Posted, counts: dict[str, int]) -> int:
        """Anonymous reactions on a message now total `counts`."""
        chat = self.chats[posted.chat_id]
        return self._queue("message_reaction_count", {
            "chat": chat, "message_id": posted.message_id, "date": int(time.time()),
            "reactions": [{"type": {"type": "emoji", "emoji": e}, "total_count": n}
                          for e, n in counts.items()]})

    def vote(self, posted: Posted, user: dict[str, Any], options: list[int]) -> int:
        """A user votes in a poll the bot posted (an empty list retracts the vote)."""
        poll_id = posted.json["poll"]["id"]
        return self._queue("poll_answer", {
            "poll_id": poll_id, "user": user, "option_ids": options,
            "option_persistent_ids": [f"o{i}" for i in options]})

    def migrate(self, group: dict[str, Any], user: dict[str, Any]) -> dict[str, Any]:
        """A group becomes a supergroup with a new id, as Telegram does it."""
        old_id = group["id"]
        new_chat = {"id": -(1_000_000_000_000 + next(self._chat_ids)), "type": "supergroup",
                    "title": group["title"]}
        self.chats[new_chat["id"]] = new_chat
        for (chat_id, user_id), status in list(self.members.items()):
            if chat_id == old_id:
                self.members[(new_chat["id"], user_id)] = status
        old_note = self._message(group, user, migrate_to_chat_id=new_chat["id"])
        self.migrated[old_id] = new_chat["id"]
        new_note = self._message(new_chat, user, migrate_from_chat_id=old_id)
        self._queue("message", old_note)
        self._queue("message", new_note)
        return new_chat

    def hold(self, method: str) -> None:
        """Answer no request of this method (until `release`): the bot hangs in it."""
        self.held.add(method)
        self._release.clear()

    def break_method(self, method: str, code: int = 500) -> None:
        """Make a method fail with a server error, as Telegram sometimes does."""
        self.broken[method] = code

    def release(self) -> None:
        """Answer held requests again."""
        self.held.clear()
        self._release.set()

    def storm(self, chat: dict[str, Any], retry_after: int = 1, accept: int = 1) -> Storm:
        """Flood control in a chat: `accept` sends, then 429 with `retry_after`, over and over."""
        storm = self.storms[chat["id"]] = Storm(retry_after, accept, left=accept)
        return storm

    # ---- what people see -----------------------------------------------------------------------

    def in_chat(self, chat: dict[str, Any] | int, topic: int | None = None,
                kind: str | None = None) -> list[Posted]:
        """The bot's messages in a chat (a topic of it), oldest first."""
        chat_id = chat if isinstance(chat, int) else chat["id"]
        return [p for p in self.posted if p.chat_id == chat_id
                and (topic is None or p.thread == topic) and (kind is None or p.kind == kind)]

    async def wait_poll(self, chat: dict[str, Any] | int, topic: int | None = None,
                        within: float = 10.0) -> Posted:
        """Wait for the first poll the bot posts in a chat (a topic of it)."""
        found: Posted = await self.wait_for(
            lambda: (self.in_chat(chat, topic, kind="poll") or [None])[0], within,
            what=f"a poll in {chat if isinstance(chat, int) else chat['id']}/{topic}")
        return found

    async def wait_post(self, chat: dict[str, Any] | int, containing: str,
                        within: float = 10.0, topic: int | None = None,
                        after: int = 0) -> Posted:
        """Wait for a message of the bot in a chat whose text contains `containing`."""
        def found() -> Posted | None:
            for posted in self.in_chat(chat, topic)[after:]:
                if containing in posted.text:
                    return posted
            return None
        result: Posted = await self.wait_for(found, within, f"a post containing {containing!r}")
        return result

    async def reply_to(self, chat: dict[str, Any], message: dict[str, Any],
                       within: float = 10.0) -> Posted:
        """Wait for the bot's reply to a message."""
        def found() -> Posted | None:
            return next((p for p in self.in_chat(chat) if p.reply_to == message["message_id"]),
                        None)
        result: Posted = await self.wait_for(found, within,
                                             f"the reply to {message.get('text')!r}")
        return result

    async def ask(self, chat: dict[str, Any], user: dict[str, Any], text: str,
                  topic: int | None = None, within: float = 10.0) -> Posted:
        """A user types a command and waits for the bot's reply to it."""
        _, message = self.command(chat, user, text, topic)
        return await self.reply_to(chat, message, within)

    async def wait_confirmed(self, update_id: int, within: float = 10.0) -> None:
        """Wait until the bot has confirmed an update (asked getUpdates with a higher offset)."""
        await self.wait_for(lambda: self.confirmed > update_id, within,
                            f"update {update_id} to be confirmed")

    async def wait_idle(self, within: float = 10.0) -> None:
        """Wait until every queued update is confirmed and the bot is long-polling again."""
        await self.wait_for(lambda: not self.updates and self.getupdates_waiting > 0, within,
                            "the bot to confirm every update")

    def answer_to(self, query_id: str) -> dict[str, Any] | None:
        """What the bot answered a button press with (text, show_alert), once answered."""
        return self.callback_answers.get(query_id)

    def sent_at(self, chat: dict[str, Any]) -> list[float]:
        """When each message or edit the bot sent to a chat went through (monotonic seconds)."""
        return [c.done for c in self.calls
                if c.method in SENDING and c.chat_id == chat["id"] and c.status == 200]

    def answered_at(self, query_id: str) -> float | None:
        """When the bot answered a button press (monotonic seconds), once answered."""
        return self.answered.get(query_id)

    def calls_to(self, method: str, chat: dict[str, Any] | None = None) -> list[Call]:
        """The requests of one method (to one chat)."""
        return [c for c in self.calls if c.method == method
                and (chat is None or c.chat_id == chat["id"])]
