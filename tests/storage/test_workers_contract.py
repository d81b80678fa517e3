"""The store contract for many workers on one database: leases, inbound updates, send budgets.

Every backend in conftest.BACKENDS must pass it; `backend.open()` twice is two workers' stores
on one database.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.ports import UpdateClaim
from tests.storage.backends import Backend

T0 = datetime(2025, 3, 7, 19, 0, 0, tzinfo=UTC)
S = timedelta(seconds=1)
POLLER = "telegram-poller:123"


async def test_a_lease_has_one_holder_until_it_runs_out(backend: Backend) -> None:
    one, two = await backend.open(), await backend.open()
    assert await one.hold_lease(POLLER, "w1", T0, T0 + 15 * S)
    assert not await two.hold_lease(POLLER, "w2", T0 + 5 * S, T0 + 20 * S)
    assert await one.hold_lease(POLLER, "w1", T0 + 10 * S, T0 + 25 * S), "renewed by its holder"
    assert not await two.hold_lease(POLLER, "w2", T0 + 24 * S, T0 + 39 * S)
    assert await two.hold_lease(POLLER, "w2", T0 + 25 * S, T0 + 40 * S), "ran out: taken over"
    assert not await one.hold_lease(POLLER, "w1", T0 + 26 * S, T0 + 41 * S), "w1 lost it"
    assert await one.hold_lease("other-lease", "w1", T0 + 26 * S, T0 + 41 * S)


async def test_a_released_lease_is_taken_at_once(backend: Backend) -> None:
    one, two = await backend.open(), await backend.open()
    assert await one.hold_lease(POLLER, "w1", T0, T0 + 15 * S)
    await two.release_lease(POLLER, "w2")  # not w2's: nothing happens
    assert not await two.hold_lease(POLLER, "w2", T0 + S, T0 + 16 * S)
    await one.release_lease(POLLER, "w1")
    assert await two.hold_lease(POLLER, "w2", T0 + S, T0 + 16 * S)


async def test_an_update_is_handled_once_across_workers(backend: Backend) -> None:
    one, two = await backend.open(), await backend.open()
    source = "telegram:123"
    assert await one.claim_update(source, 7, "w1", T0, T0 + 30 * S) is UpdateClaim.CLAIMED
    assert await two.claim_update(source, 7, "w2", T0 + S, T0 + 31 * S) is UpdateClaim.BUSY
    assert await one.claim_update(source, 7, "w1", T0 + S, T0 + 31 * S) is UpdateClaim.CLAIMED
    assert await two.claim_update("telegram:999", 7, "w2", T0, T0 + S) is UpdateClaim.CLAIMED
    await one.finish_update(source, 7, T0 + 2 * S)
    assert await two.claim_update(source, 7, "w2", T0 + 3 * S, T0 + 33 * S) is UpdateClaim.DONE
    assert await one.claim_update(source, 7, "w1", T0 + 3 * S, T0 + 33 * S) is UpdateClaim.DONE


async def test_an_update_whose_worker_died_is_claimed_again(backend: Backend) -> None:
    one, two = await backend.open(), await backend.open()
    source = "telegram:123"
    assert await one.claim_update(source, 8, "w1", T0, T0 + 30 * S) is UpdateClaim.CLAIMED
    assert await two.claim_update(source, 8, "w2", T0 + 30 * S,
                                  T0 + 60 * S) is UpdateClaim.CLAIMED
    await two.finish_update(source, 8, T0 + 31 * S)
    assert await one.claim_update(source, 8, "w1", T0 + 32 * S, T0 + 62 * S) is UpdateClaim.DONE


async def test_old_finished_updates_are_forgotten(backend: Backend) -> None:
    store = await backend.open()
    source = "telegram:123"
    for update_id in (1, 2, 3):
        await store.claim_update(source, update_id, "w1", T0, T0 + 30 * S)
    await store.finish_update(source, 1, T0)
    await store.finish_update(source, 2, T0 + 10 * S)
    assert await store.prune_updates(T0 + 5 * S) == 1
    assert await store.claim_update(source, 1, "w1", T0 + 6 * S,
                                    T0 + 9 * S) is UpdateClaim.CLAIMED
    assert await store.claim_update(source, 2, "w2", T0 + 6 * S, T0 + 9 * S) is UpdateClaim.DONE
    assert await store.claim_update(source, 3, "w2", T0 + 6 * S, T0 + 9 * S) is UpdateClaim.BUSY


async def test_send_budgets_count_every_worker(backend: Backend) -> None:
    one, two = await backend.open(), await backend.open()
    bot = ("telegram:bot", ((3, 1.0),), 0)
    chat = ("telegram:-100", ((1, 1.0), (2, 60.0)), 0)
    now = 1_000_000
    assert await one.take_send([chat, bot], now) == (0, None)
    assert await two.take_send([chat, bot], now + 10) == (990, "telegram:-100")
    other = ("telegram:-200", ((1, 1.0),), 0)
    assert await two.take_send([other, bot], now + 10) == (0, None)
    assert await one.take_send([bot], now + 20) == (0, None)
    assert await two.take_send([bot], now + 30) == (970, "telegram:bot"), "three in its second"
    # A refused request counts nowhere: the chat's second message fits once its second passed.
    assert await two.take_send([chat, bot], now + 1000) == (0, None)
    assert await one.take_send([chat, bot], now + 2000) == (58_000, "telegram:-100")


async def test_a_send_budget_keeps_spare_room(backend: Backend) -> None:
    store = await backend.open()
    plain = ("discord:bot", ((3, 1.0),), 1)
    urgent = ("discord:bot", ((3, 1.0),), 0)
    now = 5_000
    assert await store.take_send([plain], now) == (0, None)
    assert await store.take_send([plain], now + 1) == (0, None)
    assert await store.take_send([plain], now + 2) == (998, "discord:bot")
    assert await store.take_send([urgent], now + 2) == (0, None), "a GO takes the spare room"
    assert await store.take_send([urgent], now + 3) == (997, "discord:bot")


async def test_the_database_answers_a_ping(backend: Backend) -> None:
    store = await backend.open()
    await store.ping()
