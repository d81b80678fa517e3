"""Test doubles of the core's tests: a recording chat gateway, people, chats, and the wired bot."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bot import app, render
from bot import commands as c
from bot.chats import Actor, ChatRef
from bot.clock import ManualClock
from bot.errors import UserError
from bot.ports import ChatGone, OpenedThread, Store, ThreadRefused
from bot.richtext import Message
from bot.settings import Settings
from tests.people import moderates, moderator

DATA = Path(__file__).parent / "core" / "data"
START = datetime(2026, 3, 27, 12, 0, tzinfo=UTC)


@dataclass
class Sent:
    """One request the fake platform received."""

    at: datetime
    chat: ChatRef
    message_id: str
    message: Message
    edit: bool = False

    @property
    def text(self) -> str:
        """The message's plain text."""
        return self.message.plain()


@dataclass
class RecordingGateway:
    """A chat platform at its narrowest point: it records every send and edit with the time."""

    platform: str
    clock: ManualClock
    sent: list[Sent] = field(default_factory=list)
    files: list[tuple[ChatRef, str, bytes]] = field(default_factory=list)
    # threads: each opened one (by its own chat) with its parent chat and name; the chats
    # where opening one is refused (and why); chats deleted since (sends there are refused)
    threads: dict[ChatRef, tuple[ChatRef, str]] = field(default_factory=dict)
    refuse_threads: dict[ChatRef, str] = field(default_factory=dict)
    gone: set[ChatRef] = field(default_factory=set)
    _next: int = 0

    async def send(self, chat: ChatRef, message: Message) -> str:
        """Record a new message."""
        if chat in self.gone:
            raise ChatGone(f"{chat} was deleted")
        self._next += 1
        self.sent.append(Sent(self.clock.now(), chat, str(self._next), message))
        return str(self._next)

    async def edit(self, chat: ChatRef, message_id: str, message: Message) -> None:
        """Record an edit."""
        self.sent.append(Sent(self.clock.now(), chat, message_id, message, edit=True))

    async def send_file(self, chat: ChatRef, filename: str, data: bytes,
                        caption: Message | None) -> str:
        """Record an upload."""
        self._next += 1
        self.files.append((chat, filename, data))
        return str(self._next)

    async def open_thread(self, chat: ChatRef, message_id: str, name: str) -> OpenedThread:
        """Open a thread off a message (a chat of its own), unless this chat refuses."""
        if chat in self.refuse_threads:
            raise ThreadRefused(self.refuse_threads[chat])
        thread = ChatRef(chat.platform, f"{chat.chat_id}/thread-{message_id}")
        self.threads[thread] = (chat, name)
        return OpenedThread(thread)

    def posts(self, chat: ChatRef | None = None, containing: str = "") -> list[Sent]:
        """New messages (not edits), optionally in one chat and containing a text."""
        return [s for s in self.sent if not s.edit and (chat is None or s.chat == chat)
                and containing in s.text]


HOME = ChatRef("test", "home")
OTHER = ChatRef("test", "other")
HOST = Actor("test", "u-host", "Hana")
MOD = moderator("test", "u-mod", "Mo")
GUEST = Actor("test", "u-guest", "Gus")


def ctx(actor: Actor = HOST, chat: ChatRef = HOME) -> c.Context:
    """A command context; the moderator fact comes from tests.people."""
    async def is_moderator() -> bool:
        return moderates(actor)
    return c.Context(chat, actor, str(chat), is_moderator=is_moderator)


class SettlingClock(ManualClock):
    """A manual clock whose settling also waits for the store's calls to finish.

    A quiet event loop is not a quiet bot when the store works on threads of its own (SQLite)
    or waits for a server's answer (PostgreSQL): a task waiting for a statement is not
    runnable, yet it has work left.
    """

    def __init__(self, start: datetime, store: Store) -> None:
        super().__init__(start)
        self._store = store

    async def settle(self, rounds: int = 50) -> None:
        """Let every runnable task run, and every store call end, until all is quiet."""
        await super().settle(rounds)
        idle = getattr(self._store, "idle", None)  # SqliteStore and PostgresStore have it
        if idle is not None:
            while await idle():
                await super().settle(rounds)


@dataclass
class Bot:
    """The wired bot on a fake clock: what a test drives and inspects."""

    runtime: app.Runtime
    clock: ManualClock
    gateway: RecordingGateway
    store: Store

    async def do(self, command: c.Command, actor: Actor = HOST,
                 chat: ChatRef = HOME) -> c.Reply | None:
        """Run a command and let its background posts land."""
        reply = await self.runtime.core.handle(ctx(actor, chat), command)
        await self.clock.settle()
        await self.runtime.core.drain()
        await self.clock.settle()
        return reply

    async def advance(self, seconds: float) -> None:
        """Let the fake clock run."""
        await self.clock.advance(seconds)
        await self.runtime.core.drain()
        await self.clock.settle()


async def refused(bot: Bot, command: c.Command, actor: Actor = HOST,
                  chat: ChatRef = HOME) -> str:
    """The message a command is refused with (it must be refused)."""
    try:
        await bot.do(command, actor=actor, chat=chat)
    except UserError as err:
        return render.error(err).plain()
    raise AssertionError(f"{command!r} was not refused")


def test_settings(**overrides: object) -> Settings:
    """Settings that read no environment file, with the test guides folder."""
    values: dict[str, object] = {"database_url": "memory://", "guides_dir": DATA}
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]
