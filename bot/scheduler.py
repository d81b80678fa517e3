"""The one durable timer: every scheduled thing is a stored action, fired once under a lease."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from bot.actions import HELD_KINDS, Action, ActionStatus, Outcome
from bot.ports import Clock, Store
from bot.settings import default_worker_id

log = logging.getLogger(__name__)

LOOKAHEAD = timedelta(seconds=0.05)
# Leases of actions still being fired are extended this often, in parts of the lease: two
# renewals can fail (a slow store) before another worker may take the action over.
RENEW_EVERY = 1 / 3

Fire = Callable[[Action, datetime], Awaitable[ActionStatus]]


class Scheduler:
    """Sleeps until the next due action, claims what is due with a lease, and fires it.

    One task for the whole bot; `wake()` makes it look again when an earlier action is added.
    Handlers run as tasks so a slow delivery never delays another action; a second task
    renews the leases of actions still being fired; results are written back in batches,
    each under the lease and fence it was fired with.
    """

    def __init__(self, store: Store, clock: Clock, fire: Fire, *, owner: str | None = None,
                 lease_seconds: float = 30.0, batch: int = 1000,
                 max_concurrent: int = 256, lookahead: timedelta = LOOKAHEAD) -> None:
        self._store = store
        self._clock = clock
        self._fire = fire
        self.owner = owner or default_worker_id()
        self._lease = timedelta(seconds=lease_seconds)
        # How far ahead of due time to claim: longer than a claim can take, so the local timer
        # is already waiting when the instant comes (a shared database answers over a network).
        self._lookahead = lookahead
        self._batch = batch
        self._wake = asyncio.Event()
        self._stopping = False
        self._results: list[Outcome] = []
        self._inflight: set[asyncio.Task[None]] = set()
        self._held: dict[int, int] = {}  # action id -> fence, of actions being fired
        self._busy = asyncio.Event()
        self._renewer: asyncio.Task[None] | None = None
        self._slots = asyncio.Semaphore(max_concurrent)
        self._free = max_concurrent  # slots not taken: a claim takes no more than these
        self._task: asyncio.Task[None] | None = None
        self._long_sleep = True

    async def schedule(self, actions: list[Action]) -> list[Action]:
        """Store actions and wake the timer so an earlier one is not slept past."""
        stored = await self._store.add_actions(actions)
        self.wake()
        return stored

    def wake(self) -> None:
        """Make the timer look at the store again now."""
        self._wake.set()

    def start(self) -> None:
        """Start the timer task."""
        if self._task is None:
            self._stopping = False
            self._task = asyncio.create_task(self.run(), name="scheduler")
            self._renewer = asyncio.create_task(self._renew(), name="scheduler-leases")

    async def stop(self) -> None:
        """Stop claiming, let fired actions finish, and record their results."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None
        if self._renewer is not None:
            self._renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewer
            self._renewer = None

    async def run(self) -> None:
        """The timer loop."""
        try:
            while not self._stopping:
                await self._flush()
                now = self._clock.now()
                # Wait for a free slot before claiming, and claim no more than the free slots,
                # so a claimed action never waits for one while its lease runs: one that waited
                # out its lease (GOs held by a slow delivery) would be taken over and fired
                # again by another worker.
                await self._slots.acquire()
                self._slots.release()
                # Claim a little ahead and let each task sleep to its instant: waking the loop,
                # claiming and starting a task costs more than the lateness we aim for.
                horizon = now + self._lookahead
                limit = min(self._batch, self._free)
                claimed = await self._store.claim_due(horizon, self.owner, now + self._lease,
                                                      limit)
                for action in claimed:
                    assert action.id is not None
                    self._held[action.id] = action.fence
                    self._busy.set()
                    held = action.kind in HELD_KINDS
                    if not held:
                        await self._slots.acquire()
                        self._free -= 1
                    task = asyncio.create_task(self._run_one(action, slot=not held))
                    self._inflight.add(task)
                    task.add_done_callback(self._inflight.discard)
                if len(claimed) >= limit:
                    continue
                wakeup = await self._store.next_wakeup()
                if wakeup is None:
                    delay = None
                elif wakeup <= horizon:
                    # Due but not claimed: another process holds its lease. Look again soon.
                    delay = 0.05
                else:
                    delay = max(0.0, (wakeup - self._lookahead / 2
                                      - self._clock.now()).total_seconds())
                await self._sleep(delay)
        finally:
            if self._inflight:
                await asyncio.gather(*self._inflight, return_exceptions=True)
            await self._flush()

    async def _sleep(self, delay: float | None) -> None:
        self._wake.clear()
        long_sleep = delay is None or delay > self._lookahead.total_seconds()
        # stop() may have set the event while the loop was awaiting the store: clearing it
        # must not make the timer sleep past a stop. Results are flushed before a long sleep.
        if (self._results and long_sleep) or self._stopping:
            return
        self._long_sleep = long_sleep
        waiter = asyncio.create_task(self._wake.wait())
        tasks: set[asyncio.Task[None] | asyncio.Task[bool]] = {waiter}
        if delay is not None:
            tasks.add(asyncio.create_task(self._clock.sleep(delay)))
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._long_sleep = True
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _run_one(self, action: Action, slot: bool = True) -> None:
        assert action.id is not None
        try:
            early = (action.due_at - self._clock.now()).total_seconds()
            if early > 0:
                await self._clock.sleep(early)
            status = await self._fire(action, self._clock.now())
        except Exception:
            log.exception("action %s (%s, party %s) failed; it is marked skipped",
                          action.id, action.kind.value, action.party_id)
            status = ActionStatus.SKIPPED
        finally:
            if slot:
                self._free += 1
                self._slots.release()
        self._results.append(Outcome(action.id, action.fence, status))
        # A loop in a long sleep is woken to write the result; a busy one writes it next turn.
        if self._long_sleep or len(self._results) >= self._batch:
            self._wake.set()

    async def _flush(self) -> None:
        if self._results:
            results, self._results = self._results, []
            written = await self._store.finish_actions(self.owner, results)
            for outcome in results:
                self._held.pop(outcome.action_id, None)
            if len(written) < len(results):
                lost = sorted({o.action_id for o in results} - {o.action_id for o in written})
                log.warning("actions %s were taken over by another worker after their lease "
                            "ran out; their outcome here is not written", lost)

    async def _renew(self) -> None:
        """Extend the leases of actions claimed and not yet finished, while there are any."""
        every = self._lease.total_seconds() * RENEW_EVERY
        while True:
            if not self._held:
                self._busy.clear()
                await self._busy.wait()
            await self._clock.sleep(every)
            held = list(self._held.items())
            if not held:
                continue
            try:
                renewed = await self._store.renew_leases(self.owner, held,
                                                         self._clock.now() + self._lease)
            except Exception:
                log.exception("renewing %d action leases failed; trying again", len(held))
                continue
            # Not renewed because finished meanwhile (its outcome queued or already written,
            # which drops it from _held) is not lost.
            lost = sorted(({action_id for action_id, _ in held} & self._held.keys())
                          - set(renewed) - {o.action_id for o in self._results})
            if lost:
                log.warning("lost the lease of actions %s to another worker", lost)
