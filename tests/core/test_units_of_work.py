"""Two cores on two connections to one SQLite file: a command and a GO of one party both land."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot import app
from bot import commands as c
from bot.actions import Action, ActionKind
from bot.errors import UserError
from bot.outbox import UNLIMITED
from bot.party import PartyState
from storage.sqlite import SqliteStore
from tests.fakes import HOME, START, RecordingGateway, SettlingClock, ctx
from tests.fakes import test_settings as settings_for_tests

ROUNDS = 6
FILM = frozenset({ActionKind.PROMPT, ActionKind.SUMMARY})


@dataclass
class Worker:
    """One core on its own store connection, as a second process would have it."""

    runtime: app.Runtime
    store: SqliteStore
    gateway: RecordingGateway


@pytest.fixture
async def workers(tmp_path: Path) -> AsyncIterator[tuple[Worker, Worker]]:
    """Two wired cores on one SQLite file, each with its own store and chat gateway."""
    stores = [await SqliteStore.open(tmp_path / "shared.db", batch_delay=0) for _ in range(2)]
    clock = SettlingClock(START, stores[0])
    pair = []
    for store in stores:
        gateway = RecordingGateway("test", clock)
        runtime = await app.build(settings_for_tests(), store, clock,
                                  {"test": (gateway, UNLIMITED)})
        await runtime.start()
        pair.append(Worker(runtime, store, gateway))
    yield pair[0], pair[1]
    for worker in pair:
        await worker.runtime.stop()


async def counting_down(worker: Worker, title: str) -> tuple[str, Action]:
    """A party started by its host (its GO pending); its code and its GO action."""
    core = worker.runtime.core
    await core.handle(ctx(), c.CreateParty(title, "in 1 hour", "short-film"))
    party = (await worker.store.parties_for_chat(HOME, frozenset(PartyState)))[-1]
    await core.handle(ctx(), c.StartParty(party.code, "now"))
    async with worker.store.party(party.id) as tx:
        pending = await tx.pending_actions()
    go = next(a for a in pending if a.kind is ActionKind.GO)
    return party.code, go


async def test_a_pause_and_a_go_in_two_workers_lose_neither_update(
        workers: tuple[Worker, Worker]) -> None:
    firing, pausing = workers
    for n in range(ROUNDS):
        code, go = await counting_down(firing, f"Race {n}")
        fired = asyncio.create_task(firing.runtime.core.fire(go, go.due_at))
        # The pause is tried the whole time the GO is being fired: the transition table
        # refuses it until the party plays, and it lands as soon as the GO's write is seen.
        while True:
            go_was_done = fired.done()
            try:
                await pausing.runtime.core.handle(ctx(), c.PauseParty(code))
                break
            except UserError as err:
                assert err.key == "invalid_transition"
                assert not go_was_done, "the pause was refused after the GO had played"
                await asyncio.sleep(0)
        await fired
        party = await pausing.store.get_party_by_code(code)
        assert party is not None
        assert party.state is PartyState.PAUSED
        assert party.go_at == go.due_at and party.paused_at is not None
        async with firing.store.party(party.id) as tx:
            pending = await tx.pending_actions()
        # The GO's prompts and summary were stored with its PLAYING, so the pause cancelled
        # them all: a paused party has nothing of the film left to post.
        assert [a.kind for a in pending if a.kind in FILM] == []


async def test_a_cancel_and_a_go_in_two_workers_lose_neither_update(
        workers: tuple[Worker, Worker]) -> None:
    firing, cancelling = workers
    for n in range(ROUNDS * 2):
        code, go = await counting_down(firing, f"Cancel race {n}")

        async def cancel(code: str, turns: int) -> None:
            for _ in range(turns):  # a different interleaving each round
                await asyncio.sleep(0)
            await cancelling.runtime.core.handle(ctx(), c.CancelParty(code))
        status, _ = await asyncio.gather(firing.runtime.core.fire(go, go.due_at),
                                         cancel(code, n))
        party = await cancelling.store.get_party_by_code(code)
        assert party is not None
        # Whichever came first, the cancel stands and nothing of the party is left to fire:
        # a GO after it is skipped, a GO before it has its prompts cancelled with the rest.
        assert party.state is PartyState.CANCELLED, (n, status)
        async with firing.store.party(party.id) as tx:
            pending = await tx.pending_actions()
        assert pending == [], (n, status)
