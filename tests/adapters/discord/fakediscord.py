"""A loopback Discord: the REST API under a base URL and a websocket gateway, on 127.0.0.1.

Written for this project from PLATFORM_NOTES.md and the payloads discord.py 2.7.1 reads, so the
real library runs against it unchanged (redirected with `Route.BASE` and `DEFAULT_GATEWAY`).
It keeps what a test asserts on: every REST request with its JSON body and files, the messages
of each channel (edits applied, `enforce_nonce` honoured), the registered commands, and each
interaction's answer and follow-ups. Tests act as people: slash commands, button clicks, modal
submits, reactions and poll votes become gateway dispatches. Failure modes: 429 storms (with
`retry_after` and a `Via` header), a lost response after a message was created, RECONNECT.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import WSMsgType, web

from tests.loopback import LoopbackServer

API_PREFIX = "/api/v10"
TOKEN = "MTAwMDAwMDAwMDAwMDAwMDAx.GwAtch.partyfakeTOKENfortestsONLYxxxxx"
EPHEMERAL = 64
MANAGE_GUILD = 1 << 5
MANAGE_EVENTS = 1 << 33
# view channel, send messages, add reactions, read history, use application commands
EVERYDAY = (1 << 10) | (1 << 11) | (1 << 6) | (1 << 16) | (1 << 31)

_ids = itertools.count(1_200_000_000_000_000_000)


def snowflake() -> int:
    """A fresh id, shaped like Discord's (17–20 digits)."""
    return next(_ids)


def _iso(at: datetime | None = None) -> str:
    return (at or datetime.now(UTC)).isoformat()


@dataclass
class User:
    """A person (or the bot) on the fake Discord."""

    id: int
    username: str
    global_name: str | None = None
    bot: bool = False
    permissions: int = EVERYDAY
    roles: tuple[int, ...] = ()

    def json(self) -> dict[str, Any]:
        """The user object."""
        return {"id": str(self.id), "username": self.username, "discriminator": "0",
                "global_name": self.global_name, "avatar": None, "bot": self.bot,
                "public_flags": 0}

    def member(self, guild_id: int, permissions: int | None = None) -> dict[str, Any]:
        """The guild member object (with resolved channel permissions, as interactions have)."""
        data: dict[str, Any] = {"user": self.json(), "roles": [str(r) for r in self.roles],
                                "joined_at": _iso(), "deaf": False, "mute": False, "flags": 0,
                                "pending": False, "nick": None, "avatar": None,
                                "premium_since": None, "communication_disabled_until": None}
        if permissions is not None:
            data["permissions"] = str(permissions)
        return data


@dataclass
class Request:
    """One REST request the bot made."""

    at: float
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    files: list[tuple[str, bytes]]
    status: int = 0
    wall: float = 0.0  # time.time() when the request arrived


@dataclass
class Answer:
    """What one interaction got back: its callback, edits of the original, and follow-ups."""

    interaction_id: int
    token: str
    channel_id: int
    callback: dict[str, Any] | None = None
    original: dict[str, Any] | None = None
    original_deleted: bool = False
    followups: list[dict[str, Any]] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    at: float = field(default_factory=time.monotonic)
    answered_at: float | None = None

    @property
    def kind(self) -> int | None:
        """The callback type (4 message, 5 deferred, 6 deferred update, 8 choices, 9 modal)."""
        return self.callback["type"] if self.callback else None

    def messages(self) -> list[dict[str, Any]]:
        """The messages the person sees: the original (unless deleted) then the follow-ups."""
        out = []
        if self.original is not None and not self.original_deleted:
            out.append(self.original)
        return out + self.followups

    @property
    def text(self) -> str:
        """Every visible message's content (and embed descriptions), joined."""
        parts = []
        for message in self.messages():
            parts.append(message.get("content") or "")
            for embed in message.get("embeds") or []:
                parts.append(embed.get("title", ""))
                parts.append(embed.get("description", ""))
        return "\n".join(p for p in parts if p)

    @property
    def ephemeral(self) -> bool:
        """Whether every visible message is ephemeral."""
        messages = self.messages()
        return bool(messages) and all(m.get("flags", 0) & EPHEMERAL for m in messages)

    def files(self) -> list[tuple[str, bytes]]:
        """Files attached to the visible messages."""
        return [(a["filename"], a["_data"]) for m in self.messages()
                for a in m.get("attachments", [])]


@dataclass
class Session:
    """The bot's gateway session: sequence numbers and the events a RESUME replays."""

    id: str
    seq: int = 0
    log: deque[tuple[int, dict[str, Any]]] = field(default_factory=lambda: deque(maxlen=5000))


