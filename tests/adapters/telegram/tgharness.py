"""How the Telegram tests run the bot: as in production, on the fake Bot API.

(A module of its own, not conftest.py: several test folders have a conftest, and which one
`import conftest` finds depends on the order pytest collected them in.)
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from faketelegram import FakeTelegram

from adapters.telegram import TelegramAdapter, create_adapter
from bot import app
from bot.settings import Settings
from tests.serving import Serving, serve

DATA = Path(__file__).parent / "data"
# Fast enough for a whole party in seconds (the bench keeps Telegram's 1/s and 20/min).
TEST_LIMITS = "bot=30/1s; chat=20/1s"

os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"


def bot_settings(fake: FakeTelegram, db: Path, **overrides: Any) -> Settings:
    """Settings for a bot on the fake server (no .env, no stray environment)."""
    values: dict[str, Any] = {
        "telegram_token": fake.token, "telegram_base_url": fake.base_url,
        "telegram_base_file_url": fake.base_file_url, "database_url": f"sqlite:///{db}",
        "guides_dir": DATA, "countdown_seconds": 3, "ready_check_seconds": 10,
        "default_timezone": "UTC", "telegram_rate_limits": TEST_LIMITS,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


@dataclass
class RunningBot:
    """A started bot: what a test inspects, and how it is stopped."""

    settings: Settings
    adapter: TelegramAdapter
    runtime: app.Runtime
    stop_event: asyncio.Event
    task: asyncio.Task[None]

    async def stop(self) -> None:
        """Stop as SIGTERM does (see `app.serve`); a bot that already ended has closed."""
        if self.task.done():
            return
        await Serving(self.runtime, self.stop_event, self.task).stop()


StartBot = Callable[..., Awaitable[RunningBot]]


async def start_bot(fake: FakeTelegram, db: Path, **overrides: Any) -> RunningBot:
    """Start the bot as `python -m bot` does (`app.serve`) and wait until it polls."""
    settings = bot_settings(fake, db, **overrides)
    adapter = create_adapter(settings)
    serving = await serve(settings, [adapter], name="telegram-bot")
    bot = RunningBot(settings, adapter, serving.runtime, serving.stop_event, serving.task)
    task = serving.task
    await fake.wait_for(lambda: fake.getupdates_waiting > 0 or task.done(), 10,
                        "the bot to start polling")
    if task.done():
        task.result()
    return bot


async def wait_exit(proc: subprocess.Popen[bytes], within: float) -> int:
    """Wait for a bot process without blocking the fake server's loop; its exit code."""
    for _ in range(int(within / 0.05)):
        code = proc.poll()
        if code is not None:
            return code
        await asyncio.sleep(0.05)
    proc.kill()
    raise AssertionError("the bot did not exit")
