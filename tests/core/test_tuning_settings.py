"""RESUME_COUNTDOWN_SECONDS: validated like the other tuning settings, and followed by resume."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from bot import app
from bot import commands as c
from bot.clock import ManualClock
from bot.outbox import UNLIMITED
from storage.memory import MemoryStore
from tests.fakes import HOST, START, RecordingGateway, ctx
from tests.fakes import test_settings as settings_for_tests


def test_resume_countdown_defaults_to_five_seconds() -> None:
    assert settings_for_tests().resume_countdown_seconds == 5


@pytest.mark.parametrize("value", [0, 2, 61, "soon"])
def test_a_resume_countdown_out_of_range_is_refused(value: object) -> None:
    with pytest.raises(ValidationError) as caught:
        settings_for_tests(resume_countdown_seconds=value)
    assert "resume_countdown_seconds" in str(caught.value)


async def test_resume_waits_the_configured_seconds() -> None:
    clock = ManualClock(START)
    gateway = RecordingGateway("test", clock)
    runtime = await app.build(settings_for_tests(resume_countdown_seconds=12), MemoryStore(), clock,
                              {"test": (gateway, UNLIMITED)})
    await runtime.start()
    try:
        core = runtime.core
        await core.handle(ctx(), c.CreateParty("Film", "in 1 hour", "short-film"))
        await core.handle(ctx(), c.StartParty(None, "now"))
        await clock.advance(10 + 60)
        await core.handle(ctx(HOST), c.PauseParty(None))
        await core.handle(ctx(HOST), c.ResumeParty(None))
        await clock.settle()
        await core.drain()
        [notice] = gateway.posts(containing="Resuming")
        assert "GO at 12:01:22 UTC — in 12 seconds." in notice.text, notice.text
        await clock.advance(11)
        await core.drain()
        assert len(gateway.posts(containing="▶ GO")) == 1
        await clock.advance(1)
        await core.drain()
        await clock.settle()
        assert len(gateway.posts(containing="▶ GO")) == 2
    finally:
        await runtime.stop()
