"""The outbox against a fake gateway on a ManualClock: what was sent, to whom, and exactly when."""

from __future__ import annotations

import asyncio
import logging
import random
from bisect import bisect_left
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest

from bot.chats import ChatRef
from bot.clock import ManualClock
from bot.outbox import (
    DISCORD_LIMITS,
    TELEGRAM_LIMITS,
    UNLIMITED,
    Outbox,
    OutboxStopped,
    Priority,
    RateLimits,
)
from bot.ports import DeliveryFailed, RetryAfter
from bot.richtext import Message, Text

START = datetime(2030, 1, 1, tzinfo=UTC)


def msg(text: str) -> Message:
    return Message((Text(text),))


def chat(chat_id: str, platform: str = "discord") -> ChatRef:
    return ChatRef(platform, chat_id)


Rule = Callable[[str, str, int], BaseException | None]


class FakeGateway:
    """Records every attempt and delivery with the fake time; raises what it is told to."""

    def __init__(self, clock: ManualClock, platform: str = "discord", latency: float = 0.0) -> None:
        self.platform = platform
        self.clock = clock
        self.latency = latency
        self.attempts: list[tuple[float, str, str]] = []
        self.sent: list[tuple[float, str, str]] = []
        self.edits: list[tuple[float, str, str, str]] = []
        self.files: list[tuple[float, str, str, bytes, str | None]] = []
        self.script: dict[str, list[BaseException]] = {}
        self.rule: Rule | None = None
        self.not_before: dict[str, datetime] = {}
        self.bot_not_before = START
        self.violations: list[str] = []
        self._busy: set[str] = set()
        self._ids = 0

    def t(self) -> float:
        return (self.clock.now() - START).total_seconds()

    async def _attempt(self, chat: ChatRef, text: str) -> float:
        cid = chat.chat_id
        t = self.t()
        self.attempts.append((t, cid, text))
        now = self.clock.now()
        if now < self.not_before.get(cid, START) or now < self.bot_not_before:
            self.violations.append(f"{text} sent at {t} while told to wait")
        if cid in self._busy:
            self.violations.append(f"{text} sent while another request to {cid} was in flight")
        self._busy.add(cid)
        try:
            if self.latency:
                await self.clock.sleep(self.latency)
            exc: BaseException | None = None
            if self.script.get(cid):
                exc = self.script[cid].pop(0)
            elif self.rule is not None:
                exc = self.rule(cid, text, len(self.attempts))
            if isinstance(exc, RetryAfter):
                until = self.clock.now() + timedelta(seconds=exc.seconds)
                if exc.chat_wide:
                    self.not_before[cid] = until
                else:
                    self.bot_not_before = until
            if exc is not None:
                raise exc
            return self.t()
        finally:
            self._busy.discard(cid)

    def _new_id(self) -> str:
        self._ids += 1
        return f"m{self._ids}"

    async def send(self, chat: ChatRef, message: Message) -> str:
        t = await self._attempt(chat, message.plain())
        self.sent.append((t, chat.chat_id, message.plain()))
        return self._new_id()

    async def edit(self, chat: ChatRef, message_id: str, message: Message) -> None:
        t = await self._attempt(chat, message.plain())
        self.edits.append((t, chat.chat_id, message_id, message.plain()))

    async def send_file(self, chat: ChatRef, filename: str, data: bytes,
                        caption: Message | None) -> str:
        t = await self._attempt(chat, filename)
        self.files.append((t, chat.chat_id, filename, data, caption.plain() if caption else None))
        self.sent.append((t, chat.chat_id, filename))
        return self._new_id()

    def times(self, chat_id: str | None = None) -> list[float]:
        return [t for t, c, _ in self.sent if chat_id is None or c == chat_id]

    def texts(self, chat_id: str | None = None) -> list[str]:
        return [x for _, c, x in self.sent if chat_id is None or c == chat_id]


def max_in_window(times: list[float], seconds: float) -> int:
    """Return the most events inside any half-open window [t, t + seconds)."""
    ordered = sorted(times)
    return max((bisect_left(ordered, t + seconds) - i for i, t in enumerate(ordered)), default=0)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


