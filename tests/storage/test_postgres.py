"""PostgreSQL specifics: migrations once under the advisory lock, claims that skip what another
worker holds, group commit, a lost connection ridden out, wakeups, and start-up failures."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from bot.actions import ActionKind
from storage import StoreUnavailable, UnsupportedDatabase, open_store
from tests.postgres import ADMIN_URL, database_url, empty_database
from tests.reads import count_records, pending_actions
from tests.storage.test_contract import T0, action, party, record

ROOT = Path(__file__).resolve().parents[2]
VERSIONS = ["V1__initial", "V4__workers", "V5__party_life", "V6__seek_and_follow",
            "V7__party_threads"]


@pytest.fixture
async def url() -> str:
    """The test run's PostgreSQL database, emptied."""
    return await empty_database()


@pytest.fixture
async def fresh_url() -> AsyncIterator[str]:
    """A database of this test's own with nothing in it, not even the schema."""
    import asyncpg

    base = await database_url()
    name = f"{base.rsplit('/', 1)[1]}_fresh"
    admin = await asyncpg.connect(ADMIN_URL)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield f"{base.rsplit('/', 1)[0]}/{name}"
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def test_workers_starting_together_migrate_once(fresh_url: str) -> None:
    import asyncpg

    from storage.postgres.store import PostgresStore

    # Five workers start at once on an empty database: one migrates, the others wait on
    # the advisory lock and find nothing left to do; all of them then work.
    stores = await asyncio.gather(*(PostgresStore.open(fresh_url) for _ in range(5)))
    try:
        created = await stores[3].create_party(party())
        assert await stores[0].get_party(created.id) == created
        assert await stores[1].migrate() == []
        conn = await asyncpg.connect(fresh_url)
        try:
            rows = await conn.fetch("SELECT version, name FROM schema_version ORDER BY version")
        finally:
            await conn.close()
        assert [(r[0], r[1]) for r in rows] == [(1, "V1__initial"), (4, "V4__workers"),
                                                (5, "V5__party_life"), (6, "V6__seek_and_follow"),
                                                (7, "V7__party_threads")]
    finally:
        for store in stores:
            await store.close()


