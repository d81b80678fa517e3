"""Fixtures of the Telegram tests: the fake Bot API, and bots started on it.

Each test gets a loopback fake Bot API (`fake`) and starts the bot against it with `start_bot`:
the real python-telegram-bot, the real core on a SQLite file, the real outbox and scheduler on
the system clock, started and stopped by `app.serve` as in production. Chapters of the test
guide are a second long, the countdown 3 s.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from faketelegram import FakeTelegram
from tgharness import RunningBot, StartBot
from tgharness import start_bot as start_running_bot


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    """A fresh fake Bot API."""
    server = FakeTelegram()
    await server.start()
    yield server
    await server.stop()
    assert not server.failures, f"the fake Bot API failed: {server.failures}"


@pytest.fixture
async def start_bot(fake: FakeTelegram, tmp_path: Path) -> AsyncIterator[StartBot]:
    """Start bots on the fake; each is stopped at the end of the test."""
    running: list[RunningBot] = []

    async def start(db: Path | None = None, **overrides: Any) -> RunningBot:
        bot = await start_running_bot(fake, db or tmp_path / "wp.db", **overrides)
        running.append(bot)
        return bot

    yield start
    for bot in running:
        await bot.stop()
