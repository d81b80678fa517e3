"""The durable timer on a fake clock: early wake-ups, leases, and restarts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.actions import Action, ActionKind, ActionStatus
from bot.clock import ManualClock
from bot.scheduler import Fire, Scheduler
from storage.memory import MemoryStore
from tests.reads import pending_actions

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


class Firing:
    """Records which action fired when."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.fired: list[tuple[int | None, datetime]] = []

    async def __call__(self, action: Action, now: datetime) -> ActionStatus:
        self.fired.append((action.payload.get("n"), now))
        return ActionStatus.DONE


async def test_fires_at_due_time_and_wakes_for_an_earlier_action() -> None:
    clock = ManualClock(T0)
    store = MemoryStore()
    firing = Firing(clock)
    scheduler = Scheduler(store, clock, firing)
    scheduler.start()
    await scheduler.schedule([Action(1, ActionKind.PROMPT, T0 + timedelta(hours=1), {"n": 1})])
    await clock.advance(60)
    # Added while the timer sleeps towards the one-hour action: it must wake for this one.
    await scheduler.schedule([Action(1, ActionKind.PROMPT, T0 + timedelta(minutes=2),
                                     {"n": 2})])
    await clock.advance(3600)
    await scheduler.stop()
    assert firing.fired == [(2, T0 + timedelta(minutes=2)), (1, T0 + timedelta(hours=1))]
    assert await pending_actions(store, 1) == []


async def test_a_leased_action_fires_once_across_two_schedulers() -> None:
    clock = ManualClock(T0)
    store = MemoryStore()
    first, second = Firing(clock), Firing(clock)
    a = Scheduler(store, clock, first, owner="a")
    b = Scheduler(store, clock, second, owner="b")
    await a.schedule([Action(1, ActionKind.PROMPT, T0 + timedelta(seconds=s), {"n": s})
                      for s in range(1, 201)])
    a.start()
    b.start()
    await clock.advance(300)
    await a.stop()
    await b.stop()
    fired = sorted(n for n, _ in first.fired + second.fired if n is not None)
    assert fired == list(range(1, 201))


async def test_an_action_claimed_by_a_dead_process_fires_after_its_lease() -> None:
    clock = ManualClock(T0)
    store = MemoryStore()
    await store.add_actions([Action(1, ActionKind.PROMPT, T0, {"n": 1})])
    # A process claimed it and died before finishing it.
    assert len(await store.claim_due(T0, "dead", T0 + timedelta(seconds=30), 10)) == 1
    firing = Firing(clock)
    scheduler = Scheduler(store, clock, firing, owner="alive")
    scheduler.start()
    await clock.advance(29)
    assert firing.fired == []
    await clock.advance(2)
    await scheduler.stop()
    assert [n for n, _ in firing.fired] == [1]


async def test_a_failing_handler_is_logged_and_does_not_stop_the_timer(caplog) -> None:  # type: ignore[no-untyped-def]
    clock = ManualClock(T0)
    store = MemoryStore()
    seen: list[int] = []

    async def fire(action: Action, now: datetime) -> ActionStatus:
        seen.append(action.payload["n"])
        if action.payload["n"] == 1:
            raise RuntimeError("boom")
        return ActionStatus.DONE

    scheduler = Scheduler(store, clock, fire)
    await scheduler.schedule([Action(1, ActionKind.PROMPT, T0 + timedelta(seconds=n), {"n": n})
                              for n in (1, 2)])
    scheduler.start()
    await clock.advance(5)
    await scheduler.stop()
    assert seen == [1, 2]
    assert "failed; it is marked skipped" in caplog.text
    assert await pending_actions(store, 1) == []


def slow_and_quick(clock: ManualClock, fired: list[tuple[str, int]]) -> tuple[Fire, Fire]:
    """Two workers' handlers: "a" holds each action for 100 s (more than three leases of 30 s),
    "b" fires at once; both note (worker, n) in `fired`."""

    async def slow(action: Action, now: datetime) -> ActionStatus:
        fired.append(("a", action.payload["n"]))
        await clock.sleep(100)
        return ActionStatus.DONE

    async def quick(action: Action, now: datetime) -> ActionStatus:
        fired.append(("b", action.payload["n"]))
        return ActionStatus.DONE

    return slow, quick


async def test_a_slow_fire_keeps_its_lease_and_fires_once() -> None:
    clock = ManualClock(T0)
    store = MemoryStore()
    fired: list[tuple[str, int]] = []
    slow, other = slow_and_quick(clock, fired)
    a = Scheduler(store, clock, slow, owner="a", lease_seconds=30)
    b = Scheduler(store, clock, other, owner="b", lease_seconds=30)
    await a.schedule([Action(1, ActionKind.PROMPT, T0 + timedelta(seconds=1), {"n": 1})])
    a.start()
    await clock.advance(2)
    assert fired == [("a", 1)]
    b.start()
    await clock.advance(60)
    [held] = await pending_actions(store, 1)
    assert held.acquired_by == "a"
    assert held.acquired_until is not None and held.acquired_until > clock.now()
    await clock.advance(140)
    await a.stop()
    await b.stop()
    assert fired == [("a", 1)]
    assert await pending_actions(store, 1) == []


async def test_actions_beyond_the_free_slots_are_left_to_other_workers_not_fired_twice() -> None:
    # Five GOs due at once on a worker with two slots, each fire held far beyond the lease
    # (its post waiting for the per-bot budget): a claim of all five would leave three waiting
    # for a slot with their leases running out, and the other worker would fire them again.
    clock = ManualClock(T0)
    store = MemoryStore()
    fired: list[tuple[str, int]] = []
    slow, other = slow_and_quick(clock, fired)
    a = Scheduler(store, clock, slow, owner="a", lease_seconds=30, max_concurrent=2)
    b = Scheduler(store, clock, other, owner="b", lease_seconds=30)
    await a.schedule([Action(1, ActionKind.GO, T0 + timedelta(seconds=1), {"n": n})
                      for n in range(1, 6)])
    a.start()
    await clock.advance(0.5)
    b.start()
    await clock.advance(600)  # every fire, even one that waited for a slot, has finished
    await a.stop()
    await b.stop()
    assert sorted(n for _, n in fired) == [1, 2, 3, 4, 5], fired
    assert await pending_actions(store, 1) == []
