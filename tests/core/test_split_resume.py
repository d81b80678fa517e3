"""A message posted in pieces resumes from the outbox's job after a 429, on any gateway."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.chats import ChatRef
from bot.clock import ManualClock
from bot.outbox import UNLIMITED, Outbox
from bot.ports import ResumingGateway, RetryAfter, SendProgress
from bot.richtext import Message, Text

START = datetime(2030, 1, 1, tzinfo=UTC)
CHAT = ChatRef("telegram", "-100")


class PiecesGateway:
    """Posts each line as its own message; refuses the piece named in `refuse` once, with a 429."""

    platform = "telegram"

    def __init__(self, clock: ManualClock, refuse: set[str]) -> None:
        self.clock = clock
        self.refuse = refuse
        self.posted: list[tuple[float, str, str]] = []  # (seconds since START, text, key)
        self.progress_seen: list[SendProgress] = []

    async def send(self, chat: ChatRef, message: Message) -> str:
        raise AssertionError("the outbox resumes split messages through send_resuming")

    async def send_resuming(self, chat: ChatRef, message: Message,
                            progress: SendProgress) -> str:
        self.progress_seen.append(progress)
        lines = message.plain().split("\n")
        for index, line in enumerate(lines):
            if index in progress.posted:
                continue
            key = progress.key(index, lambda index=index: f"key-{index}-{len(self.posted)}")
            if line in self.refuse:
                self.refuse.discard(line)
                raise RetryAfter(3.0)
            self.posted.append(((self.clock.now() - START).total_seconds(), line, key))
            progress.posted[index] = f"m{len(self.posted)}"
        return progress.posted[len(lines) - 1]

    async def edit(self, chat: ChatRef, message_id: str, message: Message) -> None:
        raise AssertionError("no edits here")

    async def send_file(self, chat: ChatRef, filename: str, data: bytes,
                        caption: Message | None) -> str:
        raise AssertionError("no files here")


async def test_a_429_half_way_posts_each_piece_once_and_resumes_after_the_wait() -> None:
    clock = ManualClock(START)
    gateway = PiecesGateway(clock, refuse={"two"})
    assert isinstance(gateway, ResumingGateway)
    outbox = Outbox(clock, {"telegram": gateway}, {"telegram": UNLIMITED})
    await outbox.start()
    try:
        first = outbox.send(CHAT, Message((Text("one\ntwo\nthree"),)))
        after = outbox.send(CHAT, Message((Text("later"),)))
        await clock.advance(10)
        assert first.result() == "m3" and after.result() == "m4"
    finally:
        await outbox.stop(drain_seconds=0)
    assert [(t, text) for t, text, _ in gateway.posted] == [
        (0.0, "one"), (3.0, "two"), (3.0, "three"), (3.0, "later")]
    # The retry carried the same progress: the refused piece kept the key of its first attempt.
    assert gateway.progress_seen[0] is gateway.progress_seen[1]
    assert gateway.progress_seen[0].keys[1] == "key-1-1"
    assert gateway.progress_seen[2] is not gateway.progress_seen[0]
