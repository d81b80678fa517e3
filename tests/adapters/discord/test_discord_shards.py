"""Discord shards over two workers on one PostgreSQL (PRODUCT §9).

The fake Discord knows two shards and two guilds, one on each (`(guild_id >> 22) % 2`), and
dispatches a guild's events only on its shard. Two workers, as `app.serve` runs them, each
connect one shard with discord.py's AutoShardedClient: each answers the interactions of its own
guild. A party started on the second worker's guild is then left to the first worker (the
second stops): its GO and prompts still reach that guild, since sending is REST.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from discord_harness import RunningBot, start_bot
from discord_helpers import create_party
from fakediscord import FakeDiscord

from tests.postgres import empty_database


@pytest.fixture
async def sharded() -> AsyncIterator[FakeDiscord]:
    """A fake Discord with two shards and a guild on each."""
    server = await FakeDiscord(guild_count=2, shard_count=2).start()
    yield server
    await server.stop()
    assert not server.unknown_routes, server.unknown_routes


async def worker(fake: FakeDiscord, tmp_path: Path, url: str, shard: int) -> RunningBot:
    """A worker holding one of the two shards."""
    settings: dict[str, Any] = {"database_url": url, "worker_id": f"shard-{shard}",
                                "discord_shard_count": 2, "discord_shard_ids": str(shard)}
    bot = await start_bot(fake, tmp_path / "unused.db", **settings)
    await fake.wait_until(lambda: shard in fake.sockets, 15, f"shard {shard} to connect")
    return bot


@pytest.mark.timeout(120)
async def test_each_worker_answers_its_shard_and_any_worker_sends(sharded: FakeDiscord,
                                                                  tmp_path: Path) -> None:
    fake = sharded
    url = await empty_database()
    first, second = (fake.guilds[g]["channels"][0] for g in fake.guilds)
    assert [fake.shard_of(fake.channel_guild[c]) for c in (first, second)] == [0, 1]
    zero = await worker(fake, tmp_path, url, 0)
    one = await worker(fake, tmp_path, url, 1)
    try:
        assert sorted(i["shard"][0] for i in fake.identifies) == [0, 1]
        assert {tuple(i["shard"]) for i in fake.identifies} == {(0, 2), (1, 2)}
        assert zero.adapter.health() == {"shards": [0]}
        host = fake.person("Hana", moderator=True)

        # Each guild's commands reach only its shard's worker, and are answered.
        await create_party(fake, host, "Shard zero night", channel=first)
        await create_party(fake, host, "Shard one night", channel=second)
        started = await fake.wait_answer(await fake.slash(host, "start", channel=second))
        assert "Countdown started" in started.text, started.text
        # The worker of shard 1 stops; the one of shard 0 fires what follows for guild 1.
        await one.stop()
        assert 1 not in fake.sockets
        await fake.wait_message("▶ GO", second, within=30)
        await fake.wait_message("What did you notice first?", second, within=30)
        await fake.wait_message("Did the ending work for you?", second, within=30)
    finally:
        await one.stop()
        await zero.stop()
    assert len(fake.find("▶ GO", second)) == 1
    assert len(fake.find("What did you notice first?", second)) == 1