Make = Callable[..., Awaitable[tuple[FakeGateway, Outbox]]]


@pytest.fixture
async def make(clock: ManualClock) -> AsyncIterator[Make]:
    """Build started outboxes over a fake gateway; stop them after the test."""
    made: list[Outbox] = []

    async def build(limits: RateLimits = DISCORD_LIMITS, platform: str = "discord",
                    latency: float = 0.0) -> tuple[FakeGateway, Outbox]:
        gateway = FakeGateway(clock, platform, latency)
        outbox = Outbox(clock, {platform: gateway}, {platform: limits})
        await outbox.start()
        made.append(outbox)
        return gateway, outbox

    yield build
    for outbox in made:
        await outbox.stop(drain_seconds=0)


# --------------------------------------------------------------------------- limits


async def test_discord_chat_limit_five_per_five_seconds(make: Make, clock: ManualClock) -> None:
    gateway, outbox = await make(DISCORD_LIMITS)
    futures = [outbox.send(chat("c"), msg(f"n{i}")) for i in range(12)]
    await clock.advance(20)
    assert gateway.texts() == [f"n{i}" for i in range(12)]
    assert gateway.times() == pytest.approx([0.0] * 5 + [5.001] * 5 + [10.002] * 2)
    assert max_in_window(gateway.times(), 5.0) == 5
    assert [f.result() for f in futures] == [f"m{i + 1}" for i in range(12)]
    assert outbox.queued() == 0 and outbox.sent_count == 12


async def test_no_send_before_the_chat_window_has_room(make: Make, clock: ManualClock) -> None:
    gateway, outbox = await make(DISCORD_LIMITS)
    for i in range(6):
        outbox.send(chat("c"), msg(f"n{i}"))
    await clock.advance(5.0)
    assert gateway.texts() == [f"n{i}" for i in range(5)]
    await clock.advance(0.001)
    assert gateway.texts()[-1] == "n5"
    assert gateway.times()[-1] == pytest.approx(5.001)


async def test_discord_bot_limit_across_many_chats(make: Make, clock: ManualClock) -> None:
    gateway, outbox = await make(DISCORD_LIMITS)
    for i in range(120):
        outbox.send(chat(f"c{i}"), msg(f"n{i}"))
    await clock.advance(5)
    assert gateway.texts() == [f"n{i}" for i in range(120)]
    assert gateway.times() == pytest.approx([0.0] * 50 + [1.001] * 50 + [2.002] * 20)
    assert max_in_window(gateway.times(), 1.0) == 50


async def test_telegram_one_per_second_and_twenty_per_minute_per_chat(
        make: Make, clock: ManualClock) -> None:
    gateway, outbox = await make(TELEGRAM_LIMITS, platform="telegram")
    for i in range(25):
        outbox.send(chat("g", "telegram"), msg(f"n{i}"))
    for i in range(3):
        outbox.send(chat("other", "telegram"), msg(f"o{i}"))
    await clock.advance(120)
    group = gateway.times("g")
    assert gateway.texts("g") == [f"n{i}" for i in range(25)]
    assert group[:20] == pytest.approx([i * 1.001 for i in range(20)])
    assert group[20] == pytest.approx(60.001)
    assert max_in_window(group, 1.0) == 1
    assert max_in_window(group, 60.0) == 20
    # Another chat has its own allowance: it is not held up by the busy group.
    assert gateway.times("other") == pytest.approx([0.0, 1.001, 2.002])


async def test_unlimited_sends_everything_at_once(make: Make, clock: ManualClock) -> None:
    gateway, outbox = await make(UNLIMITED, platform="console")
    for i in range(100):
        outbox.send(chat(f"c{i % 10}", "console"), msg(f"n{i}"))
    await clock.advance(0)
    assert sorted(gateway.texts(), key=lambda x: int(x[1:])) == [f"n{i}" for i in range(100)]
    assert gateway.texts("c3") == [f"n{i}" for i in range(3, 100, 10)]
    assert set(gateway.times()) == {0.0}


