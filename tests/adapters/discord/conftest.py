"""Fixtures: the fake Discord server, and the bot wired as in production against it."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from discord_harness import RunningBot, StartBot
from discord_harness import start_bot as start_running_bot
from fakediscord import FakeDiscord

os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    """A fresh fake Discord on a free port."""
    server = await FakeDiscord().start()
    yield server
    await server.stop()
    # Invariants of every test: each interaction got its first answer within Discord's
    # 3 seconds, and the bot used no route the fake (and so this contract) doesn't know.
    slow = [(a.interaction_id, round(a.answered_at - a.at, 3)) for a in server.answers.values()
            if a.answered_at is not None and a.answered_at - a.at > 3.0]
    assert not slow, f"interactions answered after 3 s: {slow}"
    assert not server.unknown_routes, server.unknown_routes


@pytest.fixture
async def start_bot(fake: FakeDiscord, tmp_path: Path) -> AsyncIterator[StartBot]:
    """Start the bot against `fake` (again, after a stop, for a restart)."""
    bots: list[RunningBot] = []

    async def start(**overrides: Any) -> RunningBot:
        bot = await start_running_bot(fake, tmp_path / "watchparty.db", **overrides)
        bots.append(bot)
        return bot

    yield start
    for bot in bots:
        if not bot.task.done():
            await bot.stop()


@pytest.fixture
async def bot(start_bot: StartBot) -> RunningBot:
    """The bot, connected to the fake Discord."""
    return await start_bot()