async def test_a_schema_from_the_future_is_refused(url: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await conn.execute("INSERT INTO schema_version VALUES (999, 'V999__future', now())")
        with pytest.raises(StoreUnavailable, match="V999"):
            await open_store(url)
    finally:
        await conn.execute("DELETE FROM schema_version WHERE version = 999")
        await conn.close()


async def test_a_claim_skips_what_another_worker_has_locked(url: str) -> None:
    import asyncpg

    store = await open_store(url)
    other = await asyncpg.connect(url)
    try:
        stored = await store.add_actions([action(T0 + timedelta(seconds=i), n=i)
                                          for i in range(3)])
        # Another worker is in the middle of claiming the first one: its row is locked.
        transaction = other.transaction()
        await transaction.start()
        await other.execute("SELECT 1 FROM actions WHERE id = $1 FOR UPDATE", stored[0].id)
        now = T0 + timedelta(minutes=1)
        claimed = await asyncio.wait_for(
            store.claim_due(now, "w", now + timedelta(minutes=1), 10), 30)
        assert [a.id for a in claimed] == [stored[1].id, stored[2].id]
        await transaction.rollback()
        [last] = await store.claim_due(now, "w", now + timedelta(minutes=1), 10)
        assert last.id == stored[0].id and last.fence == 1
    finally:
        await other.close()
        await store.close()


async def test_group_commit_acknowledges_only_stored_records(url: str) -> None:
    from storage.postgres.store import PostgresStore

    store = await PostgresStore.open(url)
    created = await store.create_party(party())
    commits = store._writer.commit_count
    acked = await asyncio.gather(*(store.add_record(record(created.id, user=str(i)))
                                   for i in range(1000)))
    transactions = store._writer.commit_count - commits
    await store.close()
    assert len({r.id for r in acked}) == 1000
    assert 1 <= transactions < 1000
    again = await open_store(url)
    try:
        stored = [r async for r in again.iter_records(created.id)]
        assert {r.id for r in stored} == {r.id for r in acked}
        assert {r.user_id for r in stored} == {str(i) for i in range(1000)}
    finally:
        await again.close()


async def _terminate_others(url: str) -> int:
    """Kill every other connection to the test database, as a server restart would."""
    import asyncpg

    admin = await asyncpg.connect(ADMIN_URL)
    try:
        name = url.rsplit("/", 1)[1]
        return int(await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = $1 AND pid <> pg_backend_pid()", name))
    finally:
        await admin.close()


async def test_a_lost_connection_is_retried_and_nothing_acknowledged_is_lost(url: str) -> None:
    store = await open_store(url)
    try:
        created = await store.create_party(party())
        before = await asyncio.gather(*(store.add_record(record(created.id, user=f"a{i}"))
                                        for i in range(200)))
        assert await _terminate_others(url) >= 1
        # Every pooled connection is dead now: the next calls reconnect and go on.
        after = await asyncio.gather(*(store.add_record(record(created.id, user=f"b{i}"))
                                       for i in range(200)))
        [added] = await store.add_actions([action(T0, party_id=created.id)])
        async with store.party(created.id) as tx:
            assert tx.party is not None
            tx.party.title = "After the restart"
            await tx.save()
        await _terminate_others(url)
        loaded = await store.get_party(created.id)
        assert loaded is not None and loaded.title == "After the restart"
        assert await count_records(store, created.id) == 400
        stored = {r.id async for r in store.iter_records(created.id)}
        assert stored == {r.id for r in before + after}
        assert added.id in {a.id for a in await store.claim_due(T0, "w", T0, 10)}
    finally:
        await store.close()


async def test_another_workers_new_actions_wake_this_one(url: str) -> None:
    from storage.postgres.store import PostgresStore
    from storage.postgres.wakeups import Wakeups

    mine, theirs = await PostgresStore.open(url), await PostgresStore.open(url)
    # Polling an hour apart: only the NOTIFY can wake this one within the test.
    wakeups = Wakeups(url, poll_seconds=3600)
    woken = asyncio.Event()
    wakeups.add(woken.set)
    try:
        await asyncio.wait_for(wakeups.connected.wait(), 30)
        woken.clear()  # the catch-up wake that follows every (re)connect
        created = await theirs.create_party(party())
        async with theirs.party(created.id) as tx:
            await tx.add_actions([action(T0, party_id=created.id, kind=ActionKind.GO)])
        await asyncio.wait_for(woken.wait(), 30)
        # Its LISTEN connection lost, it reconnects, and wakes once more to catch up.
        woken.clear()
        await _terminate_others(url)
        await asyncio.wait_for(woken.wait(), 30)
        await asyncio.wait_for(wakeups.connected.wait(), 30)
        woken.clear()
        await theirs.add_actions([action(T0, party_id=None, kind=ActionKind.RETENTION)])
        await asyncio.wait_for(woken.wait(), 30)
    finally:
        await wakeups.close()
        await mine.close()
        await theirs.close()


async def test_an_unreachable_server_is_one_line_with_host_and_port() -> None:
    with pytest.raises(StoreUnavailable) as caught:
        await open_store("postgresql://bot:s3cret-pw@127.0.0.1:9/watchparty")
    message = str(caught.value)
    assert "127.0.0.1:9" in message and "s3cret-pw" not in message and "\n" not in message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def _cli(*args: str, env: dict[str, str], prelude: str = "") -> subprocess.CompletedProcess[str]:
    code = f"{prelude}import sys; from bot.cli import main; sys.exit(main({list(args)!r}))"
    base = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), **env}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=base, cwd=ROOT, timeout=60, check=False)


def test_start_up_failure_exits_with_one_line_and_no_password() -> None:
    result = _cli("migrate", env={"DATABASE_URL": "postgresql://bot:s3cret-pw@127.0.0.1:9/wp"})
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "127.0.0.1:9" in result.stderr and "s3cret-pw" not in result.stderr


def test_without_asyncpg_a_postgresql_url_says_what_to_install() -> None:
    # As on an install without the [postgres] extra: importing asyncpg fails.
    result = _cli("migrate", env={"DATABASE_URL": "postgresql://bot:pw@127.0.0.1/wp"},
                  prelude="import sys; sys.modules['asyncpg'] = None; ")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "watchparty: DATABASE_URL: a postgresql:// DATABASE_URL needs asyncpg, which is not "
        "installed: pip install 'watchparty[postgres]'"]