async def test_one_request_in_flight_per_chat_several_chats_at_once(
        make: Make, clock: ManualClock) -> None:
    gateway, outbox = await make(UNLIMITED, latency=0.2)
    for i in range(3):
        outbox.send(chat("a"), msg(f"a{i}"))
        outbox.send(chat("b"), msg(f"b{i}"))
    await clock.advance(1)
    starts = {c: [t for t, cid, _ in gateway.attempts if cid == c] for c in "ab"}
    assert starts["a"] == pytest.approx([0.0, 0.2, 0.4])
    assert starts["b"] == pytest.approx([0.0, 0.2, 0.4])
    assert gateway.texts("a") == ["a0", "a1", "a2"]
    assert gateway.violations == []


# --------------------------------------------------------------------------- priority


async def test_go_overtakes_prompts_and_reminders_in_its_chat(
        make: Make, clock: ManualClock) -> None:
    gateway, outbox = await make(DISCORD_LIMITS)
    for i in range(5):
        outbox.send(chat("c"), msg(f"early{i}"))
    await clock.advance(1)
    for i in range(5):
        outbox.send(chat("c"), msg(f"reminder{i}"), Priority.NORMAL)
        outbox.send(chat("c"), msg(f"prompt{i}"), Priority.PROMPT)
    outbox.send(chat("c"), msg("countdown"), Priority.COUNTDOWN)
    outbox.send(chat("c"), msg("GO"), Priority.GO)
    await clock.advance(30)
    assert gateway.texts() == (
        [f"early{i}" for i in range(5)] + ["GO", "countdown"]
        + [f"prompt{i}" for i in range(5)] + [f"reminder{i}" for i in range(5)]
    )
    assert gateway.sent[5][0] == pytest.approx(5.001)


async def test_go_to_ten_chats_goes_before_prompts_queued_earlier(
        make: Make, clock: ManualClock) -> None:
    gateway, outbox = await make(DISCORD_LIMITS)
    for i in range(60):
        outbox.send(chat(f"p{i}"), msg(f"prompt{i}"), Priority.PROMPT)
    for i in range(10):
        outbox.send(chat(f"g{i}"), msg(f"GO{i}"), Priority.GO)
    await clock.advance(3)
    assert gateway.texts()[:10] == [f"GO{i}" for i in range(10)]
    assert gateway.times()[:10] == [0.0] * 10
    assert gateway.texts()[10:] == [f"prompt{i}" for i in range(60)]


async def test_go_waiting_for_the_bot_bucket_is_not_overtaken(
        make: Make, clock: ManualClock) -> None:
    gateway, outbox = await make(RateLimits(per_bot=((10, 1.0),)))
    for i in range(40):
        outbox.send(chat(f"p{i}"), msg(f"prompt{i}"), Priority.PROMPT)
    await clock.advance(0.5)
    assert len(gateway.sent) == 10  # the bot bucket is empty until 1.001
    for i in range(10):
        outbox.send(chat(f"g{i}"), msg(f"GO{i}"), Priority.GO)
    await clock.advance(0.501)
    assert gateway.texts()[10:] == [f"GO{i}" for i in range(10)]
    assert gateway.times()[10:] == pytest.approx([1.001] * 10)
    await clock.advance(5)
    assert gateway.texts()[20:] == [f"prompt{i}" for i in range(10, 40)]
    assert max_in_window(gateway.times(), 1.0) == 10


async def test_urgent_message_blocked_by_its_chat_lets_other_chats_go(
        make: Make, clock: ManualClock) -> None:
    gateway, outbox = await make(DISCORD_LIMITS)
    for i in range(5):
        outbox.send(chat("busy"), msg(f"b{i}"))
    await clock.advance(0)
    outbox.send(chat("busy"), msg("GO"), Priority.GO)
    outbox.send(chat("quiet"), msg("hello"), Priority.NORMAL)
    await clock.advance(1)
    assert gateway.sent[-1] == (0.0, "quiet", "hello")
    await clock.advance(5)
    assert gateway.sent[-1] == (5.001, "busy", "GO")


