"""The one outbound queue: every message the bot posts, edits or uploads goes through it.

Each platform has one delivery loop. Within a chat, messages leave in (priority, enqueue order)
with at most one request in flight, so a chat reads in order; across chats the most urgent head
that its chat's limits and the bot's limits allow goes next. A 429's `retry_after` blocks the
chat (or the whole platform) until it has elapsed and the message is retried; nothing is dropped.
All waiting goes through the injected Clock, so tests drive it with a ManualClock.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from bot.chats import ChatRef
from bot.delivery import (
    EDIT_EVERY,
    EDIT_QUIET,
    GO_EXPIRY,
    GO_GUARD,
    Job,
    JobKind,
    Lane,
    OutboxStopped,
    Priority,
    fail_future,
)
from bot.ports import (
    ChatGateway,
    Clock,
    OpenedThread,
    SendProgress,
)
from bot.ratelimits import (
    DISCORD_LIMITS,
    TELEGRAM_LIMITS,
    UNLIMITED,
    BucketFactory,
    RateLimits,
    SharedBudget,
    memory_buckets,
)
from bot.richtext import Message

log = logging.getLogger(__name__)

__all__ = ["DISCORD_LIMITS", "EDIT_EVERY", "EDIT_QUIET", "GO_EXPIRY", "GO_GUARD", "TELEGRAM_LIMITS",
           "UNLIMITED", "Outbox", "OutboxStopped", "Priority", "RateLimits"]

# --------------------------------------------------------------------------- the outbox


class Outbox:
    """Queues every outbound request and delivers it within each platform's limits."""

    def __init__(self, clock: Clock, gateways: Mapping[str, ChatGateway],
                 limits: Mapping[str, RateLimits], *, max_attempts: int = 5,
                 backoff: float = 1.0, max_backoff: float = 30.0,
                 buckets: BucketFactory = memory_buckets,
                 shared: SharedBudget | None = None) -> None:
        missing = sorted(set(gateways) - set(limits))
        if missing:
            raise ValueError(f"no rate limits given for {', '.join(missing)} "
                             "(pass UNLIMITED explicitly where a platform has none)")
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.clock = clock
        self.buckets = buckets
        # With other workers on the database every request is also counted there, so the
        # platform's limits hold for all of them together (see docs/architecture.md).
        self.shared = shared
        self.budget_waits = 0
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.sent_count = 0
        self.failed_count = 0
        self.retry_count = 0
        self._lanes = {name: Lane(self, name, gw, limits[name]) for name, gw in gateways.items()}
        self._seq = 0
        self._started = False
        self._closing = False
        self._stopped: asyncio.Event | None = None
        self._drained = asyncio.Event()
        self._drained.set()

    # enqueueing

    def send(self, chat: ChatRef, message: Message, priority: Priority = Priority.NORMAL, *,
             name: str | None = None) -> asyncio.Future[str]:
        """Queue a message; the future resolves to its platform message id once posted.

        `name` names this send for every worker (see SendProgress): the same name, the same
        idempotency keys."""
        fut: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._add(chat, JobKind.SEND, message, fut, priority,
                  progress=None if name is None else SendProgress(name=name))
        return fut

    def edit(self, chat: ChatRef, message_id: str, message: Message,
             priority: Priority = Priority.NORMAL) -> asyncio.Future[None]:
        """Queue an edit; it replaces an edit of the same message that is queued and not sent."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        lane = self._lane(chat)
        key = (chat, message_id)
        queued = lane.edits.get(key)
        if queued is not None and not self._closing and not queued.abandoned():
            # A busy counter becomes one edit carrying the latest text, at the earlier place.
            queued.message = message
            queued.futures.append(fut)
            if lane.held.get(key) is queued:
                assert queued.hold_until is not None
                last = lane.last_edit.get(key, self.clock.now())
                queued.hold_until = min(last + EDIT_EVERY, self.clock.now() + EDIT_QUIET)
                queued.priority = min(queued.priority, Priority(priority))
                lane.wake.set()
            elif priority < queued.priority:
                queued.priority = priority
                heapq.heapify(lane.queues[chat])
                lane.wake.set()
            return fut
        job = self._add(chat, JobKind.EDIT, message, fut, priority, message_id=message_id,
                        hold=key)
        if job is not None:
            lane.edits[key] = job
        return fut

    def reserve(self, chat: ChatRef, at: datetime) -> None:
        """Keep the chat's budget free for a GO due at `at` (see GO_GUARD)."""
        lane = self._lane(chat)
        times = lane.reserved.setdefault(chat, [])
        if at not in times:
            times.append(at)
            lane.wake.set()

    def release(self, chat: ChatRef, at: datetime) -> None:
        """Drop a reservation made for a GO that will not come at `at`."""
        lane = self._lane(chat)
        times = lane.reserved.get(chat)
        if times and at in times:
            times.remove(at)
            if not times:
                del lane.reserved[chat]
            lane.wake.set()

    def send_file(self, chat: ChatRef, filename: str, data: bytes, caption: Message | None = None,
                  priority: Priority = Priority.NORMAL) -> asyncio.Future[str]:
        """Queue a file upload; the future resolves to its message id once posted."""
        fut: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._add(chat, JobKind.FILE, caption, fut, priority, filename=filename, data=data)
        return fut

    def open_thread(self, chat: ChatRef, message_id: str, name: str,
                    priority: Priority = Priority.NORMAL) -> asyncio.Future[OpenedThread]:
        """Queue the opening of a party's thread off a message; the future fails with
        ThreadRefused where the chat (or its platform) allows none."""
        fut: asyncio.Future[OpenedThread] = asyncio.get_running_loop().create_future()
        self._add(chat, JobKind.THREAD, None, fut, priority, message_id=message_id,
                  filename=name)
        return fut

    def _lane(self, chat: ChatRef) -> Lane:
        lane = self._lanes.get(chat.platform)
        if lane is None:
            raise ValueError(f"no gateway for platform {chat.platform!r} "
                             f"(known: {', '.join(sorted(self._lanes)) or 'none'})")
        return lane

    def _add(self, chat: ChatRef, kind: JobKind, message: Message | None,
             fut: asyncio.Future[Any], priority: Priority, *, message_id: str | None = None,
             filename: str = "", data: bytes = b"",
             hold: tuple[ChatRef, str] | None = None,
             progress: SendProgress | None = None) -> Job | None:
        lane = self._lane(chat)
        if self._closing:
            fail_future(fut, OutboxStopped(
                f"the outbox is stopping; {kind.value} to {chat} not queued"))
            return None
        self._seq += 1
        job = Job(self._seq, Priority(priority), chat, kind, message, [fut],
                   message_id=message_id, filename=filename, data=data, progress=progress)
        if hold is None or not lane.hold(hold, job, self.clock.now()):
            lane.enqueue(job)
        self._drained.clear()
        return job

    # stats

    def queued(self, platform: str | None = None) -> int:
        """Return how many requests are accepted and not yet finished (waiting or in flight)."""
        lanes = self._lanes.values() if platform is None else [self._lanes[platform]]
        return sum(lane.pending() for lane in lanes)

    def _note_progress(self) -> None:
        if self.queued() == 0:
            self._drained.set()
        else:
            self._drained.clear()

    # lifecycle

    async def start(self) -> None:
        """Start one delivery loop per platform."""
        if self._started or self._closing:
            return
        self._started = True
        for lane in self._lanes.values():
            lane.task = asyncio.create_task(lane.run(), name=f"outbox-{lane.platform}")

    async def stop(self, drain_seconds: float = 5.0) -> None:
        """Stop accepting, deliver what is queued for up to `drain_seconds`, fail the rest."""
        if self._stopped is not None:
            await self._stopped.wait()
            return
        self._stopped = asyncio.Event()
        self._closing = True
        for lane in self._lanes.values():
            lane.wake.set()  # held edits go now
        try:
            if self._started and self.queued() and drain_seconds > 0:
                await self._wait_drained(drain_seconds)
            left = self.queued()
            if left:
                log.warning("outbox stopping with %d requests undelivered", left)
            tasks: list[asyncio.Task[None]] = []
            for lane in self._lanes.values():
                lane.halted = True
                tasks.extend(t for t in (lane.task, lane.timer) if t is not None)
                tasks.extend(lane.deliveries)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for lane in self._lanes.values():
                lane.abandon_all()
        finally:
            self._stopped.set()

    async def _wait_drained(self, seconds: float) -> None:
        drained = asyncio.create_task(self._drained.wait())
        timeout = asyncio.create_task(self.clock.sleep(seconds))
        try:
            await asyncio.wait({drained, timeout}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (drained, timeout):
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(drained, timeout, return_exceptions=True)
