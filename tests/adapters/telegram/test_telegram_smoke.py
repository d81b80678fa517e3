"""First contact: the bot starts on the fake API, registers its command and answers help."""

from __future__ import annotations

from faketelegram import FakeTelegram
from tgharness import StartBot


async def test_help(fake: FakeTelegram, start_bot: StartBot) -> None:
    alice = fake.add_user("Alice")
    group = fake.add_group("Film club", members=[(alice, "member")])
    await start_bot()
    [registered] = fake.commands
    assert registered["command"] == "watchparty" and "/watchparty help" in registered["description"]
    update_id, _ = fake.command(group, alice, "/watchparty help")
    posted = await fake.wait_post(group, "press play together")
    assert "/watchparty create" in posted.text
    await fake.wait_confirmed(update_id)
