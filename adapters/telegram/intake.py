"""Updates in flight: handled concurrently across chats, in order within one chat.

Telegram confirms every update below the `offset` a bot asks getUpdates with, so the offset may
pass an update only once it is fully handled. The intake therefore gives back a watermark: the
lowest update not yet finished (or one past the last one seen). A crash repeats the unfinished
updates, and only those, and every record carries its update's name, so nothing is stored twice.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable

from telegram import Update


def lane_of(update: Update) -> str:
    """The lane an update waits in: its chat, so one chat's updates keep their order.

    A button press is in its message's chat. A poll answer names no chat: the votes of one poll
    keep their order in a lane of their own. A group's migration notes are in the old group's
    lane, so the move is done once, in order.
    """
    if update.poll_answer is not None:
        return f"poll:{update.poll_answer.poll_id}"
    message = update.message
    if message is not None and message.migrate_from_chat_id is not None:
        return f"chat:{message.migrate_from_chat_id}"
    chat = update.effective_chat
    return f"chat:{chat.id}" if chat is not None else "other"


class Intake:
    """Admitted updates by lane, each lane worked through in order by one task."""

    def __init__(self, handle: Callable[[Update], Awaitable[None]]) -> None:
        self._handle = handle
        self._pending: set[int] = set()  # admitted, not yet finished
        self._seen: int | None = None  # the highest update id admitted or skipped
        self._lanes: dict[str, deque[Update]] = {}
        self._workers: set[asyncio.Task[None]] = set()
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def watermark(self) -> int | None:
        """The offset to confirm with: every update below it is finished."""
        if self._pending:
            return min(self._pending)
        return None if self._seen is None else self._seen + 1

    @property
    def busy(self) -> bool:
        """Whether any admitted update is not finished yet."""
        return bool(self._pending)

    def is_new(self, update_id: int) -> bool:
        """False for an update seen already (getUpdates repeats what is not confirmed)."""
        return self._seen is None or update_id > self._seen

    def skip(self, update_id: int) -> None:
        """Count an update as finished without handling it (one that cannot be decoded)."""
        if self.is_new(update_id):
            self._seen = update_id

    def admit(self, update: Update) -> None:
        """Queue a new update in its lane; the lane's task handles it after those before it."""
        if not self.is_new(update.update_id):
            return
        self._seen = update.update_id
        self._pending.add(update.update_id)
        self._idle.clear()
        lane = lane_of(update)
        queue = self._lanes.get(lane)
        if queue is not None:
            queue.append(update)
            return
        self._lanes[lane] = deque([update])
        worker = asyncio.create_task(self._work(lane), name=f"telegram-intake:{lane}")
        self._workers.add(worker)
        worker.add_done_callback(self._workers.discard)

    async def _work(self, lane: str) -> None:
        queue = self._lanes[lane]
        try:
            while queue:
                update = queue[0]
                await self._handle(update)
                # Not in a `finally`: an update cut off by cancellation is not finished.
                queue.popleft()
                self._pending.discard(update.update_id)
                if not self._pending:
                    self._idle.set()
        finally:
            del self._lanes[lane]

    async def settle(self, within: float) -> None:
        """Wait until nothing is in flight, or `within` seconds at most."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), within)

    async def drain(self, within: float) -> None:
        """Let the updates in flight finish, for at most `within` seconds; cut off the rest."""
        workers = list(self._workers)
        if not workers:
            return
        _, late = await asyncio.wait(workers, timeout=within)
        for worker in late:
            worker.cancel()
        for worker in late:
            with contextlib.suppress(asyncio.CancelledError):
                await worker
