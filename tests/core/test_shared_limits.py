"""Limits for all workers together (PRODUCT §9): three outboxes counting on one store.

Each outbox is one worker's, over its own gateway; the store they share is what several
`python -m bot` processes share on PostgreSQL. Whatever each worker queues, the requests of all
three together stay within the bot's and each chat's windows, and a GO still goes first.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.chats import ChatRef
from bot.clock import ManualClock
from bot.outbox import TELEGRAM_LIMITS, Outbox, Priority
from bot.ratelimits import RateLimits
from storage.memory import MemoryStore
from tests.core.test_outbox import START, FakeGateway, max_in_window, msg

Workers = list[tuple[FakeGateway, Outbox]]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
async def workers(clock: ManualClock) -> AsyncIterator[Workers]:
    """Three workers' outboxes towards Telegram, sharing one store's budgets."""
    store = MemoryStore()
    made = []
    for _ in range(3):
        gateway = FakeGateway(clock, "telegram")
        outbox = Outbox(clock, {"telegram": gateway}, {"telegram": TELEGRAM_LIMITS},
                        shared=store)
        await outbox.start()
        made.append((gateway, outbox))
    yield made
    for _, outbox in made:
        await outbox.stop(drain_seconds=0)


def group(n: int) -> ChatRef:
    return ChatRef("telegram", f"-{n}")


async def test_three_workers_send_no_more_than_one_may(workers: Workers,
                                                       clock: ManualClock) -> None:
    for w, (_, outbox) in enumerate(workers):
        for n in range(40):  # forty chats, each worker posting to all of them
            outbox.send(group(n), msg(f"w{w} c{n}"))
        for i in range(5):  # and one busy group
            outbox.send(group(99), msg(f"w{w} busy {i}"))
    await clock.advance(30)
    sent = [(t, c) for gateway, _ in workers for t, c, _ in gateway.sent]
    assert len(sent) == 3 * 45, "everything goes out in the end"
    times = [t for t, _ in sent]
    assert max_in_window(times, 1.0) <= 30, "30 a second for the bot, all workers together"
    for chat_id in {c for _, c in sent}:
        in_chat = [t for t, c in sent if c == chat_id]
        assert max_in_window(in_chat, 1.0) <= 1, f"one a second in {chat_id}"
        assert max_in_window(in_chat, 60.0) <= 20
    assert not any(g.violations for g, _ in workers)
    assert sum(o.budget_waits for _, o in workers) > 0, "they did wait for each other"


async def test_a_go_keeps_its_priority_across_workers(workers: Workers,
                                                      clock: ManualClock) -> None:
    (_, busy), (go_gateway, firing), _ = workers
    for n in range(200):  # one worker floods the bot's budget with replies
        busy.send(group(n), msg(f"reply {n}"))
    await clock.advance(0.5)
    firing.send(group(500), msg("▶ GO"), Priority.GO)
    await clock.advance(0.2)
    assert go_gateway.texts() == ["▶ GO"], "the GO takes the room the replies leave it"
    assert go_gateway.times()[0] < 0.6


async def test_budgets_are_per_platform_scope(clock: ManualClock) -> None:
    store = MemoryStore()
    limits = RateLimits.parse("bot=2/1s; chat=none")
    pair = [(FakeGateway(clock, "discord"), FakeGateway(clock, "telegram")) for _ in range(2)]
    outboxes = [Outbox(clock, {"discord": d, "telegram": t},
                       {"discord": limits, "telegram": limits}, shared=store) for d, t in pair]
    for outbox in outboxes:
        await outbox.start()
    try:
        for outbox in outboxes:
            outbox.send(ChatRef("discord", "1"), msg("d"), Priority.GO)
            outbox.send(ChatRef("telegram", "1"), msg("t"), Priority.GO)
        await clock.advance(0)
        assert sum(len(d.sent) for d, _ in pair) == 2 and sum(len(t.sent) for _, t in pair) == 2
    finally:
        for outbox in outboxes:
            await outbox.stop(drain_seconds=0)
