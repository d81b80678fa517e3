"""`edit`, `history`, `calendar` and series on Discord, through the real discord.py client."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import icalendar
from discord_harness import RunningBot
from discord_helpers import buttons, create_party
from fakediscord import FakeDiscord, message_text


async def test_edit_and_its_refusals(fake: FakeDiscord, bot: RunningBot) -> None:
    host, guest = fake.person("Hana"), fake.person("Gus")
    code, announcement = await create_party(fake, host, "Film club", when="in 3h")
    await fake.wait_answer(await fake.click(guest, announcement, "Going"))

    async def edit(user: Any, **options: Any) -> Any:
        return await fake.wait_answer(await fake.slash(user, "edit", party=code, **options))

    refused = await edit(guest, title="Mine")
    assert refused.ephemeral and refused.text == (
        "Only the host (Hana) or a moderator of a linked chat may edit here.")
    refused = await edit(host, when="yesterday 8pm")
    assert refused.ephemeral and "in the past" in refused.text
    refused = await edit(host, guide="nope")
    assert refused.ephemeral and "There is no guide “nope”" in refused.text
    refused = await fake.wait_answer(await fake.slash(host, "edit", party=code))
    assert "Say what to change" in refused.text

    moved = (datetime.now(UTC) + timedelta(hours=5)).replace(second=0, microsecond=0)
    stamp = f"<t:{int(moved.timestamp())}:F>"
    saved = await edit(host, when=moved.isoformat(), title="Film club, later")
    assert saved.ephemeral and f"moved to {stamp}" in saved.text, saved.text
    line = await fake.wait_message("✏️")
    assert "renamed from **Film club**" in message_text(line)
    await fake.wait_until(lambda: stamp in message_text(announcement)
                          and "Film club, later" in message_text(announcement), 5, "the edit")
    assert "Going 1" in message_text(announcement)  # the RSVP stayed
    assert len(fake.find("Going 1")) == 1  # edited in place, not posted again

    started = await fake.wait_answer(await fake.slash(host, "start", party=code))
    assert "Countdown started" in started.text
    refused = await edit(host, title="Too late")
    assert refused.ephemeral and "can be edited only before its countdown" in refused.text


async def test_calendar_button_and_command_answer_with_an_ephemeral_file(
        fake: FakeDiscord, bot: RunningBot) -> None:
    host, guest = fake.person("Hana"), fake.person("Gus")
    code, announcement = await create_party(fake, host, "Calendar night", when="in 2h")
    assert buttons(announcement) == ["Going", "Maybe", "Not going", "Add to calendar"]
    answer = await fake.wait_answer(await fake.click(guest, announcement, "Add to calendar"))
    assert answer.ephemeral, answer.text
    [(name, data)] = answer.files()
    assert name == f"watchparty-{code}.ics" and "for your calendar" in answer.text
    [event] = icalendar.Calendar.from_ical(data).walk("VEVENT")
    assert code in str(event["UID"]) and event["SEQUENCE"] == 0
    assert event["DTSTART"].to_ical().endswith(b"Z")
    assert event.walk("VALARM")[0].decoded("TRIGGER") == -timedelta(minutes=15)

    by_command = await fake.wait_answer(await fake.slash(guest, "calendar"))
    assert by_command.ephemeral and [n for n, _ in by_command.files()] == [name]
    [again] = icalendar.Calendar.from_ical(by_command.files()[0][1]).walk("VEVENT")
    assert str(again["UID"]) == str(event["UID"])


async def test_history_and_a_series(fake: FakeDiscord, bot: RunningBot) -> None:
    host = fake.person("Hana")
    empty = await fake.wait_answer(await fake.slash(host, "history"))
    assert not empty.ephemeral and "No finished or cancelled parties" in empty.text
    created = await fake.wait_answer(await fake.slash(
        host, "create", title="Anime", when="in 1h", guide="quick", repeat="weekly",
        episodes=4))
    assert "created" in created.text, created.text
    first = await fake.wait_message("Episode 1 of 4")
    assert "weekly · next episode" in message_text(first)
    cancelled = await fake.wait_answer(await fake.slash(host, "cancel"))
    assert cancelled.ephemeral, cancelled.text
    second = await fake.wait_message("Episode 2 of 4")
    assert "The series goes on" in message_text(await fake.wait_message("The series goes on"))
    ended = await fake.wait_answer(await fake.slash(host, "cancel", all=True))
    assert ended.ephemeral
    await fake.wait_message("is over: no more episodes")
    listed = await fake.wait_answer(await fake.slash(host, "history"))
    assert listed.text.count("cancelled") == 2 and "episode 2" in listed.text
    refused = await fake.wait_answer(await fake.slash(host, "create", title="X", when="in 1h",
                                                      repeat="sometimes"))
    assert refused.ephemeral and "isn't a repeat" in refused.text
    assert second is not first
