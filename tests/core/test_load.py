"""The core under load on a fake clock: edits coalesce, replies and GO keep their places, and a
slow chat holds up no other party."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest

from bot import app
from bot import commands as c
from bot.chats import Actor, ChatRef
from bot.clock import ManualClock
from bot.outbox import TELEGRAM_LIMITS, RateLimits
from bot.party import ACTIVE_STATES
from bot.ports import SentKind
from bot.richtext import Message, Text
from storage.memory import MemoryStore
from tests import fakes
from tests.fakes import START, RecordingGateway, Sent

HOME = ChatRef("telegram", "home")
OTHER = ChatRef("telegram", "other")
HOST = Actor("telegram", "u-host", "Hana")


def guest(n: int) -> Actor:
    return Actor("telegram", f"u{n}", f"Guest {n}")


@dataclass
class GatedGateway(RecordingGateway):
    """A recording gateway whose sends to the chats in `gated` wait until the gate opens."""

    gated: set[ChatRef] = field(default_factory=set)
    gate: asyncio.Event = field(default_factory=asyncio.Event)

    async def send(self, chat: ChatRef, message: Message) -> str:
        if chat in self.gated:
            await self.gate.wait()
        return await RecordingGateway.send(self, chat, message)


@dataclass
class Wired:
    runtime: app.Runtime
    clock: ManualClock
    gateway: GatedGateway
    store: MemoryStore

    async def handle(self, command: c.Command, actor: Actor = HOST,
                     chat: ChatRef = HOME) -> c.Reply | None:
        return await self.runtime.core.handle(c.Context(chat, actor, str(chat)), command)

    async def create(self, when: datetime, chat: ChatRef = HOME) -> str:
        await self.handle(c.CreateParty("Load night", when.isoformat()), chat=chat)
        await self.clock.settle()
        parties = await self.store.parties_for_chat(chat, ACTIVE_STATES)
        return parties[-1].code

    def edits(self, containing: str = "") -> list[Sent]:
        return [s for s in self.gateway.sent if s.edit and containing in s.text]


Wire = Callable[[RateLimits], Awaitable[Wired]]


@pytest.fixture
async def wire() -> AsyncIterator[Wire]:
    made: list[app.Runtime] = []

    async def build(limits: RateLimits) -> Wired:
        clock = ManualClock(START)
        store = MemoryStore()
        gateway = GatedGateway("telegram", clock)
        runtime = await app.build(fakes.test_settings(), store, clock,
                                  {"telegram": (gateway, limits)})
        await runtime.start()
        made.append(runtime)
        return Wired(runtime, clock, gateway, store)

    yield build
    for runtime in made:
        stopping = asyncio.ensure_future(runtime.stop())
        assert isinstance(runtime.clock, ManualClock)
        for _ in range(60):  # the outbox drains on the fake clock
            if stopping.done():
                break
            await runtime.clock.advance(1)
        await stopping


async def test_fifty_presses_in_six_seconds_are_two_edits_ending_on_the_final_counts(
        wire: Wire) -> None:
    bot = await wire(TELEGRAM_LIMITS)
    code = await bot.create(START + timedelta(hours=1))
    await bot.clock.advance(2)
    for n in range(50):
        await bot.handle(c.SetRsvp(code, "going" if n % 5 else "maybe"), guest(n))
        await bot.clock.advance(0.12)
    await bot.clock.advance(10)
    counts = bot.edits("Going")
    assert 1 <= len(counts) <= 2
    assert "Going 40 · 🤔 Maybe 10" in counts[-1].text


async def test_fifty_presses_at_once_while_the_chat_is_slow_end_on_the_final_count(
        wire: Wire) -> None:
    bot = await wire(TELEGRAM_LIMITS)
    code = await bot.create(START + timedelta(hours=1))
    await bot.clock.advance(2)
    await asyncio.gather(*(bot.handle(c.SetRsvp(code, "going"), guest(n)) for n in range(50)))
    await bot.clock.advance(10)
    counts = bot.edits("Going")
    assert 1 <= len(counts) <= 2 and "Going 50 ·" in counts[-1].text


async def test_a_reply_is_not_stuck_behind_edits(wire: Wire) -> None:
    bot = await wire(TELEGRAM_LIMITS)
    codes = [await bot.create(START + timedelta(hours=1 + n)) for n in range(8)]
    await bot.clock.advance(30)
    for n, code in enumerate(codes):
        await bot.handle(c.SetRsvp(code, "going"), guest(n))
    await bot.clock.settle()
    asked = bot.clock.now()
    reply = await bot.handle(c.ListParties())
    assert reply is not None
    # As the adapter does: the reply goes out through the outbox at the normal priority.
    bot.runtime.outbox.send(HOME, reply.message)
    await bot.clock.advance(20)
    listed = [s for s in bot.gateway.posts(HOME) if "Load night" in s.text and s.at >= asked]
    assert listed and listed[0].at - asked <= timedelta(seconds=1.01)
    assert len(bot.edits("Going 1")) == 8


async def test_go_finds_its_chat_budget_free_after_a_busy_minute(wire: Wire) -> None:
    bot = await wire(TELEGRAM_LIMITS)
    go_at = START + timedelta(minutes=5)
    code = await bot.create(go_at)
    await bot.clock.advance((go_at - timedelta(seconds=9) - bot.clock.now()).total_seconds())
    assert bot.gateway.posts(HOME, "GO at"), "the countdown is out"
    # The nine seconds before GO: presses refresh the announcement, and chatter fills the queue.
    for n in range(18):
        await bot.handle(c.SetRsvp(code, "going"), guest(n))
        bot.runtime.outbox.send(HOME, Message((Text(f"reply {n}"),)))
        await bot.clock.advance(0.5)
    await bot.clock.advance(30)
    go = bot.gateway.posts(HOME, "GO")
    go = [s for s in go if "▶" in s.text]
    assert [s.at for s in go] == [go_at]
    minute = [s for s in bot.gateway.sent if go_at - timedelta(seconds=60) < s.at <= go_at]
    assert len(minute) <= 20
    assert not [s for s in minute if go_at - timedelta(seconds=2) <= s.at < go_at]


async def test_a_stuck_chat_stops_neither_its_partys_commands_nor_another_party(
        wire: Wire) -> None:
    bot = await wire(TELEGRAM_LIMITS)
    go_at = START + timedelta(minutes=1)
    stuck = await bot.create(go_at)
    other = await bot.create(go_at + timedelta(hours=1), chat=OTHER)
    await bot.clock.advance(40)
    bot.gateway.gated.add(HOME)
    await bot.clock.advance(25)  # the countdown and GO are due; HOME's sends wait at the gate
    assert not bot.gateway.posts(HOME, "▶")
    press = asyncio.ensure_future(bot.handle(c.SetRsvp(stuck, "going"), guest(1)))
    elsewhere = asyncio.ensure_future(bot.handle(c.SetRsvp(other, "going"), guest(2), OTHER))
    listing = asyncio.ensure_future(bot.handle(c.ListParties(), guest(3), OTHER))
    await bot.clock.settle()
    assert press.done() and elsewhere.done() and listing.done()
    bot.gateway.gate.set()
    await bot.clock.advance(5)
    gos = [s for s in bot.gateway.posts(HOME) if "▶" in s.text]
    assert len(gos) == 1
    party = await bot.store.get_party_by_code(stuck)
    assert party is not None
    refs = await bot.store.sent_messages(party.id, SentKind.GO)
    assert [r.message_id for r in refs] == [gos[0].message_id]