async def test_same_priority_order_is_kept_per_chat_under_load(
        make: Make, clock: ManualClock) -> None:
    gateway, outbox = await make(RateLimits(per_bot=((7, 1.0),), per_chat=((3, 2.0),)))
    rng = random.Random(7)
    expected: dict[tuple[str, Priority], list[str]] = {}
    n = 0
    for _ in range(6):
        for _ in range(40):
            cid = f"c{rng.randrange(6)}"
            priority = rng.choice(list(Priority))
            text = f"{cid}-{priority.name}-{n}"
            n += 1
            expected.setdefault((cid, priority), []).append(text)
            outbox.send(chat(cid), msg(text), priority)
        await clock.advance(rng.uniform(0.5, 4))
    await clock.advance(600)
    assert sorted(gateway.texts()) == sorted(t for texts in expected.values() for t in texts)
    for (cid, priority), texts in expected.items():
        got = [x for x in gateway.texts(cid) if x.split("-")[1] == priority.name]
        assert got == texts
    assert max_in_window(gateway.times(), 1.0) <= 7
    for i in range(6):
        assert max_in_window(gateway.times(f"c{i}"), 2.0) <= 3


# --------------------------------------------------------------------------- 429s and errors


async def test_chat_wide_retry_after_is_obeyed_exactly(make: Make, clock: ManualClock) -> None:
    gateway, outbox = await make(DISCORD_LIMITS)
    gateway.script["a"] = [RetryAfter(2.5)]
    first = outbox.send(chat("a"), msg("a1"))
    outbox.send(chat("a"), msg("a2"))
    outbox.send(chat("b"), msg("b1"))
    await clock.advance(2.499)
    assert gateway.sent == [(0.0, "b", "b1")]
    assert [x for _, c, x in gateway.attempts if c == "a"] == ["a1"]
    assert not first.done()
    await clock.advance(0.001)
    assert gateway.sent[1:] == [(2.5, "a", "a1"), (2.5, "a", "a2")]
    assert first.result() == "m2"
    assert gateway.violations == []
    assert outbox.retry_count == 1


async def test_bot_wide_retry_after_blocks_every_chat(make: Make, clock: ManualClock) -> None:
    gateway, outbox = await make(DISCORD_LIMITS)
    gateway.script["a"] = [RetryAfter(3.0, chat_wide=False)]
    outbox.send(chat("a"), msg("a1"))
    await clock.advance(0)
    outbox.send(chat("b"), msg("b1"))
    outbox.send(chat("c"), msg("c1"), Priority.GO)
    await clock.advance(2.999)
    assert gateway.sent == []
    await clock.advance(0.001)
    assert gateway.sent == [(3.0, "c", "c1"), (3.0, "a", "a1"),
                            (3.0, "b", "b1")]
    assert gateway.violations == []


async def test_retry_after_keeps_the_chat_in_order(make: Make, clock: ManualClock) -> None:
    gateway, outbox = await make(UNLIMITED)
    gateway.script["a"] = [RetryAfter(1.0), RetryAfter(0.5)]
    for i in range(4):
        outbox.send(chat("a"), msg(f"a{i}"))
    await clock.advance(5)
    assert gateway.texts() == ["a0", "a1", "a2", "a3"]
    assert gateway.times() == pytest.approx([1.5] * 4)
    assert [x for _, _, x in gateway.attempts] == ["a0", "a0", "a0", "a1", "a2", "a3"]