async def test_open_store_without_asyncpg_raises_unsupported(monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    monkeypatch.setitem(sys.modules, "asyncpg", None)
    for name in [m for m in sys.modules if m.startswith("storage.postgres")]:
        monkeypatch.delitem(sys.modules, name)
    with pytest.raises(UnsupportedDatabase, match=r"watchparty\[postgres\]"):
        await open_store("postgresql://bot:pw@127.0.0.1/wp")


async def test_a_failed_batch_fails_every_record_in_it(url: str) -> None:
    import asyncpg

    from storage import StoreConflict

    store = await open_store(url)
    conn = await asyncpg.connect(url)
    try:
        created = await store.create_party(party())
        await conn.execute("ALTER TABLE records ADD CONSTRAINT no_boom CHECK (value <> 'boom')")
        for event in (None, "e"):  # the COPY path and the INSERT path of a batch
            results = await asyncio.gather(
                *(store.add_record(record(created.id, value="ok")) for _ in range(20)),
                store.add_record(replace(record(created.id, value="boom"), event=event)),
                return_exceptions=True)
            assert all(isinstance(r, StoreConflict) for r in results)
        assert await count_records(store, created.id) == 0
        await conn.execute("ALTER TABLE records DROP CONSTRAINT no_boom")
        assert (await store.add_record(record(created.id))).id is not None
    finally:
        await conn.close()
        await store.close()


async def test_close_commits_queued_records(url: str) -> None:
    from storage.postgres.store import PostgresStore

    store = await PostgresStore.open(url, batch_delay=0.05)
    created = await store.create_party(party())
    tasks = [asyncio.create_task(store.add_record(record(created.id))) for _ in range(300)]
    await asyncio.sleep(0)
    await store.close()
    assert len({(await task).id for task in tasks}) == 300
    again = await open_store(url)
    try:
        assert await count_records(again, created.id) == 300
    finally:
        await again.close()


async def test_three_workers_fire_every_action_once(url: str) -> None:
    from bot.actions import Action, ActionStatus
    from bot.clock import SystemClock
    from bot.scheduler import Scheduler
    from storage.postgres.store import PostgresStore

    clock = SystemClock()
    fired: list[tuple[int, str]] = []
    done = asyncio.Event()
    total = 300

    def firing(owner: str) -> Callable[[Action, datetime], Awaitable[ActionStatus]]:
        async def fire(action: Action, now: datetime) -> ActionStatus:
            assert action.id is not None
            fired.append((action.id, owner))
            if len(fired) >= total:
                done.set()
            return ActionStatus.DONE
        return fire

    stores = [await PostgresStore.open(url) for _ in range(3)]
    schedulers = []
    for n, store in enumerate(stores):
        scheduler = Scheduler(store, clock, firing(f"worker-{n}"), owner=f"worker-{n}",
                              lease_seconds=5, lookahead=store.claim_ahead)
        store.on_actions_added(scheduler.wake)  # as bot.app wires it
        scheduler.start()
        schedulers.append(scheduler)
    try:
        # Added by a fourth process's worth of store: the three hear of them by NOTIFY.
        start = clock.now() + timedelta(milliseconds=300)
        added = await stores[0].add_actions([
            action(start + timedelta(milliseconds=3 * i), party_id=i % 7 + 1)
            for i in range(total)])
        await asyncio.wait_for(done.wait(), 120)  # a hang guard, not a timing check
    finally:
        for scheduler in schedulers:
            await scheduler.stop()
        for store in stores:
            await store.close()
    assert sorted(action_id for action_id, _ in fired) == sorted(a.id or 0 for a in added)
    check = await open_store(url)
    try:
        for party_id in range(1, 8):
            assert await pending_actions(check, party_id) == []
    finally:
        await check.close()


async def test_units_of_work_that_read_through_the_store_never_starve_the_pool(
        url: str) -> None:
    store = await open_store(url)
    try:
        created = [await store.create_party(party(f"P{i:05d}")) for i in range(40)]

        async def fire(party_id: int) -> None:
            async with store.party(party_id) as tx:
                assert tx.party is not None
                # A read on another pooled connection while this one holds the party, as the
                # core's firing handlers do.
                settings = await store.get_chat_settings(tx.party.home)
                tx.party.title = f"read {settings.retention_days}"
                await tx.save()

        await asyncio.wait_for(asyncio.gather(*(fire(p.id) for p in created)), 120)
        titles = {(await store.get_party(p.id)).title for p in created}  # type: ignore[union-attr]
        assert len(titles) == 1 and titles.pop().startswith("read ")
    finally:
        await store.close()
