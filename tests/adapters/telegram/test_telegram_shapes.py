"""Updates that python-telegram-bot decodes but that are not in the Bot API's shape (a text that
is a number, a chat without an id, a user whose name is a number) are dropped; the bot goes on."""

from __future__ import annotations

import logging

import pytest
from faketelegram import FakeTelegram
from tgharness import StartBot


async def test_malformed_updates_are_dropped_and_the_bot_goes_on(
        fake: FakeTelegram, start_bot: StartBot, caplog: pytest.LogCaptureFixture) -> None:
    hana = fake.add_user("Hana")
    group = fake.add_group("Shapes", members=[(hana, "creator")])
    bot = await start_bot()
    caplog.set_level(logging.WARNING, logger="adapters.telegram.adapter")

    # The fake serialises an update only when the bot next polls, and nothing here yields to
    # the event loop in between, so the bot sees each message as changed below.
    first, number = fake.command(group, hana, "/watchparty help")
    number["text"] = 12345
    _, nameless = fake.command(group, hana, "/watchparty help")
    nameless["from"] = {"id": hana["id"], "is_bot": False, "first_name": 42}
    last, chatless = fake.command(group, hana, "/watchparty help")
    chatless["chat"] = {"id": None, "type": "supergroup", "title": "No id"}
    await fake.wait_confirmed(last)

    dropped = [r.getMessage() for r in caplog.records if "dropped" in r.getMessage()]
    assert sorted(dropped) == [f"update {first + i} dropped: not in the Bot API's shape (message)"
                       for i in range(3)]
    assert "12345" not in " ".join(dropped)  # ids and kinds are logged, not contents
    assert not bot.task.done()
    assert "/watchparty create" in (await fake.ask(group, hana, "/watchparty help")).text
    assert [p.reply_to for p in fake.in_chat(group)] == [fake.in_chat(group)[-1].reply_to]
