"""The bot wired as in production against the fake Discord: what the fixtures start and stop.

`start_bot` does what `bot.app.run_bot` does (settings → `create_adapter` → `app.serve`) on a
real SQLite file and the system clock, so a test can stop the bot and start a new one on the same
database: a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fakediscord import TOKEN, FakeDiscord

# discord.py imports audioop for voice, which this bot never uses.
warnings.filterwarnings("ignore", "'audioop' is deprecated", DeprecationWarning)

from adapters.discord import DiscordAdapter, create_adapter  # noqa: E402
from bot import app  # noqa: E402
from bot.settings import Settings  # noqa: E402
from tests.serving import serve  # noqa: E402

DATA = Path(__file__).parent / "data"


def discord_settings(fake: FakeDiscord, db: Path, **overrides: Any) -> Settings:
    """Settings for a bot that talks to the fake server, with short countdowns."""
    values: dict[str, Any] = {
        "discord_token": TOKEN, "discord_api_base_url": fake.api_base,
        "discord_gateway_url": fake.gateway_url, "discord_dev_guild_id": fake.guild_id,
        "database_url": f"sqlite:///{db}", "guides_dir": DATA, "countdown_seconds": 3,
        "ready_check_seconds": 10, "default_timezone": "UTC",
        # The fake models Discord's own limits where a test wants them; the outbox's are
        # loosened so that tests run quickly.
        "discord_rate_limits": "bot=50/1s; chat=20/1s",
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


@dataclass
class RunningBot:
    """A bot process's insides: the adapter, the wired core, and how to stop them."""

    adapter: DiscordAdapter
    runtime: app.Runtime
    stop_event: asyncio.Event
    task: asyncio.Task[None]

    async def stop(self) -> None:
        """Stop as SIGTERM does in `run_bot`: close the intake, deliver, disconnect, close."""
        self.stop_event.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.task, 15)

    async def settle(self) -> None:
        """Wait until received reactions and votes are recorded and posts are sent."""
        await self.adapter.client.drained()
        await self.runtime.core.drain()


StartBot = Callable[..., Awaitable[RunningBot]]


async def start_bot(fake: FakeDiscord, db: Path, **overrides: Any) -> RunningBot:
    """Start the bot against `fake` and wait until it is connected."""
    settings = discord_settings(fake, db, **overrides)
    adapter = create_adapter(settings)
    identified = len(fake.identifies)
    serving = await serve(settings, [adapter], name="discord-bot")
    task = serving.task
    bot = RunningBot(adapter, serving.runtime, serving.stop_event, task)
    await fake.wait_until(lambda: (len(fake.identifies) > identified and fake.ws is not None)
                          or task.done(), 15, "the bot to connect")
    if task.done():
        task.result()
    return bot
