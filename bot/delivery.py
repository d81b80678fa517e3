"""One platform's delivery loop: the queued jobs, their order, and the limits they wait for.

Within a chat, jobs leave in (priority, enqueue order) with at most one request in flight; across
chats the most urgent head that its chat's limits and the bot's limits allow goes next. A GO due
in a chat reserves that chat's budget; an edit of a message edited a moment ago is held and
merged with the next. The outbox (`bot.outbox`) owns one lane per platform.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import Enum, IntEnum
from typing import TYPE_CHECKING, Any

from bot.chats import ChatRef
from bot.ports import (
    ChatGateway,
    Clock,
    DeliveryFailed,
    ResumingGateway,
    RetryAfter,
    SendProgress,
    ThreadingGateway,
    ThreadRefused,
)
from bot.ratelimits import (
    DISCORD_LIMITS,
    TELEGRAM_LIMITS,
    UNLIMITED,
    Bucket,
    RateLimits,
    go_spare,
)
from bot.richtext import Message

if TYPE_CHECKING:
    from bot.outbox import Outbox

log = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)

# An edit of a message edited a moment ago waits until edits of it stop for EDIT_QUIET, and at
# most EDIT_EVERY after the previous one: a burst of presses becomes one or two edits.
EDIT_QUIET = timedelta(seconds=1)
EDIT_EVERY = timedelta(seconds=6)
# A GO reserved for a chat at T: nothing less urgent goes to that chat from T - GO_GUARD, and
# nothing that would leave no room in the chat's windows at T; the hold ends when the GO is
# sent, or GO_EXPIRY after T.
GO_GUARD = timedelta(seconds=2)
GO_EXPIRY = timedelta(seconds=10)


class Priority(IntEnum):
    """How urgent a message is; lower goes first."""

    GO = 0
    COUNTDOWN = 1
    PROMPT = 2
    NORMAL = 3
    REFRESH = 4  # edits that keep a counter current: after every reply and post of the chat


# The rate limits are re-exported: the outbox is where their importers have always found them.
__all__ = ["DISCORD_LIMITS", "EDIT_EVERY", "EDIT_QUIET", "GO_EXPIRY", "GO_GUARD",
           "TELEGRAM_LIMITS", "UNLIMITED", "Outbox", "OutboxStopped", "Priority", "RateLimits"]


class OutboxStopped(Exception):
    """The outbox stopped before this message was delivered."""


def _ms(at: datetime) -> int:
    return (at - _EPOCH) // _MS


def _at(ms: int) -> datetime:
    return _EPOCH + ms * _MS


def _earliest(a: datetime | None, b: datetime) -> datetime:
    return b if a is None or b < a else a


# --------------------------------------------------------------------------- jobs


class JobKind(Enum):
    SEND = "send"
    EDIT = "edit"
    FILE = "file"
    THREAD = "thread"  # open a party's thread off a message (`filename` holds its name)


@dataclass(eq=False)
class Job:
    """One queued request with the futures waiting on it (several when edits were coalesced)."""

    seq: int
    priority: Priority
    chat: ChatRef
    kind: JobKind
    message: Message | None
    futures: list[asyncio.Future[Any]]
    message_id: str | None = None
    filename: str = ""
    data: bytes = b""
    failures: int = 0
    hold_until: datetime | None = None
    progress: SendProgress | None = None  # a split send's pieces, kept across its retries

    def __lt__(self, other: Job) -> bool:
        return (self.priority, self.seq) < (other.priority, other.seq)

    def abandoned(self) -> bool:
        """Return True when every caller has cancelled its future."""
        return all(fut.done() for fut in self.futures)

    def resolve(self, result: Any) -> None:
        for fut in self.futures:
            if not fut.done():
                fut.set_result(result)

    def fail(self, exc: BaseException) -> None:
        for fut in self.futures:
            fail_future(fut, exc)


def fail_future(fut: asyncio.Future[Any], exc: BaseException) -> None:
    """Fail a caller's future; the outbox logs failures itself, so an unawaited one stays quiet."""
    if not fut.done():
        fut.set_exception(exc)
        fut.exception()  # marks it retrieved: no "exception was never retrieved" at exit


# --------------------------------------------------------------------------- one platform


