"""`app.serve`, the serving part of `run_bot`: the order in which it stops a platform."""

from __future__ import annotations

import asyncio

from bot import app
from bot import commands as c
from bot.clock import ManualClock
from bot.lifecycle import Shutdown
from bot.outbox import UNLIMITED
from bot.service import WatchParty
from tests.fakes import HOME, START, RecordingGateway, ctx
from tests.fakes import test_settings as core_settings


class InFlightPlatform:
    """A platform whose one event is still being handled when the bot is told to stop."""

    platform = "test"
    limits = UNLIMITED

    def __init__(self, gateway: RecordingGateway) -> None:
        self.gateway = gateway
        self.answer = ""
        self.delivered_before_disconnect: list[str] | None = None

    async def run(self, core: WatchParty, shutdown: Shutdown) -> None:
        """Answer the event only once the stop is given, then watch what went out before the
        connection is let go."""
        reply = await core.handle(ctx(), c.ListGuides())
        assert reply is not None
        self.answer = reply.message.plain()
        await shutdown.stop.wait()
        core.outbox.send(HOME, reply.message)
        shutdown.idle.set()
        await shutdown.disconnect.wait()
        self.delivered_before_disconnect = [sent.text for sent in self.gateway.sent]


async def test_a_reply_to_an_event_in_flight_at_the_stop_goes_out_before_the_disconnect() -> None:
    """Intake closes first, the outbox drains, the connection closes last (SIGTERM at once)."""
    clock = ManualClock(START)
    platform = InFlightPlatform(RecordingGateway("test", clock))
    stop = asyncio.Event()
    stop.set()
    await app.serve(core_settings(), [platform], stop, clock=clock)
    assert platform.answer
    assert platform.delivered_before_disconnect == [platform.answer]


async def test_serve_tells_the_caller_the_running_bot_before_its_platforms_run() -> None:
    """`started` sees the wired bot on the given clock before any platform took an event."""
    clock = ManualClock(START)
    platform = InFlightPlatform(RecordingGateway("test", clock))
    stop = asyncio.Event()
    seen: list[app.Runtime] = []

    def started(runtime: app.Runtime) -> None:
        assert platform.answer == ""
        seen.append(runtime)
        stop.set()

    await app.serve(core_settings(), [platform], stop, clock=clock, started=started)
    [runtime] = seen
    assert runtime.clock is clock
    assert platform.delivered_before_disconnect == [platform.answer]