async def test_429_storm_delivers_everything_once_in_order(make: Make, clock: ManualClock) -> None:
    gateway, outbox = await make(DISCORD_LIMITS, latency=0.05)
    rng = random.Random(42)

    def storm(cid: str, text: str, attempt: int) -> BaseException | None:
        if rng.random() < 0.4:
            return RetryAfter(round(rng.uniform(0.1, 3.0), 3), chat_wide=rng.random() > 0.1)
        return None

    gateway.rule = storm
    futures: dict[str, asyncio.Future[str]] = {}
    for i in range(15):
        for c in range(8):
            text = f"c{c}-{i}"
            futures[text] = outbox.send(chat(f"c{c}"), msg(text))
    await clock.advance(900)
    assert outbox.queued() == 0
    assert sorted(gateway.texts()) == sorted(futures)
    for c in range(8):
        assert gateway.texts(f"c{c}") == [f"c{c}-{i}" for i in range(15)]
        attempts = [t for t, cid, _ in gateway.attempts if cid == f"c{c}"]
        assert max_in_window(attempts, 5.0) <= 5
    assert max_in_window([t for t, _, _ in gateway.attempts], 1.0) <= 50
    assert gateway.violations == []
    assert len({f.result() for f in futures.values()}) == 120
    assert outbox.retry_count == len(gateway.attempts) - 120 > 20


async def test_delivery_failed_fails_at_once_and_the_chat_goes_on(
        make: Make, clock: ManualClock) -> None:
    gateway, outbox = await make(DISCORD_LIMITS)
    gateway.script["a"] = [DeliveryFailed("bot was removed")]
    first = outbox.send(chat("a"), msg("a1"))
    second = outbox.send(chat("a"), msg("a2"))
    await clock.advance(60)
    with pytest.raises(DeliveryFailed):
        first.result()
    assert [x for _, _, x in gateway.attempts] == ["a1", "a2"]
    assert gateway.sent == [(0.0, "a", "a2")]
    assert second.result() == "m1"
    assert outbox.failed_count == 1


async def test_unexpected_errors_back_off_then_succeed(
        make: Make, clock: ManualClock, caplog: pytest.LogCaptureFixture) -> None:
    gateway, outbox = await make(DISCORD_LIMITS)
    gateway.script["a"] = [RuntimeError("boom"), ConnectionError("reset")]
    caplog.set_level(logging.INFO, logger="bot.outbox")
    fut = outbox.send(chat("a"), msg("secret plans"))
    outbox.send(chat("b"), msg("b1"))
    await clock.advance(10)
    assert [t for t, c, _ in gateway.attempts if c == "a"] == pytest.approx([0.0, 1.0, 3.0])
    assert gateway.sent == [(0.0, "b", "b1"), (3.0, "a", "secret plans")]
    assert fut.result() == "m2"
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 2 and all("discord:a" in r.getMessage() for r in warnings)
    assert all("secret" not in r.getMessage() for r in caplog.records)


async def test_unexpected_errors_give_up_after_five_attempts(
        make: Make, clock: ManualClock) -> None:
    gateway, outbox = await make(DISCORD_LIMITS)
    gateway.script["a"] = [RuntimeError(f"boom{i}") for i in range(5)]
    fut = outbox.send(chat("a"), msg("a1"))
    outbox.send(chat("a"), msg("a2"))
    await clock.advance(60)
    assert [t for t, _, x in gateway.attempts if x == "a1"] == pytest.approx([0, 1, 3, 7, 15])
    with pytest.raises(RuntimeError, match="boom4"):
        fut.result()
    assert gateway.sent == [(15.0, "a", "a2")]


# --------------------------------------------------------------------------- edits and files


async def test_queued_edits_of_one_message_coalesce(make: Make, clock: ManualClock) -> None:
    gateway, outbox = await make(DISCORD_LIMITS)
    posted = outbox.send(chat("c"), msg("going: 0"))
    for i in range(4):
        outbox.send(chat("c"), msg(f"filler{i}"))
    await clock.advance(0)
    message_id = posted.result()
    edits = [outbox.edit(chat("c"), message_id, msg(f"going: {n}")) for n in range(1, 11)]
    await clock.advance(10)
    assert gateway.edits == [(5.001, "c", message_id, "going: 10")]
    assert all(f.done() and f.result() is None for f in edits)
    assert outbox.queued() == 0


