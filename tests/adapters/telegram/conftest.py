"""Fixtures of the Telegram tests: the fake Bot API, and bots started on it.

Each test gets a loopback fake Bot API (`fake`) and starts the bot against it with `start_bot`:
the real python-telegram-bot, the real core on a SQLite file, the real outbox and scheduler on
the system clock. Chapters of the test guide are a second long, the countdown 3 s.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from faketelegram import FakeTelegram
from tgharness import RunningBot, StartBot, bot_settings

from adapters.telegram import create_adapter
from bot import app
from bot.clock import SystemClock


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
        settings = bot_settings(fake, db or tmp_path / "wp.db", **overrides)
        adapter = create_adapter(settings)
        store = await app.open_configured_store(settings)
        runtime = await app.build(settings, store, SystemClock(),
                                  {adapter.platform: (adapter.gateway, adapter.limits)})
        await runtime.start()
        stop = asyncio.Event()
        task = asyncio.create_task(adapter.run(runtime.core, stop), name="telegram-adapter")
        bot = RunningBot(settings, adapter, runtime, stop, task)
        running.append(bot)
        await fake.wait_for(lambda: fake.getupdates_waiting > 0 or task.done(), 10,
                            "the bot to start polling")
        if task.done():
            task.result()
        return bot

    yield start
    for bot in running:
        await bot.stop()