@dataclass(eq=False)
class Lane:
    """The queues, limits and delivery loop of one platform."""

    outbox: Outbox
    platform: str
    gateway: ChatGateway
    limits: RateLimits
    bot: Bucket = field(init=False)
    resuming: ResumingGateway | None = field(init=False)
    windows: dict[ChatRef, Bucket] = field(default_factory=dict)
    queues: dict[ChatRef, list[Job]] = field(default_factory=dict)
    queued: int = 0
    in_flight: dict[ChatRef, Job] = field(default_factory=dict)
    chat_blocked: dict[ChatRef, datetime] = field(default_factory=dict)
    blocked_until: datetime | None = None
    edits: dict[tuple[ChatRef, str], Job] = field(default_factory=dict)
    held: dict[tuple[ChatRef, str], Job] = field(default_factory=dict)
    last_edit: dict[tuple[ChatRef, str], datetime] = field(default_factory=dict)
    reserved: dict[ChatRef, list[datetime]] = field(default_factory=dict)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    timer: asyncio.Task[None] | None = None
    timer_at: datetime | None = None
    deliveries: set[asyncio.Task[None]] = field(default_factory=set)
    passes: int = 0
    halted: bool = False

    def __post_init__(self) -> None:
        self.bot = self.outbox.buckets(f"{self.platform}:bot", self.limits.per_bot)
        self.resuming = self.gateway if isinstance(self.gateway, ResumingGateway) else None

    @property
    def clock(self) -> Clock:
        return self.outbox.clock

    def pending(self) -> int:
        return self.queued + len(self.in_flight) + len(self.held)

    def hold(self, key: tuple[ChatRef, str], job: Job, now: datetime) -> bool:
        """Hold a new edit of a message edited a moment ago; return False if it may go now."""
        last = self.last_edit.get(key)
        if last is None or now - last >= EDIT_EVERY or self.outbox._closing:
            return False
        job.hold_until = min(last + EDIT_EVERY, now + EDIT_QUIET)
        self.held[key] = job
        self.wake.set()
        return True

    def _release_held(self, now: datetime) -> datetime | None:
        """Queue the held edits whose time has come; return when the next one is due."""
        due: datetime | None = None
        for key, job in list(self.held.items()):
            assert job.hold_until is not None
            if job.abandoned():
                del self.held[key]
                if self.edits.get(key) is job:
                    del self.edits[key]
            elif job.hold_until <= now or self.outbox._closing:
                del self.held[key]
                self.enqueue(job)
            else:
                due = _earliest(due, job.hold_until)
        return due

    def _reserved_hold(self, chat: ChatRef, job: Job, now: datetime,
                       window: Bucket) -> datetime | None:
        """Return until when a job must wait for a GO reserved for its chat (None: it may go)."""
        times = self.reserved.get(chat)
        if not times or job.priority is Priority.GO:
            return None
        live = [t for t in times if now < t + GO_EXPIRY]
        if len(live) != len(times):
            if live:
                self.reserved[chat] = live
            else:
                del self.reserved[chat]
        now_ms = _ms(now)
        for at in live:
            if now >= at - GO_GUARD or not window.leaves_room_at(now_ms, _ms(at)):
                return at + GO_EXPIRY
        return None

    def enqueue(self, job: Job) -> None:
        heap = self.queues.setdefault(job.chat, [])
        heapq.heappush(heap, job)
        self.queued += 1
        self.wake.set()

    def _window(self, chat: ChatRef) -> Bucket:
        window = self.windows.get(chat)
        if window is None:
            window = self.windows[chat] = self.outbox.buckets(str(chat), self.limits.per_chat)
        return window

    def _head(self, chat: ChatRef) -> Job | None:
        """Return the chat's next job, dropping ones every caller has cancelled."""
        while heap := self.queues.get(chat):
            if not heap[0].abandoned():
                return heap[0]
            self._pop(chat)
        return None

    def _pop(self, chat: ChatRef) -> Job:
        heap = self.queues[chat]
        job = heapq.heappop(heap)
        self.queued -= 1
        if not heap:
            del self.queues[chat]
        if job.kind is JobKind.EDIT and job.message_id is not None:
            key = (chat, job.message_id)
            if self.edits.get(key) is job:
                del self.edits[key]
        return job

    # the loop

    async def run(self) -> None:
        """Start every request the limits allow, then sleep until woken or the next one is due."""
        while True:
            self.wake.clear()
            self.pump()
            await self.wake.wait()

    def pump(self) -> None:
        """Start what may go now and set the timer for the next chance."""
        if self.halted:
            return
        try:
            due = self._start_ready()
        except Exception:
            log.exception("%s outbox loop failed; retrying in 1s", self.platform)
            due = self.clock.now() + timedelta(seconds=1)
        self._arm_timer(due)
        self.outbox._note_progress()

    def _arm_timer(self, due: datetime | None) -> None:
        if self.timer is not None and not self.timer.done():
            if due == self.timer_at:
                return
            self.timer.cancel()
        self.timer, self.timer_at = None, due
        if due is not None:
            self.timer = asyncio.create_task(self._ring_at(due))

    async def _ring_at(self, due: datetime) -> None:
        await self.clock.sleep((due - self.clock.now()).total_seconds())
        self.wake.set()

    def _start_ready(self) -> datetime | None:
        """Start what may go now in priority order; return when to look again (None: on work)."""
        now = self.clock.now()
        now_ms = _ms(now)
        if self.blocked_until is not None:
            if now < self.blocked_until:
                return self.blocked_until
            self.blocked_until = None
        held_due = self._release_held(now) if self.held else None
        if not self.queued:
            return held_due
        bot_wait = self.bot.delay_ms(now_ms)
        if bot_wait:
            # Nothing can go before the bot bucket has room; whatever is most urgent then goes.
            return _at(now_ms + bot_wait)
        heads: list[tuple[Priority, int, ChatRef]] = []
        for chat in list(self.queues):
            if chat in self.in_flight:
                continue
            job = self._head(chat)
            if job is not None:
                heads.append((job.priority, job.seq, chat))
        heads.sort()
        due: datetime | None = held_due
        for _, _, chat in heads:
            until = self.chat_blocked.get(chat)
            if until is not None:
                if now < until:
                    due = _earliest(due, until)
                    continue
                del self.chat_blocked[chat]
            window = self._window(chat)
            wait = window.delay_ms(now_ms)
            if wait:
                due = _earliest(due, _at(now_ms + wait))
                continue
            head = self.queues[chat][0]
            held = self._reserved_hold(chat, head, now, window) if self.reserved else None
            if held is not None:
                due = _earliest(due, held)
                continue
            if bot_wait:
                # The most urgent sendable message waits only for the bot bucket: nothing less
                # urgent may take the bot's next token from it.
                due = _earliest(due, _at(now_ms + bot_wait))
                break
            if not (window.take(now_ms) and self.bot.take(now_ms)):  # pragma: no cover
                due = _earliest(due, _at(now_ms + 1))
                continue
            self._launch(self._pop(chat))
            bot_wait = self.bot.delay_ms(now_ms)
        self.passes += 1
        if self.passes % 256 == 0:
            self._prune(now_ms)
        return due

    def _launch(self, job: Job) -> None:
        self.in_flight[job.chat] = job
        now = self.clock.now()
        if job.kind is JobKind.EDIT and job.message_id is not None:
            self.last_edit[(job.chat, job.message_id)] = now
        if job.priority is Priority.GO and job.chat in self.reserved:
            # The GO that was due takes its reservation; a later one stays reserved.
            left = [t for t in self.reserved[job.chat] if t > now + GO_GUARD]
            if left:
                self.reserved[job.chat] = left
            else:
                del self.reserved[job.chat]
        task = asyncio.create_task(self._deliver(job))
        self.deliveries.add(task)
        task.add_done_callback(self.deliveries.discard)

    def _prune(self, now_ms: int) -> None:
        """Forget the windows of chats that are quiet and whose past sends no longer count."""
        old = _at(now_ms) - EDIT_EVERY
        for key in [k for k, at in self.last_edit.items() if at <= old]:
            del self.last_edit[key]
        for chat in [c for c, w in self.windows.items()
                     if c not in self.queues and c not in self.in_flight and w.idle(now_ms)]:
            del self.windows[chat]

    async def _call(self, job: Job) -> Any:
        chat = job.chat
        if job.kind is JobKind.SEND:
            assert job.message is not None
            if self.resuming is not None:
                if job.progress is None:
                    job.progress = SendProgress()
                return await self.resuming.send_resuming(chat, job.message, job.progress)
            return await self.gateway.send(chat, job.message)
        if job.kind is JobKind.EDIT:
            assert job.message is not None and job.message_id is not None
            await self.gateway.edit(chat, job.message_id, job.message)
            return None
        if job.kind is JobKind.THREAD:
            assert job.message_id is not None
            if not isinstance(self.gateway, ThreadingGateway):
                raise ThreadRefused("unsupported", f"{self.platform} has no threads")
            return await self.gateway.open_thread(chat, job.message_id, job.filename)
        return await self.gateway.send_file(chat, job.filename, job.data, job.message)

    async def _shared_turn(self, job: Job) -> bool:
        """Count the job against the budgets all workers share; False (and held back for the
        wait) when another worker's requests left no room yet.

        A GO may use the bot's whole window; everything else leaves it a little room. A database
        that does not answer does not stop delivery: the local windows and the platform's 429s
        still hold it back.
        """
        shared = self.outbox.shared
        if shared is None:
            return True
        spare = 0 if job.priority is Priority.GO else go_spare(self.limits.per_bot)
        scopes = [(name, rates, extra) for name, rates, extra in (
            (str(job.chat), self.limits.per_chat, 0),
            (f"{self.platform}:bot", self.limits.per_bot, spare)) if rates]
        if not scopes:
            return True
        try:
            wait, full = await shared.take_send(scopes, _ms(self.clock.now()))
        except Exception as exc:
            log.warning("could not count a %s send against the shared budget (%s); sending "
                        "on the local limits", self.platform, type(exc).__name__)
            return True
        if not wait:
            return True
        until = self.clock.now() + timedelta(milliseconds=wait)
        if full == str(job.chat) or job.priority is not Priority.GO:
            # A bot window full for this job may still have room for a GO: only its chat waits.
            self.chat_blocked[job.chat] = max(until, self.chat_blocked.get(job.chat, until))
        else:
            self.blocked_until = max(until, self.blocked_until or until)
        self.outbox.budget_waits += 1
        self._requeue(job)
        return False

    async def _deliver(self, job: Job) -> None:
        chat = job.chat
        outbox = self.outbox
        try:
            if not await self._shared_turn(job):
                return
            if log.isEnabledFor(logging.DEBUG):
                text = job.message.plain() if job.message else job.filename
                log.debug("%s to %s: %r", job.kind.value, chat, text)
            result = await self._call(job)
        except asyncio.CancelledError:
            job.fail(OutboxStopped(f"the outbox stopped before this {job.kind.value} to {chat}"))
            raise
        except RetryAfter as exc:
            until = self.clock.now() + timedelta(seconds=max(0.0, exc.seconds))
            if exc.chat_wide:
                self.chat_blocked[chat] = max(until, self.chat_blocked.get(chat, until))
            else:
                self.blocked_until = max(until, self.blocked_until or until)
            log.info("%s asked to wait %.3fs (%s)", chat, exc.seconds,
                     "this chat" if exc.chat_wide else f"all of {self.platform}")
            outbox.retry_count += 1
            self._requeue(job)
        except DeliveryFailed as exc:
            # A chat that allows no thread is the caller's to report (it tells the chat).
            log.log(logging.DEBUG if isinstance(exc, ThreadRefused) else logging.INFO,
                    "%s to %s failed for good: %s", job.kind.value, chat, exc)
            outbox.failed_count += 1
            job.fail(exc)
        except Exception as exc:
            job.failures += 1
            if job.failures >= outbox.max_attempts:
                log.warning("%s to %s failed %d times; giving up", job.kind.value, chat,
                            job.failures, exc_info=exc)
                outbox.failed_count += 1
                job.fail(exc)
            else:
                pause = min(outbox.max_backoff, outbox.backoff * 2 ** (job.failures - 1))
                log.warning("%s to %s failed (attempt %d of %d); retrying in %.1fs",
                            job.kind.value, chat, job.failures, outbox.max_attempts, pause,
                            exc_info=exc)
                until = self.clock.now() + timedelta(seconds=pause)
                self.chat_blocked[chat] = max(until, self.chat_blocked.get(chat, until))
                outbox.retry_count += 1
                self._requeue(job)
        else:
            outbox.sent_count += 1
            job.resolve(result)
        finally:
            if self.in_flight.get(chat) is job:
                del self.in_flight[chat]
            # Start the chat's next message from here rather than through the loop, so a
            # chat's queue drains one request after another without an extra hop each.
            self.pump()

    def _requeue(self, job: Job) -> None:
        """Put a job back where it was: its (priority, seq) keeps it ahead of later messages."""
        self.enqueue(job)

    def abandon_all(self) -> None:
        """Fail every job still queued or in flight (the outbox is stopping)."""
        for chat in list(self.queues):
            while chat in self.queues:
                job = self._pop(chat)
                job.fail(OutboxStopped(f"the outbox stopped before this {job.kind.value} "
                                       f"to {chat} was sent"))
        for job in list(self.in_flight.values()):
            job.fail(OutboxStopped(f"the outbox stopped during this {job.kind.value} "
                                   f"to {job.chat}"))
        for job in self.held.values():
            job.fail(OutboxStopped(f"the outbox stopped before this edit to {job.chat} was sent"))
        self.held.clear()