async def test_an_edit_in_flight_is_not_replaced(make: Make, clock: ManualClock) -> None:
    gateway, outbox = await make(UNLIMITED, latency=0.5)
    outbox.edit(chat("c"), "m9", msg("v1"))
    await clock.advance(0.1)
    outbox.edit(chat("c"), "m9", msg("v2"))
    outbox.edit(chat("c"), "m9", msg("v3"))
    await clock.advance(2)
    # v3 waits for a quiet second after the last edit (at 0.1), then takes 0.5s.
    assert [(t, x) for t, _, _, x in gateway.edits] == [(0.5, "v1"), (1.6, "v3")]


async def test_a_more_urgent_edit_moves_the_queued_one_forward(
        make: Make, clock: ManualClock) -> None:
    gateway, outbox = await make(DISCORD_LIMITS)
    for i in range(5):
        outbox.send(chat("c"), msg(f"early{i}"))
    await clock.advance(0)
    outbox.send(chat("c"), msg("s1"))
    outbox.edit(chat("c"), "m1", msg("rsvp 1"))
    outbox.send(chat("c"), msg("s2"))
    outbox.edit(chat("c"), "m1", msg("rsvp 2"), Priority.PROMPT)
    await clock.advance(6)
    assert [x for _, _, x in gateway.attempts[5:]] == ["rsvp 2", "s1", "s2"]


async def test_fifty_edits_in_six_seconds_are_two_edits_ending_on_the_last_text(
        make: Make, clock: ManualClock) -> None:
    gateway, outbox = await make(TELEGRAM_LIMITS, platform="telegram")
    group = chat("g", "telegram")
    for n in range(1, 51):
        outbox.edit(group, "m1", msg(f"going: {n}"), Priority.REFRESH)
        await clock.advance(0.12)
    await clock.advance(10)
    texts = [x for _, _, _, x in gateway.edits]
    assert len(texts) <= 2 and texts[-1] == "going: 50"
    assert outbox.queued() == 0


async def test_a_burst_of_edits_to_a_slow_chat_is_two_edits(
        make: Make, clock: ManualClock) -> None:
    gateway, outbox = await make(TELEGRAM_LIMITS, platform="telegram", latency=2.0)
    group = chat("g", "telegram")
    for n in range(1, 51):
        outbox.edit(group, "m1", msg(f"going: {n}"), Priority.REFRESH)
        await clock.advance(0.01)
    await clock.advance(10)
    assert [x for _, _, _, x in gateway.edits] == ["going: 1", "going: 50"]


async def test_a_reply_is_not_stuck_behind_edits(make: Make, clock: ManualClock) -> None:
    gateway, outbox = await make(TELEGRAM_LIMITS, platform="telegram")
    group = chat("g", "telegram")
    for m in range(10):
        outbox.edit(group, f"m{m}", msg(f"count of m{m}"), Priority.REFRESH)
    await clock.advance(0)
    outbox.send(group, msg("the list"))
    await clock.advance(1.5)
    assert [(t, x) for t, _, x in gateway.attempts] == [(0.0, "count of m0"),
                                                        (1.001, "the list")]


async def test_a_reserved_go_keeps_its_chat_free(make: Make, clock: ManualClock) -> None:
    gateway, outbox = await make(TELEGRAM_LIMITS, platform="telegram")
    group, other = chat("g", "telegram"), chat("o", "telegram")
    go_at = START + timedelta(seconds=30)
    outbox.reserve(group, go_at)
    for i in range(30):
        outbox.send(group, msg(f"note{i}"))
        outbox.edit(group, "ann", msg(f"count {i}"), Priority.REFRESH)
    outbox.send(other, msg("elsewhere"))
    await clock.advance(29.9)
    before = [t for t, c, _ in gateway.attempts if c == "g"]
    # One of the minute's 20 is left for the GO, and nothing goes in the 2 s before it.
    assert len(before) == 19 and max(before) < 28.0
    assert ("o", "elsewhere") in [(c, x) for _, c, x in gateway.sent]
    await clock.advance(0.1)
    outbox.send(group, msg("GO"), Priority.GO)
    await clock.advance(0)
    assert gateway.sent[-1] == (30.0, "g", "GO")
    await clock.advance(120)
    assert len(gateway.texts("g")) == 31 and gateway.edits[-1][3] == "count 29"
    assert gateway.violations == []


