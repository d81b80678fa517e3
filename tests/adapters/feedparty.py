"""A whole bot on the system clock that follows a real player: what the feed tests drive.

The chat platform is the narrowest fake (tests.fakes.RecordingGateway); the player is real (a
Syncplay server with a scripted host) or the fake Jellyfin. Each post notes where the player
was when the bot sent it, so prompts can be checked against the player's own position.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot import app, render
from bot import commands as c
from bot.chats import Actor, ChatRef
from bot.clock import SystemClock
from bot.errors import UserError
from bot.outbox import UNLIMITED
from bot.party import Party, PartyState
from bot.ports import Store
from bot.richtext import Message
from storage.sqlite import SqliteStore
from tests.fakes import HOME, HOST, RecordingGateway, ctx, test_settings

DATA = Path(__file__).parent / "data"
WITHIN = 20.0
TOLERANCE = 1.5  # the product's: a followed party's prompts land within 1.5 s of the player


def near(player_at: float | None, film: float) -> bool:
    """Whether the player was within the tolerance of `film` when the bot posted."""
    return player_at is not None and abs(player_at - film) <= TOLERANCE


@dataclass
class Posted:
    """One message the bot sent, and where the player was at that moment."""

    text: str
    chat: ChatRef
    player_at: float | None


@dataclass
class WatchingGateway(RecordingGateway):
    """The recording gateway that also notes the player's position at every send."""

    player: Callable[[], float] | None = None
    posted: list[Posted] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def send(self, chat: ChatRef, message: Message) -> str:
        """Record a new message with the player's position."""
        self.posted.append(Posted(message.plain(), chat,
                                  self.player() if self.player is not None else None))
        self.changed.set()
        return await super().send(chat, message)


@dataclass
class FeedBot:
    """The running bot: its runtime, its gateway and store."""

    runtime: app.Runtime
    gateway: WatchingGateway
    store: Store
    stopped: bool = False

    async def do(self, command: c.Command, actor: Actor = HOST) -> str:
        """Run a command; return the reply's text, or the error a user would read."""
        try:
            reply = await self.runtime.core.handle(ctx(actor, HOME), command)
        except UserError as err:
            return "refused: " + render.error(err).plain()
        assert reply is not None
        return reply.message.plain()

    async def wait_post(self, containing: str, after: int = 0,
                        within: float = WITHIN) -> Posted:
        """Wait for a post containing `containing` among those from index `after` on."""
        async with asyncio.timeout(within):
            while True:
                for posted in self.gateway.posted[after:]:
                    if containing in posted.text:
                        return posted
                self.gateway.changed.clear()
                await self.gateway.changed.wait()

    def texts(self, containing: str = "") -> list[str]:
        """The texts of every post containing `containing`."""
        return [p.text for p in self.gateway.posted if containing in p.text]

    async def party(self) -> Party:
        """The one party of the home chat."""
        [party] = await self.store.parties_for_chat(HOME, frozenset(PartyState))
        return party

    async def until(self, check: Callable[[Party], bool], what: str,
                    within: float = WITHIN) -> Party:
        """Wait until the stored party satisfies `check`."""
        async with asyncio.timeout(within):
            while True:
                party = await self.party()
                if check(party):
                    return party
                await asyncio.sleep(0.05)  # the store has no change notification to await
        raise AssertionError(what)

    async def stop(self) -> None:
        """Stop the bot, once (the store stays open for a restart)."""
        if not self.stopped:
            self.stopped = True
            await self.runtime.quiesce()


async def start_bot(store: Store, **settings: Any) -> FeedBot:
    """Wire and start the bot on the system clock with the feed-film guide."""
    clock = SystemClock()
    gateway = WatchingGateway("test", clock)  # type: ignore[arg-type]
    configured = test_settings(guides_dir=DATA, countdown_seconds=3, **settings)
    # as start-up does (app.open_configured_store): leases this worker's last run left behind
    await store.reap_leases(clock.now(), configured.worker_id)
    runtime = await app.build(configured, store, clock, {"test": (gateway, UNLIMITED)})
    await runtime.start()
    return FeedBot(runtime, gateway, store)


async def open_store(folder: Path) -> SqliteStore:
    """A SQLite file store (a restart opens it again)."""
    return await SqliteStore.open(folder / "feeds.db")


def error_of(text: str) -> str:
    """The refusal in a reply from FeedBot.do."""
    assert text.startswith("refused: "), text
    return text.removeprefix("refused: ")