class FakeDiscord(LoopbackServer):
    """One guild, a few text channels, the bot, and the people in a test."""

    client_max_size = 64 * 1024 * 1024

    def __init__(self, *, channels: int = 3, bot_manages_events: bool = True,
                 guild_count: int = 1, shard_count: int | None = None) -> None:
        super().__init__()
        self.app_id = snowflake()
        self.bot = User(self.app_id, "watchparty", "watchparty", bot=True)
        self.owner = User(snowflake(), "owner")
        self.guilds: dict[int, dict[str, Any]] = {}
        self.channel_guild: dict[int, int] = {}
        self.channels: list[int] = []
        self.moderator_role = snowflake()
        # Sharded, the bot must IDENTIFY with `shard: [id, shard_count]`, and each guild is
        # dispatched only on its shard, (guild_id >> 22) % shard_count; guild g is on shard
        # g % shard_count here.
        self.shard_count = shard_count
        for g in range(guild_count):
            guild_id = snowflake()
            while shard_count and (guild_id >> 22) % shard_count != g % shard_count:
                guild_id += 1 << 22
            ids = [snowflake() for _ in range(channels)]
            self.guilds[guild_id] = {"id": guild_id, "name": f"Film club {g + 1}",
                                     "channels": ids}
            for cid in ids:
                self.channel_guild[cid] = guild_id
            self.channels += ids
        self.guild_id = next(iter(self.guilds))
        self.bot_manages_events = bot_manages_events
        # what happened
        self.requests: list[Request] = []
        self.messages: dict[int, dict[str, Any]] = {}
        self.channel_log: dict[int, list[int]] = defaultdict(list)
        self.nonces: dict[tuple[int, str], int] = {}
        self.commands: dict[str, list[dict[str, Any]]] = {}
        self.answers: dict[str, Answer] = {}
        self.events: dict[int, dict[str, Any]] = {}  # scheduled events
        self.identifies: list[dict[str, Any]] = []
        self.resumes: list[dict[str, Any]] = []
        self.uploads: dict[int, bytes] = {}
        self.unknown_routes: list[str] = []
        # threads: each a channel of its own, by id (a thread started off a message has the
        # message's id), with its parent; channels where the bot lacks Create Public Threads
        # and Send Messages in Threads (403, code 50013)
        self.threads: dict[int, dict[str, Any]] = {}
        self.threads_denied: set[int] = set()
        self.changed = asyncio.Condition()
        # failure modes
        self.channel_limit: tuple[int, float] | None = None  # (count, seconds) per channel
        self.limit_headers = True  # announce the limit in X-RateLimit-* headers, as Discord does
        self._sent_at: dict[int, deque[float]] = defaultdict(deque)
        self.limited: int = 0  # 429s given
        self.force_429: int = 0  # next N message posts get a 429
        self.retry_after: float = 0.05
        self.lose_response_to: set[str] = set()  # texts whose post is stored, then answered 500
        # Texts whose post is stored and never answered (until `answer_held` is set): the bot
        # waits for the answer, as one does when it dies right after Discord took its post.
        self.hold_response_to: set[str] = set()
        # Texts whose post is neither stored nor answered until `answer_held` is set (then a
        # 500): the bot dies before Discord took it.
        self.hold_request_to: set[str] = set()
        self.answer_held = asyncio.Event()
        # gateway
        self.sessions: dict[int, Session] = {}  # by shard
        self.sockets: dict[int, web.WebSocketResponse] = {}  # the connected shards
        self.connections = 0
        self.ready = asyncio.Event()
        self.heartbeat_interval_ms = 45_000
        self.attachment_size_limit = 26_214_400  # what each interaction says a file may weigh
        self._pending: set[asyncio.Task[None]] = set()

    # ---- lifecycle ----------------------------------------------------------------------

    def routes(self, app: web.Application) -> None:
        """The gateway, the CDN and the REST API."""
        app.router.add_get("/gateway", self._gateway)
        app.router.add_get("/cdn/{attachment}/{filename}", self._cdn)
        app.router.add_route("*", API_PREFIX + "/{tail:.*}", self._rest)

    async def stop(self) -> None:
        """Close every connection and stop listening."""
        for task in list(self._pending):
            task.cancel()
        for ws in list(self.sockets.values()):
            with contextlib.suppress(Exception):
                await ws.close()
        await super().stop()

    @property
    def session(self) -> Session | None:
        """The gateway session of shard 0 (the only one, unsharded)."""
        return self.sessions.get(0)

    @property
    def ws(self) -> web.WebSocketResponse | None:
        """The connection of shard 0 (the only one, unsharded), while connected."""
        return self.sockets.get(0)

    def shard_of(self, guild_id: int | None) -> int:
        """The shard a guild's events go to (0 unsharded, or for events of no guild)."""
        if not self.shard_count or guild_id is None:
            return 0
        return (guild_id >> 22) % self.shard_count

    @property
    def api_base(self) -> str:
        """What DISCORD_API_BASE_URL points at."""
        return f"http://127.0.0.1:{self.port}{API_PREFIX}"

    @property
    def gateway_url(self) -> str:
        """What DISCORD_GATEWAY_URL points at."""
        return f"ws://127.0.0.1:{self.port}/gateway"

    async def _notify(self) -> None:
        async with self.changed:
            self.changed.notify_all()

    async def wait_until(self, predicate: Any, within: float = 10.0, what: str = "") -> Any:
        """Wait until `predicate()` is truthy; return its value."""
        deadline = time.monotonic() + within
        async with self.changed:
            while True:
                value = predicate()
                if value:
                    return value
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out after {within:g}s waiting for "
                                         f"{what or predicate}")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.changed.wait(), min(left, 0.25))

    # ---- objects --------------------------------------------------------------------------

    def _role_json(self, role_id: int, name: str, permissions: int,
                   position: int) -> dict[str, Any]:
        return {"id": str(role_id), "name": name, "permissions": str(permissions),
                "position": position, "color": 0, "colors": {"primary_color": 0},
                "hoist": False, "managed": False, "mentionable": False, "flags": 0,
                "icon": None, "unicode_emoji": None}

    def channel_json(self, channel_id: int) -> dict[str, Any]:
        """A guild text channel object (or a thread's)."""
        if channel_id in self.threads:
            return dict(self.threads[channel_id])
        guild_id = self.channel_guild[channel_id]
        return {"id": str(channel_id), "type": 0, "guild_id": str(guild_id),
                "name": f"channel-{self.channels.index(channel_id) + 1}",
                "position": self.channels.index(channel_id), "permission_overwrites": [],
                "nsfw": False, "parent_id": None, "topic": None, "last_message_id": None,
                "rate_limit_per_user": 0, "flags": 0}

    def guild_json(self, guild_id: int) -> dict[str, Any]:
        """A GUILD_CREATE payload."""
        bot_perms = EVERYDAY | (MANAGE_EVENTS if self.bot_manages_events else 0)
        bot_role = snowflake()
        return {
            "id": str(guild_id), "name": self.guilds[guild_id]["name"], "icon": None,
            "splash": None, "discovery_splash": None, "owner_id": str(self.owner.id),
            "afk_channel_id": None, "afk_timeout": 300, "verification_level": 0,
            "default_message_notifications": 0, "explicit_content_filter": 0,
            "roles": [self._role_json(guild_id, "@everyone", EVERYDAY, 0),
                      self._role_json(self.moderator_role, "Film mods", EVERYDAY, 1),
                      self._role_json(bot_role, "watchparty", bot_perms, 2)],
            "emojis": [], "stickers": [], "features": [], "mfa_level": 0,
            "application_id": None, "system_channel_id": None, "system_channel_flags": 0,
            "rules_channel_id": None, "vanity_url_code": None, "description": None,
            "banner": None, "premium_tier": 0, "premium_subscription_count": 0,
            "preferred_locale": "en-US", "public_updates_channel_id": None, "nsfw_level": 0,
            "premium_progress_bar_enabled": False, "joined_at": _iso(), "large": False,
            "unavailable": False, "member_count": 3, "voice_states": [],
            "members": [{**self.bot.member(guild_id), "roles": [str(bot_role)]}],
            "channels": [self.channel_json(c) for c in self.guilds[guild_id]["channels"]],
            "threads": [], "presences": [], "stage_instances": [],
            "guild_scheduled_events": [], "soundboard_sounds": [],
        }

    def _message(self, channel_id: int, body: dict[str, Any],
                 files: list[tuple[str, bytes]], *, author: dict[str, Any] | None = None,
                 flags: int = 0, interaction: Answer | None = None) -> dict[str, Any]:
        message_id = snowflake()
        attachments = []
        for index, (filename, data) in enumerate(files):
            attachment_id = snowflake()
            self.uploads[attachment_id] = data
            url = f"http://127.0.0.1:{self.port}/cdn/{attachment_id}/{filename}"
            attachments.append({"id": str(attachment_id), "filename": filename,
                                "size": len(data), "url": url, "proxy_url": url,
                                "content_type": "application/octet-stream", "_data": data,
                                "_index": index})
        message: dict[str, Any] = {
            "id": str(message_id), "channel_id": str(channel_id),
            "guild_id": str(self.channel_guild.get(channel_id, self.guild_id)),
            "type": 20 if interaction else 0, "content": body.get("content") or "",
            "author": author or self.bot.json(), "timestamp": _iso(), "edited_timestamp": None,
            "tts": False, "mention_everyone": False, "mentions": [], "mention_roles": [],
            "attachments": attachments, "embeds": body.get("embeds") or [],
            "pinned": False, "flags": flags | int(body.get("flags") or 0),
            "components": body.get("components") or [],
            "allowed_mentions": body.get("allowed_mentions"),
            "reactions": [],
        }
        if body.get("nonce") is not None:
            message["nonce"] = body["nonce"]
        if interaction is not None:
            message["webhook_id"] = str(self.app_id)
            message["application_id"] = str(self.app_id)
        poll = body.get("poll")
        if poll:
            expiry = datetime.now(UTC) + timedelta(hours=float(poll.get("duration", 24)))
            message["poll"] = {
                "question": poll["question"], "expiry": _iso(expiry),
                "allow_multiselect": poll.get("allow_multiselect", False),
                "layout_type": poll.get("layout_type", 1),
                "answers": [{"answer_id": i, "poll_media": a["poll_media"]}
                            for i, a in enumerate(poll["answers"], start=1)],
            }
        self.messages[message_id] = message
        return message

    @staticmethod
    def public(message: dict[str, Any]) -> dict[str, Any]:
        """A message as the API returns it (without the fake's own keys)."""
        out = dict(message)
        out.pop("allowed_mentions", None)
        out["attachments"] = [{k: v for k, v in a.items() if not k.startswith("_")}
                              for a in message.get("attachments", [])]
        return out

    # ---- REST -----------------------------------------------------------------------------

    async def _read(self, request: web.Request) -> tuple[Any, list[tuple[str, bytes]]]:
        if request.content_type.startswith("multipart/"):
            body: Any = None
            files = []
            reader = await request.multipart()
            async for part in reader:
                name = part.name or ""
                data = await part.read()  # type: ignore[union-attr]
                if name == "payload_json":
                    body = json.loads(data)
                else:
                    files.append((part.filename or name, bytes(data)))  # type: ignore[union-attr]
            return body, files
        raw = await request.read()
        if not raw:
            return None, []
        try:
            return json.loads(raw), []
        except ValueError:
            return raw.decode(errors="replace"), []

    @staticmethod
    def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None
              ) -> web.Response:
        # Exactly `application/json`: with a charset, discord.py reads the body as text.
        return web.Response(body=json.dumps(data).encode(), status=status,
                            headers={"Content-Type": "application/json", **(headers or {})})

    def _error(self, status: int, message: str, code: int = 0) -> web.Response:
        return self._json({"message": message, "code": code}, status)

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        arrived, wall = time.monotonic(), time.time()
        body, files = await self._read(request)
        path = request.path[len(API_PREFIX):]
        record = Request(arrived, request.method, path, dict(request.query),
                         dict(request.headers), body, files, wall=wall)
        self.requests.append(record)
        try:
            response = await self._route(request.method, path, body, files, request)
        except KeyError as exc:
            response = self._error(404, f"Unknown {exc}", 10003)
        record.status = response.status
        await self._notify()
        return response

    async def _route(self, method: str, path: str, body: Any, files: list[tuple[str, bytes]],
                     request: web.Request) -> web.StreamResponse:
        parts = path.strip("/").split("/")
        auth = request.headers.get("Authorization")
        is_webhook = parts[0] in ("interactions", "webhooks")
        if not is_webhook and auth != f"Bot {TOKEN}":
            return self._error(401, "401: Unauthorized")
        if parts == ["users", "@me"]:
            return self._json(self.bot.json())
        if parts == ["oauth2", "applications", "@me"]:
            return self._json(self._application())
        if parts[0] == "applications" and method == "PUT" and parts[-1] == "commands":
            scope = parts[3] if len(parts) == 5 else "global"
            registered = []
            for command in body:
                registered.append({**command, "id": str(snowflake()),
                                   "application_id": str(self.app_id), "version": "1",
                                   "guild_id": None if scope == "global" else scope,
                                   "default_member_permissions":
                                       command.get("default_member_permissions"),
                                   "nsfw": command.get("nsfw", False)})
            self.commands[scope] = registered
            return self._json(registered)
        if (parts[0] == "channels" and len(parts) == 5 and parts[2] == "messages"
                and parts[4] == "threads" and method == "POST"):
            return self._start_thread(int(parts[1]), int(parts[3]), body or {})
        if parts[0] == "channels" and len(parts) >= 3 and parts[2] == "messages":
            channel_id = int(parts[1])
            if channel_id not in self.channel_guild:
                return self._error(404, "Unknown Channel", 10003)
            if method == "POST" and len(parts) == 3:
                refused = self._thread_refuses(channel_id)
                if refused is not None:
                    return refused
                said = json.dumps(body, ensure_ascii=False)
                if any(t in said for t in self.hold_request_to):
                    await self.answer_held.wait()
                    return self._error(500, "Internal Server Error (the fake held this post)")
                answer = self._post_message(channel_id, body or {}, files)
                if answer.status == 200 and any(t in said for t in self.hold_response_to):
                    await self.answer_held.wait()
                return answer
            if method == "PATCH" and len(parts) == 4:
                message = self.messages[int(parts[3])]
                self._apply_edit(message, body or {})
                return self._json(self.public(message))
        if parts[0] == "interactions" and parts[-1] == "callback":
            return self._callback(int(parts[1]), parts[2], body, files)
        if parts[0] == "webhooks" and len(parts) >= 3:
            return self._webhook(method, parts, body or {}, files)
        if parts[0] == "guilds" and len(parts) >= 3 and parts[2] == "scheduled-events":
            return self._scheduled_events(method, int(parts[1]), parts[3:], body or {})
        self.unknown_routes.append(f"{method} {path}")
        return self._error(404, f"404: Not Found ({method} {path})")

    # threads

    def _start_thread(self, channel_id: int, message_id: int,
                      body: dict[str, Any]) -> web.Response:
        """POST /channels/{id}/messages/{id}/threads: a public thread off a message."""
        if channel_id not in self.channel_guild:
            return self._error(404, "Unknown Channel", 10003)
        if channel_id in self.threads:
            return self._error(400, "Cannot execute action on this channel type", 50024)
        if channel_id in self.threads_denied:
            return self._error(403, "Missing Permissions", 50013)
        message = self.messages.get(message_id)
        if message is None or message["channel_id"] != str(channel_id):
            return self._error(404, "Unknown Message", 10008)
        if message_id in self.threads:
            return self._error(400, "A thread has already been created for this message",
                               160004)
        name = str(body.get("name") or "")
        if not 1 <= len(name) <= 100:
            return self._json({"message": "Invalid Form Body", "code": 50035,
                               "errors": {"name": {"_errors": [{"code": "BASE_TYPE_BAD_LENGTH",
                                                                "message": "Must be between 1 "
                                                                "and 100 in length."}]}}}, 400)
        guild_id = self.channel_guild[channel_id]
        thread = {
            "id": str(message_id), "type": 11, "guild_id": str(guild_id),
            "parent_id": str(channel_id), "owner_id": str(self.bot.id), "name": name,
            "last_message_id": None, "message_count": 0, "member_count": 1,
            "rate_limit_per_user": body.get("rate_limit_per_user") or 0, "flags": 0,
            "total_message_sent": 0,
            "thread_metadata": {"archived": False,
                                "auto_archive_duration": body.get("auto_archive_duration", 1440),
                                "archive_timestamp": _iso(), "locked": False,
                                "create_timestamp": _iso()}}
        self.threads[message_id] = thread
        self.channel_guild[message_id] = guild_id
        return self._json(thread, 201)

    def _thread_refuses(self, channel_id: int) -> web.Response | None:
        """Posting in a thread: refused without Send Messages in Threads, or once locked."""
        thread = self.threads.get(channel_id)
        if thread is None:
            return None
        if int(thread["parent_id"]) in self.threads_denied:
            return self._error(403, "Missing Permissions", 50013)
        if thread["thread_metadata"]["locked"]:
            return self._error(400, "Thread is locked", 50083)
        return None

    def delete_thread(self, thread_id: int) -> None:
        """A moderator deletes a thread: posting there is an Unknown Channel."""
        del self.channel_guild[thread_id]
        self.threads.pop(thread_id)

    def thread_of(self, channel_id: int) -> list[dict[str, Any]]:
        """The threads started in a channel, oldest first."""
        return [t for t in self.threads.values() if t["parent_id"] == str(channel_id)]

    def _application(self) -> dict[str, Any]:
        return {"id": str(self.app_id), "name": "watchparty", "icon": None,
                "description": "", "bot_public": True, "bot_require_code_grant": False,
                "owner": self.owner.json(), "verify_key": "0" * 64, "flags": 0,
                "team": None, "summary": "", "rpc_origins": [], "tags": [],
                "bot": self.bot.json()}

    def _limit_headers(self, channel_id: int, remaining: int, reset_after: float
                       ) -> dict[str, str]:
        assert self.channel_limit is not None
        return {"X-RateLimit-Limit": str(self.channel_limit[0]),
                "X-RateLimit-Remaining": str(max(0, remaining)),
                "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
                "X-RateLimit-Reset-After": f"{reset_after:.3f}",
                "X-RateLimit-Bucket": f"messages-{channel_id}"}

    def _too_many(self, retry_after: float, headers: dict[str, str] | None = None
                  ) -> web.Response:
        self.limited += 1
        return self._json({"message": "You are being rate limited.", "retry_after": retry_after,
                           "global": False, "code": 20028}, 429,
                          {"Via": "1.1 google", "Retry-After": f"{retry_after:.3f}",
                           "X-RateLimit-Scope": "user", **(headers or {})})

    def _post_message(self, channel_id: int, body: dict[str, Any],
                      files: list[tuple[str, bytes]]) -> web.Response:
        if self.force_429 > 0:
            self.force_429 -= 1
            return self._too_many(self.retry_after)
        headers: dict[str, str] = {}
        if self.channel_limit is not None:
            count, window = self.channel_limit
            now = time.monotonic()
            sent = self._sent_at[channel_id]
            while sent and sent[0] <= now - window:
                sent.popleft()
            if len(sent) >= count:
                wait = round(sent[0] + window - now, 3) + 0.001
                return self._too_many(wait, self._limit_headers(channel_id, 0, wait)
                                      if self.limit_headers else None)
            sent.append(now)
            if self.limit_headers:
                headers = self._limit_headers(channel_id, count - len(sent),
                                              sent[0] + window - now)
        nonce = body.get("nonce")
        if nonce is not None and body.get("enforce_nonce"):
            existing = self.nonces.get((channel_id, str(nonce)))
            if existing is not None:
                return self._json(self.public(self.messages[existing]), headers=headers)
        message = self._message(channel_id, body, files)
        if nonce is not None:
            self.nonces[(channel_id, str(nonce))] = int(message["id"])
        self.channel_log[channel_id].append(int(message["id"]))
        content = body.get("content") or ""
        lost = next((t for t in self.lose_response_to if t in content), None)
        if lost is not None:
            self.lose_response_to.discard(lost)
            return self._error(500, "Internal Server Error (the fake lost this response)")
        return self._json(self.public(message), headers=headers)

    def _apply_edit(self, message: dict[str, Any], body: dict[str, Any]) -> None:
        for key in ("content", "embeds", "components", "flags", "allowed_mentions"):
            if key in body:
                message[key] = body[key] if body[key] is not None else (
                    "" if key == "content" else [])
        message["edited_timestamp"] = _iso()
        message.setdefault("_edits", 0)
        message["_edits"] += 1

    # interactions

    def _callback(self, interaction_id: int, token: str, body: dict[str, Any],
                  files: list[tuple[str, bytes]]) -> web.Response:
        answer = self.answers.get(token)
        if answer is None or answer.interaction_id != interaction_id:
            return self._error(404, "Unknown interaction", 10062)
        if answer.callback is not None:
            return self._error(400, "Interaction has already been acknowledged.", 40060)
        answer.callback = body
        answer.answered_at = time.monotonic()
        kind = body["type"]
        data = body.get("data") or {}
        response: dict[str, Any] = {"interaction": {
            "id": str(interaction_id), "type": 2,
            "response_message_loading": kind == 5,
            "response_message_ephemeral": bool(int(data.get("flags") or 0) & EPHEMERAL)}}
        if kind in (4, 5):
            message = self._message(answer.channel_id, data if kind == 4 else {
                "content": "", "flags": data.get("flags", 0)}, files, interaction=answer)
            if kind == 5:
                message["_thinking"] = True
            answer.original = message
            response["interaction"]["response_message_id"] = message["id"]
            response["resource"] = {"type": kind, "message": self.public(message)}
        else:
            response["resource"] = {"type": kind}
        answer.changed.set()
        return self._json(response)

    def _webhook(self, method: str, parts: list[str], body: dict[str, Any],
                 files: list[tuple[str, bytes]]) -> web.Response:
        token = parts[2]
        answer = self.answers.get(token)
        if answer is None or parts[1] != str(self.app_id):
            return self._error(404, "Unknown Webhook", 10015)
        if len(parts) == 3 and method == "POST":
            message = self._message(answer.channel_id, body, files, interaction=answer)
            answer.followups.append(message)
            answer.changed.set()
            return self._json(self.public(message))
        if len(parts) == 5 and parts[3] == "messages":
            target = answer.original if parts[4] == "@original" else next(
                (m for m in answer.followups if m["id"] == parts[4]), None)
            if target is None:
                return self._error(404, "Unknown Message", 10008)
            if method == "DELETE":
                if target is answer.original:
                    answer.original_deleted = True
                else:
                    answer.followups.remove(target)
                answer.changed.set()
                return web.Response(status=204)
            if method == "PATCH":
                self._apply_edit(target, body)
                target.pop("_thinking", None)
                for index, (filename, data) in enumerate(files):
                    attachment_id = snowflake()
                    self.uploads[attachment_id] = data
                    url = f"http://127.0.0.1:{self.port}/cdn/{attachment_id}/{filename}"
                    target["attachments"].append({
                        "id": str(attachment_id), "filename": filename, "size": len(data),
                        "url": url, "proxy_url": url, "_data": data, "_index": index})
                answer.changed.set()
                return self._json(self.public(target))
            if method == "GET":
                return self._json(self.public(target))
        return self._error(405, "405: Method Not Allowed")

    # scheduled events

    def _scheduled_events(self, method: str, guild_id: int, rest: list[str],
                          body: dict[str, Any]) -> web.Response:
        if guild_id not in self.guilds:
            return self._error(404, "Unknown Guild", 10004)
        if not self.bot_manages_events:
            return self._error(403, "Missing Permissions", 50013)
        if method == "GET" and not rest:
            return self._json([e for e in self.events.values()
                               if e["guild_id"] == str(guild_id)])
        if method == "POST" and not rest:
            event_id = snowflake()
            event = {"id": str(event_id), "guild_id": str(guild_id), "channel_id": None,
                     "creator_id": str(self.bot.id), "creator": self.bot.json(),
                     "name": body["name"], "description": body.get("description"),
                     "scheduled_start_time": body["scheduled_start_time"],
                     "scheduled_end_time": body.get("scheduled_end_time"),
                     "privacy_level": body.get("privacy_level", 2), "status": 1,
                     "entity_type": body.get("entity_type", 3), "entity_id": None,
                     "entity_metadata": body.get("entity_metadata"), "user_count": 0,
                     "image": None, "recurrence_rule": None}
            self.events[event_id] = event
            return self._json(event)
        if method == "PATCH" and len(rest) == 1:
            event = self.events[int(rest[0])]
            for key, value in body.items():
                event[key] = value
            return self._json(event)
        return self._error(405, "405: Method Not Allowed")

    async def _cdn(self, request: web.Request) -> web.Response:
        data = self.uploads.get(int(request.match_info["attachment"]))
        if data is None:
            return web.Response(status=404)
        return web.Response(body=data, content_type="application/octet-stream")

    # ---- gateway --------------------------------------------------------------------------

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self.connections += 1
        await ws.send_json({"op": 10, "d": {"heartbeat_interval": self.heartbeat_interval_ms},
                            "s": None, "t": None})
        try:
            async for msg in ws:
                if msg.type is not WSMsgType.TEXT:
                    continue
                payload = json.loads(msg.data)
                op, data = payload.get("op"), payload.get("d")
                if op == 1:
                    # ACK after a moment, as a real network would: discord.py times its
                    # heartbeat after the send returns, and an instant ACK races that.
                    self._later(0.02, ws, {"op": 11, "d": None, "s": None, "t": None})
                elif op == 2:
                    await self._identify(ws, data)
                elif op == 6:
                    await self._resume(ws, data)
        finally:
            for shard, open_ws in list(self.sockets.items()):
                if open_ws is ws:
                    del self.sockets[shard]
            await self._notify()
        return ws

    def _later(self, delay: float, ws: web.WebSocketResponse, payload: dict[str, Any]) -> None:
        async def run() -> None:
            await asyncio.sleep(delay)
            if not ws.closed:
                with contextlib.suppress(Exception):
                    await ws.send_json(payload)

        task = asyncio.create_task(run())
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _identify(self, ws: web.WebSocketResponse, data: dict[str, Any]) -> None:
        if data.get("token") != TOKEN:
            await ws.close(code=4004, message=b"Authentication failed.")
            return
        shard, count = data.get("shard") or (0, 1)
        if self.shard_count and count != self.shard_count:
            await ws.close(code=4010, message=b"Invalid shard.")
            return
        if self.shard_count and not 0 <= shard < count:
            await ws.close(code=4010, message=b"Invalid shard.")
            return
        self.identifies.append(data)
        session = self.sessions[shard] = Session(f"session-{snowflake()}")
        self.sockets[shard] = ws
        guilds = [g for g in self.guilds if self.shard_of(g) == shard]
        await self._send(ws, "READY", {
            "v": 10, "user": self.bot.json(), "session_id": session.id,
            "resume_gateway_url": self.gateway_url, "shard": [shard, count],
            "guilds": [{"id": str(g), "unavailable": True} for g in guilds],
            "application": {"id": str(self.app_id), "flags": 0}}, shard)
        for guild_id in guilds:
            await self._send(ws, "GUILD_CREATE", self.guild_json(guild_id), shard)
        self.ready.set()
        await self._notify()

    async def _resume(self, ws: web.WebSocketResponse, data: dict[str, Any]) -> None:
        self.resumes.append(data)
        shard = next((n for n, session in self.sessions.items()
                      if session.id == data.get("session_id")), None)
        if shard is None or data.get("token") != TOKEN:
            await ws.send_json({"op": 9, "d": False, "s": None, "t": None})
            return
        session = self.sessions[shard]
        # Replay what the bot missed; events dispatched meanwhile join the replay.
        seen = int(data.get("seq") or 0)
        while missed := [p for s, p in session.log if s > seen]:
            for payload in missed:
                await ws.send_json(payload)
                seen = payload["s"]
        self.sockets[shard] = ws
        await ws.send_json({"op": 0, "t": "RESUMED", "d": {}, "s": session.seq})
        await self._notify()

    async def _send(self, ws: web.WebSocketResponse | None, event: str,
                    data: dict[str, Any], shard: int = 0) -> None:
        session = self.sessions.get(shard)
        assert session is not None, f"shard {shard} never identified"
        session.seq += 1
        payload = {"op": 0, "t": event, "d": data, "s": session.seq}
        session.log.append((session.seq, payload))
        if ws is not None and not ws.closed:
            await ws.send_json(payload)

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        """Send an event to the bot on its guild's shard; while that shard is reconnecting,
        RESUME replays it."""
        guild = data.get("guild_id")
        if guild is None and data.get("channel_id") is not None:
            guild = self.channel_guild.get(int(data["channel_id"]))
        shard = self.shard_of(None if guild is None else int(guild))
        await self._send(self.sockets.get(shard), event, data, shard)

    async def reconnect(self) -> None:
        """Ask the bot to reconnect (op 7); it comes back with RESUME."""
        ws = self.sockets.pop(0, None)
        assert ws is not None, "the bot is not connected"
        await ws.send_json({"op": 7, "d": None, "s": None, "t": None})

    async def wait_resumed(self, count: int, within: float = 10.0) -> None:
        """Wait until the bot has resumed `count` times and is connected again."""
        await self.wait_until(lambda: len(self.resumes) >= count and self.ws is not None,
                              within, f"resume #{count}")

    # ---- people ---------------------------------------------------------------------------

    def person(self, name: str, *, moderator: bool = False, role: bool = False) -> User:
        """A member of the guild; a moderator has Manage Server, `role` the moderator role."""
        perms = EVERYDAY | (MANAGE_GUILD if moderator else 0)
        return User(snowflake(), name.lower(), name, permissions=perms,
                    roles=(self.moderator_role,) if role else ())

    def _interaction(self, kind: int, user: User, channel_id: int, data: dict[str, Any],
                     message: dict[str, Any] | None = None) -> tuple[dict[str, Any], Answer]:
        interaction_id = snowflake()
        token = f"itoken-{interaction_id}"
        guild_id = self.channel_guild[channel_id]
        app_perms = EVERYDAY | (MANAGE_EVENTS if self.bot_manages_events else 0)
        payload: dict[str, Any] = {
            "id": str(interaction_id), "application_id": str(self.app_id), "type": kind,
            "token": token, "version": 1, "attachment_size_limit": self.attachment_size_limit,
            "guild_id": str(guild_id), "guild": {"id": str(guild_id), "locale": "en-US",
                                                 "features": []},
            "channel_id": str(channel_id), "channel": self.channel_json(channel_id),
            "member": user.member(guild_id, user.permissions), "app_permissions": str(app_perms),
            "locale": "en-US", "guild_locale": "en-US", "entitlements": [],
            "authorizing_integration_owners": {"0": str(guild_id)}, "context": 0, "data": data}
        if message is not None:
            payload["message"] = self.public(message)
        answer = Answer(interaction_id, token, channel_id)
        self.answers[token] = answer
        return payload, answer

    def _command_data(self, path: list[str], options: dict[str, Any],
                      focused: str | None = None) -> dict[str, Any]:
        registered = self.commands.get(str(self.guild_id)) or self.commands.get("global") or []
        root = next((c for c in registered if c["name"] == path[0]), None)
        assert root is not None, f"/{path[0]} was not registered: {list(self.commands)}"
        definitions = root.get("options", [])
        for name in path[1:]:
            node = next((o for o in definitions if o["name"] == name), None)
            assert node is not None, f"/{' '.join(path)}: no {name!r}"
            definitions = node.get("options", [])
        resolved: dict[str, Any] = {}
        values = []
        for name, value in options.items():
            spec = next((o for o in definitions if o["name"] == name), None)
            assert spec is not None, f"/{' '.join(path)} has no option {name!r}"
            if spec["type"] == 11:  # attachment: upload it to the CDN, pass its id
                filename, data = value
                attachment_id = snowflake()
                self.uploads[attachment_id] = data
                url = f"http://127.0.0.1:{self.port}/cdn/{attachment_id}/{filename}"
                resolved.setdefault("attachments", {})[str(attachment_id)] = {
                    "id": str(attachment_id), "filename": filename, "size": len(data),
                    "url": url, "proxy_url": url, "content_type": "application/toml"}
                value = str(attachment_id)
            option = {"name": name, "type": spec["type"], "value": value}
            if name == focused:
                option["focused"] = True
            values.append(option)
        for depth in range(len(path) - 1, 0, -1):
            # the last name is the subcommand (1), any before it a subcommand group (2)
            values = [{"name": path[depth], "type": 1 if depth == len(path) - 1 else 2,
                       "options": values}]
        data = {"id": root["id"], "name": path[0], "type": 1, "options": values}
        if root.get("guild_id"):
            data["guild_id"] = root["guild_id"]
        if resolved:
            data["resolved"] = resolved
        return data

    async def slash(self, user: User, command: str, channel: int | None = None,
                    **options: Any) -> Answer:
        """Run `/watchparty <command>` (e.g. "create" or "guide show") and return the answer."""
        path = ["watchparty", *command.split()]
        payload, answer = self._interaction(2, user, channel or self.channels[0],
                                            self._command_data(path, options))
        await self.dispatch("INTERACTION_CREATE", payload)
        return answer

    async def autocomplete(self, user: User, command: str, option: str, typed: str,
                           channel: int | None = None, **options: Any) -> list[dict[str, Any]]:
        """Type into an option with autocomplete; return the offered choices."""
        path = ["watchparty", *command.split()]
        data = self._command_data(path, {**options, option: typed}, focused=option)
        payload, answer = self._interaction(4, user, channel or self.channels[0], data)
        await self.dispatch("INTERACTION_CREATE", payload)
        await self.wait_answer(answer)
        assert answer.callback is not None and answer.kind == 8, answer.callback
        return list(answer.callback["data"]["choices"])

    async def click(self, user: User, message: dict[str, Any], label: str) -> Answer:
        """Press the button labelled `label` on a message."""
        button = next((b for row in message.get("components", [])
                       for b in row.get("components", []) if b.get("label") == label), None)
        assert button is not None, f"no button {label!r} on {message.get('content')!r}"
        payload, answer = self._interaction(
            3, user, int(message["channel_id"]),
            {"custom_id": button["custom_id"], "component_type": 2}, message=message)
        await self.dispatch("INTERACTION_CREATE", payload)
        return answer

    async def click_id(self, user: User, custom_id: str, channel: int | None = None,
                       message: dict[str, Any] | None = None,
                       component_type: int = 2) -> Answer:
        """Send a component interaction with any custom_id (a forged or stale one)."""
        channel_id = int(message["channel_id"]) if message else channel or self.channels[0]
        payload, answer = self._interaction(
            3, user, channel_id, {"custom_id": custom_id, "component_type": component_type},
            message=message)
        await self.dispatch("INTERACTION_CREATE", payload)
        return answer

    async def submit_form(self, user: User, custom_id: str, text: str,
                          channel: int | None = None) -> Answer:
        """Send a modal submit with any custom_id and one text field."""
        fields = [{"type": 18, "id": 1, "component": {"type": 4, "id": 2,
                                                      "custom_id": "answer", "value": text}}]
        payload, answer = self._interaction(5, user, channel or self.channels[0],
                                            {"custom_id": custom_id, "components": fields})
        await self.dispatch("INTERACTION_CREATE", payload)
        return answer

    async def slash_raw(self, user: User, command: str, options: list[dict[str, Any]],
                        channel: int | None = None) -> Answer:
        """Run `/watchparty <command>` with options as given (types and names unchecked)."""
        path = ["watchparty", *command.split()]
        data = self._command_data(path, {})
        inner = data
        for _ in path[1:]:
            inner = inner["options"][0]
        inner["options"] = options
        payload, answer = self._interaction(2, user, channel or self.channels[0], data)
        await self.dispatch("INTERACTION_CREATE", payload)
        return answer

    async def slash_data(self, user: User, data: dict[str, Any], channel: int | None = None,
                         kind: int = 2) -> Answer:
        """Send an application command (or autocomplete) interaction with any data."""
        payload, answer = self._interaction(kind, user, channel or self.channels[0], data)
        await self.dispatch("INTERACTION_CREATE", payload)
        return answer

    async def submit_modal(self, user: User, opened: Answer, text: str,
                           message: dict[str, Any] | None = None) -> Answer:
        """Fill in and submit the modal an interaction opened."""
        assert opened.callback is not None and opened.kind == 9, opened.callback
        modal = opened.callback["data"]
        fields = []
        for component in modal["components"]:
            inner = component.get("component") or (component.get("components") or [{}])[0]
            fields.append({"type": component["type"], "id": 1,
                           "component": {"type": 4, "id": 2, "custom_id": inner["custom_id"],
                                         "value": text}})
        payload, answer = self._interaction(
            5, user, opened.channel_id,
            {"custom_id": modal["custom_id"], "components": fields}, message=message)
        await self.dispatch("INTERACTION_CREATE", payload)
        return answer

    async def wait_answer(self, answer: Answer, within: float = 10.0,
                          final: bool = True) -> Answer:
        """Wait for the interaction's answer; with `final`, past a deferral to its follow-up."""
        deadline = time.monotonic() + within

        def complete() -> bool:
            if answer.callback is None:
                return False
            if not final or answer.kind != 5:
                return True
            original = answer.original
            thinking = original is not None and original.get("_thinking")
            return bool(answer.followups) or (not thinking and not answer.original_deleted)

        while not complete():
            answer.changed.clear()
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"interaction {answer.interaction_id} was not answered "
                                     f"within {within:g}s: {answer.callback}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(answer.changed.wait(), left)
        return answer

    async def react(self, user: User, message: dict[str, Any], emoji: str,
                    added: bool = True) -> None:
        """Add (or remove) a unicode reaction on a message."""
        channel_id = int(message["channel_id"])
        data: dict[str, Any] = {
            "user_id": str(user.id), "channel_id": str(channel_id),
            "message_id": message["id"], "guild_id": str(self.channel_guild[channel_id]),
            "emoji": {"id": None, "name": emoji}, "type": 0, "burst": False}
        if added:
            data["member"] = user.member(self.channel_guild[channel_id])
            data["message_author_id"] = message["author"]["id"]
            data["burst_colors"] = []
        await self.dispatch("MESSAGE_REACTION_ADD" if added else "MESSAGE_REACTION_REMOVE",
                            data)

    async def vote(self, user: User, message: dict[str, Any], answer_id: int,
                   added: bool = True) -> None:
        """Vote (or take a vote back) in a message's poll; answers count from 1."""
        channel_id = int(message["channel_id"])
        await self.dispatch("MESSAGE_POLL_VOTE_ADD" if added else "MESSAGE_POLL_VOTE_REMOVE", {
            "user_id": str(user.id), "channel_id": str(channel_id), "message_id": message["id"],
            "guild_id": str(self.channel_guild[channel_id]), "answer_id": answer_id})

    # ---- reading ----------------------------------------------------------------------------

    def channel_messages(self, channel_id: int | None = None) -> list[dict[str, Any]]:
        """Messages the bot posted in a channel (not interaction answers), oldest first."""
        return [self.messages[m] for m in self.channel_log[channel_id or self.channels[0]]]

    def find(self, text: str, channel_id: int | None = None) -> list[dict[str, Any]]:
        """Posted messages whose content or embed contains `text`."""
        return [m for m in self.channel_messages(channel_id) if text in message_text(m)]

    async def wait_message(self, text: str, channel_id: int | None = None, count: int = 1,
                           within: float = 10.0) -> dict[str, Any]:
        """Wait for the `count`-th posted message containing `text`; return it."""
        found = await self.wait_until(
            lambda: (lambda hits: hits[count - 1] if len(hits) >= count else None)(
                self.find(text, channel_id)), within, f"message {text!r} #{count}")
        return found

    def message_posts(self) -> list[Request]:
        """Every POST of a channel message the bot made (429s included)."""
        return [r for r in self.requests
                if r.method == "POST" and r.path.startswith("/channels/")]


def message_text(message: dict[str, Any]) -> str:
    """A message's content and embed texts."""
    parts = [message.get("content") or ""]
    for embed in message.get("embeds") or []:
        parts += [embed.get("title") or "", embed.get("description") or ""]
    return "\n".join(parts)