async def test_a_released_reservation_holds_nothing(make: Make, clock: ManualClock) -> None:
    gateway, outbox = await make(TELEGRAM_LIMITS, platform="telegram")
    group = chat("g", "telegram")
    go_at = START + timedelta(seconds=1)
    outbox.reserve(group, go_at)
    outbox.release(group, go_at)
    outbox.send(group, msg("a"))
    outbox.send(group, msg("b"))
    await clock.advance(1.5)
    assert gateway.times("g") == [0.0, 1.001]


async def test_the_bot_limit_counts_sends_and_edits_together(
        make: Make, clock: ManualClock) -> None:
    gateway, outbox = await make(TELEGRAM_LIMITS, platform="telegram")
    for i in range(40):
        outbox.send(chat(f"s{i}", "telegram"), msg(f"send{i}"))
        outbox.edit(chat(f"e{i}", "telegram"), "m", msg(f"edit{i}"), Priority.REFRESH)
    await clock.advance(10)
    times = [t for t, _, _ in gateway.attempts]
    assert len(times) == 80 and max_in_window(times, 1.0) == 30


async def test_send_file_goes_through_the_same_limits(make: Make, clock: ManualClock) -> None:
    gateway, outbox = await make(DISCORD_LIMITS)
    for i in range(5):
        outbox.send(chat("c"), msg(f"n{i}"))
    fut = outbox.send_file(chat("c"), "export.csv", b"a,b\n", caption=msg("the export"))
    await clock.advance(6)
    assert gateway.files == [(5.001, "c", "export.csv", b"a,b\n", "the export")]
    assert fut.result() == "m6"


async def test_a_cancelled_send_is_not_delivered(make: Make, clock: ManualClock) -> None:
    gateway, outbox = await make(DISCORD_LIMITS)
    futures = [outbox.send(chat("c"), msg(f"n{i}")) for i in range(7)]
    await clock.advance(0)
    futures[5].cancel()
    await clock.advance(6)
    assert gateway.texts() == ["n0", "n1", "n2", "n3", "n4", "n6"]
    assert outbox.queued() == 0


# --------------------------------------------------------------------------- lifecycle


async def test_stop_drains_for_a_while_then_fails_the_rest(make: Make, clock: ManualClock) -> None:
    gateway, outbox = await make(DISCORD_LIMITS)
    futures = [outbox.send(chat("c"), msg(f"n{i}")) for i in range(12)]
    stopping = asyncio.create_task(outbox.stop(drain_seconds=6))
    await clock.advance(7)
    assert stopping.done()
    assert gateway.times() == pytest.approx([0.0] * 5 + [5.001] * 5)
    for fut in futures[10:]:
        with pytest.raises(OutboxStopped):
            fut.result()
    await outbox.stop()  # idempotent
    late = outbox.send(chat("c"), msg("late"))
    with pytest.raises(OutboxStopped):
        late.result()
    await clock.advance(60)
    assert len(gateway.sent) == 10
    assert outbox.queued() == 0


async def test_stop_returns_once_everything_is_delivered(make: Make, clock: ManualClock) -> None:
    gateway, outbox = await make(DISCORD_LIMITS)
    futures = [outbox.send(chat(f"c{i}"), msg(f"n{i}")) for i in range(3)]
    await outbox.stop(drain_seconds=5)
    assert gateway.texts() == ["n0", "n1", "n2"]
    assert all(f.result() for f in futures)


async def test_stop_fails_a_request_in_flight(make: Make, clock: ManualClock) -> None:
    gateway, outbox = await make(UNLIMITED, latency=10)
    fut = outbox.send(chat("c"), msg("slow"))
    stopping = asyncio.create_task(outbox.stop(drain_seconds=1))
    await clock.advance(2)
    assert stopping.done()
    with pytest.raises(OutboxStopped):
        fut.result()
    assert gateway.sent == []


