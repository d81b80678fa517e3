"""The outbox takes its buckets from a factory, so limits can be shared beyond one outbox."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.chats import ChatRef
from bot.clock import ManualClock
from bot.outbox import Outbox
from bot.ratelimits import DISCORD_LIMITS, Bucket, RateSpec, Window, memory_buckets
from bot.richtext import Message, Text

START = datetime(2030, 1, 1, tzinfo=UTC)
CHAT = ChatRef("discord", "c")


class RecordingGateway:
    """Remembers when each text was posted, in seconds since START."""

    platform = "discord"

    def __init__(self, clock: ManualClock, sent: list[tuple[float, str]]) -> None:
        self.clock = clock
        self.sent = sent

    async def send(self, chat: ChatRef, message: Message) -> str:
        self.sent.append(((self.clock.now() - START).total_seconds(), message.plain()))
        return str(len(self.sent))

    async def edit(self, chat: ChatRef, message_id: str, message: Message) -> None:
        raise AssertionError("no edits here")

    async def send_file(self, chat: ChatRef, filename: str, data: bytes,
                        caption: Message | None) -> str:
        raise AssertionError("no files here")


class SharedBuckets:
    """One bucket per scope name for every outbox that asks: two workers, one allowance."""

    def __init__(self) -> None:
        self.buckets: dict[str, Window] = {}
        self.asked: list[tuple[str, RateSpec]] = []

    def __call__(self, name: str, rates: RateSpec) -> Bucket:
        self.asked.append((name, rates))
        return self.buckets.setdefault(name, Window(name, rates))


async def test_two_outboxes_on_one_factory_share_a_chats_allowance() -> None:
    clock = ManualClock(START)
    sent: list[tuple[float, str]] = []
    shared = SharedBuckets()
    workers = [Outbox(clock, {"discord": RecordingGateway(clock, sent)},
                      {"discord": DISCORD_LIMITS}, buckets=shared) for _ in range(2)]
    for outbox in workers:
        await outbox.start()
    try:
        futures = [outbox.send(CHAT, Message((Text(f"{n}-{i}"),)))
                   for i in range(5) for n, outbox in enumerate(workers)]
        await clock.advance(20)
        assert all(f.done() and not f.exception() for f in futures)
    finally:
        for outbox in workers:
            await outbox.stop(drain_seconds=0)
    # 5 per 5 s for the chat, across both workers: five go at once, the other five 5 s later.
    times = sorted(t for t, _ in sent)
    assert times[:5] == [0.0] * 5
    assert all(5.0 <= t < 5.1 for t in times[5:]), times
    assert ("discord:bot", ((50, 1.0),)) in shared.asked
    assert (str(CHAT), ((5, 5.0),)) in shared.asked
    assert set(shared.buckets) == {"discord:bot", str(CHAT)}


async def test_the_default_factory_keeps_each_outbox_to_itself() -> None:
    clock = ManualClock(START)
    sent: list[tuple[float, str]] = []
    workers = [Outbox(clock, {"discord": RecordingGateway(clock, sent)},
                      {"discord": DISCORD_LIMITS}) for _ in range(2)]
    for outbox in workers:
        await outbox.start()
    try:
        for i in range(5):
            for outbox in workers:
                outbox.send(CHAT, Message((Text(str(i)),)))
        await clock.advance(20)
    finally:
        for outbox in workers:
            await outbox.stop(drain_seconds=0)
    assert sorted(t for t, _ in sent) == [0.0] * 10
    assert isinstance(memory_buckets("x", ((1, 1.0),)), Window)
