"""Discord scheduled events mirror parties where the bot has Manage Events."""

from __future__ import annotations

from datetime import datetime, timedelta

from discord_harness import RunningBot, StartBot
from discord_helpers import create_party
from fakediscord import FakeDiscord

ACTIVE, COMPLETED, CANCELED = 2, 3, 4


def _event(fake: FakeDiscord, code: str) -> dict | None:
    found = [e for e in fake.events.values()
             if code in ((e.get("entity_metadata") or {}).get("location") or "")]
    assert len(found) <= 1, found
    return found[0] if found else None


async def test_a_party_is_a_scheduled_event(fake: FakeDiscord, bot: RunningBot) -> None:
    host = fake.person("Hana")
    mod = fake.person("Mo", moderator=True)
    code, _ = await create_party(fake, host, "Event night", when="in 30m")
    event = await fake.wait_until(lambda: _event(fake, code), 5, "the scheduled event")
    assert event["name"] == "Event night" and event["entity_type"] == 3  # external
    assert event["privacy_level"] == 2 and event["status"] == 1
    start = datetime.fromisoformat(event["scheduled_start_time"])
    end = datetime.fromisoformat(event["scheduled_end_time"])
    assert end - start == timedelta(seconds=4)  # the guide's runtime
    assert start - datetime.now(start.tzinfo) > timedelta(minutes=29)

    # a second channel of the same server joins: still one event for the party
    await fake.wait_answer(await fake.slash(mod, "link", fake.channels[1], code=code))
    await fake.click(host, await fake.wait_message("asks to link"), "Approve")
    await fake.wait_message(code, fake.channels[1])

    await fake.wait_answer(await fake.slash(host, "start"))  # starts early: the event moves…
    await fake.wait_until(lambda: (_event(fake, code) or {}).get("status") == ACTIVE, 8,
                          "the event to start at GO")  # …and starts at GO
    moved = datetime.fromisoformat(_event(fake, code)["scheduled_start_time"])
    assert moved - datetime.now(moved.tzinfo) < timedelta(minutes=1)
    await fake.wait_message("is over", within=8)
    await fake.wait_until(lambda: _event(fake, code)["status"] == COMPLETED, 5, "the end")
    await bot.settle()
    assert len(fake.events) == 1

    other, _ = await create_party(fake, host, "Called off", when="in 1h")
    await fake.wait_until(lambda: _event(fake, other), 5, "the second event")
    await fake.wait_answer(await fake.slash(host, "cancel", party=other))
    await fake.wait_until(lambda: _event(fake, other)["status"] == CANCELED, 5, "cancelled")


async def test_without_manage_events_parties_go_on(fake: FakeDiscord,
                                                   start_bot: StartBot) -> None:
    fake.bot_manages_events = False
    bot = await start_bot()
    host = fake.person("Hana")
    code, _ = await create_party(fake, host, "No events here", when="in 30m")
    await create_party(fake, host, "Nor here", when="in 1h")
    await bot.settle()
    assert fake.events == {}
    tried = [r for r in fake.requests if "scheduled-events" in r.path]
    assert len(tried) == 1 and tried[0].status == 403  # asked once, then left alone
    listed = await fake.wait_answer(await fake.slash(host, "list"))
    assert code in listed.text