async def test_messages_queued_before_start_go_at_start(clock: ManualClock) -> None:
    gateway = FakeGateway(clock)
    outbox = Outbox(clock, {"discord": gateway}, {"discord": DISCORD_LIMITS})
    outbox.send(chat("c"), msg("early"))
    await clock.advance(1)
    assert gateway.sent == [] and outbox.queued() == 1
    await outbox.start()
    await clock.advance(1)
    assert gateway.sent == [(1.0, "c", "early")]
    await outbox.stop()


class CountingClock:
    """A ManualClock that counts how often the outbox sleeps."""

    def __init__(self, inner: ManualClock) -> None:
        self.inner = inner
        self.sleeps = 0

    def now(self) -> datetime:
        return self.inner.now()

    async def sleep(self, seconds: float) -> None:
        self.sleeps += 1
        await self.inner.sleep(seconds)


async def test_an_idle_outbox_does_not_poll(clock: ManualClock) -> None:
    counting = CountingClock(clock)
    gateway = FakeGateway(clock)
    outbox = Outbox(counting, {"discord": gateway}, {"discord": DISCORD_LIMITS})
    await outbox.start()
    await clock.advance(3600)
    assert counting.sleeps == 0
    for i in range(12):
        outbox.send(chat("c"), msg(f"n{i}"))
    await clock.advance(3600)
    assert len(gateway.sent) == 12
    assert counting.sleeps == 2  # once until 5.001, once until 10.002
    await outbox.stop()


async def test_unknown_platform_and_missing_limits_are_refused(clock: ManualClock) -> None:
    gateway = FakeGateway(clock)
    with pytest.raises(ValueError, match="no rate limits given for discord"):
        Outbox(clock, {"discord": gateway}, {})
    outbox = Outbox(clock, {"discord": gateway}, {"discord": DISCORD_LIMITS})
    with pytest.raises(ValueError, match="no gateway for platform 'telegram'"):
        outbox.send(chat("c", "telegram"), msg("hi"))


# --------------------------------------------------------------------------- RateLimits.parse


@pytest.mark.parametrize(("text", "expected"), [
    ("bot=50/1s; chat=5/5s", DISCORD_LIMITS),
    ("bot=30/1s; chat=1/1s,20/60s", TELEGRAM_LIMITS),
    (" chat = 20/1m , 1/s ;bot=30/1000ms; ", TELEGRAM_LIMITS),
    ("bot=100/500ms", RateLimits(per_bot=((100, 0.5),))),
    ("BOT=10/1.5s", RateLimits(per_bot=((10, 1.5),))),
    ("unlimited", UNLIMITED),
    ("bot=none; chat=none", UNLIMITED),
])
def test_parse_accepts(text: str, expected: RateLimits) -> None:
    assert RateLimits.parse(text) == expected


@pytest.mark.parametrize(("text", "problem"), [
    ("", "empty"),
    ("bot 50/1s", "has no '='"),
    ("robot=5/1s", "unknown scope 'robot'"),
    ("bot=5/1s; bot=6/1s", "given twice"),
    ("bot=50", "cannot read '50'"),
    ("bot=50/1h", "cannot read '50/1h'"),
    ("bot=fifty/1s", "cannot read 'fifty/1s'"),
    ("bot=0/1s", "at least 1"),
    ("chat=5/0.5ms", "whole number of milliseconds"),
    ("chat=5/1s,5/2s", "a longer window needs a larger count"),
    ("chat=1/1s,120/60s", "fewer messages per second"),
    ("chat=1/1s,2/1000ms", "same window"),
])
def test_parse_explains_what_is_wrong(text: str, problem: str) -> None:
    with pytest.raises(ValueError) as info:
        RateLimits.parse(text)
    assert problem in str(info.value)
    assert "expected 'bot=COUNT/WINDOW" in str(info.value)


def test_limits_print_as_they_parse() -> None:
    assert str(TELEGRAM_LIMITS) == "bot=30/1s; chat=1/1s,20/60s"
    assert RateLimits.parse(str(TELEGRAM_LIMITS)) == TELEGRAM_LIMITS
    assert str(UNLIMITED) == "bot=none; chat=none"
