"""Two workers on one database: one of them follows the room, the other takes over when it stops.

The FOLLOW action's lease is what says who follows (the same lease every action has), so this
holds on any store; here two SQLite connections to one file stand for two workers.
"""

from __future__ import annotations

from pathlib import Path

from scripted_host import ScriptedHost
from syncplay_server import SyncplayServer, skip_module_without_syncplay

from bot import commands as c
from bot.party import PartyState
from storage.sqlite import SqliteStore
from tests.adapters.feedparty import FeedBot, start_bot

skip_module_without_syncplay()

LEASE_SECONDS = 30.0  # the scheduler's lease: a stopped worker's FOLLOW is free after it


def holder(bots: list[FeedBot], party_id: int) -> list[FeedBot]:
    """The workers that follow the party's player now."""
    return [b for b in bots if b.runtime.core.deps.following is not None
            and b.runtime.core.deps.following.status(party_id) is not None]


async def test_one_worker_follows_and_another_takes_over_when_it_stops(
        syncplay_server: SyncplayServer, hosts: list[ScriptedHost], tmp_path: Path) -> None:
    host = ScriptedHost(syncplay_server.port, "two-workers")
    hosts.append(host)
    await host.join()
    allowed = f"127.0.0.1:{syncplay_server.port}"
    stores = [await SqliteStore.open(tmp_path / "shared.db") for _ in range(2)]
    bots = [await start_bot(store, follow_allowed_hosts=allowed, worker_id=f"worker-{n}")
            for n, store in enumerate(stores)]
    try:
        await bots[0].do(c.CreateParty("Feed Night", "in 1 hour", "feed-film"))
        await bots[0].do(c.FollowParty(f"syncplay://{allowed}/two-workers"))
        party = await bots[0].party()
        await host.wait_until(lambda: host.joined == ["watchparty"], "one bot to join")
        await host.wait_until(lambda: len(host.views) >= 4, "a few more States")
        assert host.joined == ["watchparty"]  # one worker follows, not both
        [first] = holder(bots, party.id)
        other = bots[1 - bots.index(first)]

        await first.stop()
        bots.remove(first)
        # Another worker's timer sleeps until its own next action; across processes it is woken
        # by the store's notification (LISTEN/NOTIFY on PostgreSQL), which one SQLite file in
        # one process does not have: this wake-up stands in for it. Woken, it sleeps until the
        # stopped worker's lease runs out, then claims the FOLLOW action.
        other.runtime.scheduler.wake()
        await host.wait_until(lambda: host.joined == ["watchparty", "watchparty"],
                              "the other worker to take the room over",
                              within=LEASE_SECONDS + 20)
        assert holder([other], party.id) == [other]
        await host.play()
        go = await other.wait_post("▶ GO")
        assert go.text.startswith("▶ GO")
        await other.until(lambda p: p.state is PartyState.PLAYING, "the party to play")
    finally:
        for bot in bots:
            await bot.stop()
        for store in stores:
            await store.close()

