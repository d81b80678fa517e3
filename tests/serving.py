"""The bot as `python -m bot` runs it (`app.serve`), in a task of a test or a benchmark."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from bot import app
from bot.settings import Settings


@dataclass
class Serving:
    """`app.serve` running in a task: its wired bot, the stop it waits for, and the task."""

    runtime: app.Runtime
    stop_event: asyncio.Event
    task: asyncio.Task[None]

    async def stop(self, within: float = 15.0) -> None:
        """Stop as SIGTERM does: intake closes, the outbox delivers, adapters disconnect."""
        self.stop_event.set()
        await asyncio.wait_for(asyncio.shield(self.task), within)


async def serve(settings: Settings, adapters: Sequence[app.PlatformAdapter],
                name: str = "bot") -> Serving:
    """Start `app.serve` and return once the bot delivers and fires (its adapters connecting)."""
    stop = asyncio.Event()
    started: asyncio.Future[app.Runtime] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(app.serve(settings, adapters, stop, started=started.set_result),
                               name=name)
    await asyncio.wait({started, task}, return_when=asyncio.FIRST_COMPLETED)
    if not started.done():
        task.result()  # serve failed before starting: its error is the test's
        raise AssertionError("app.serve ended before it started")
    return Serving(started.result(), stop, task)
