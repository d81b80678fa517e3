"""Messages whose sender is not a user: an anonymous administrator, a channel, or nobody.

Telegram leaves `from` empty for some messages and sends `sender_chat` for others; commands and
replies to prompts from them are answered and recorded like anyone's, through the real
python-telegram-bot and the fake Bot API.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from faketelegram import FakeTelegram
from tgharness import StartBot

from adapters.telegram.chats import ANONYMOUS_ADMIN_ID

ANONYMOUS_ADMIN = {"id": ANONYMOUS_ADMIN_ID, "is_bot": True, "first_name": "Group",
                   "username": "GroupAnonymousBot"}


def without_sender(message: dict[str, Any]) -> dict[str, Any]:
    """Take `from` out of a message the fake has queued but not yet delivered.

    The fake serialises an update only when the bot next polls, and nothing here yields to the
    event loop in between, so the bot sees the message as changed.
    """
    message.pop("from")
    return message


async def test_a_command_and_a_reply_with_no_sender(fake: FakeTelegram, start_bot: StartBot,
                                                    tmp_path: Path) -> None:
    hana = fake.add_user("Hana")
    group = fake.add_group("No senders", members=[(hana, "creator")])
    db = tmp_path / "wp.db"
    await start_bot(db)

    _, help_message = fake.command(group, hana, "/watchparty help")
    without_sender(help_message)
    assert "/watchparty create" in (await fake.reply_to(group, help_message)).text

    # a moderator's command from nobody is refused, not failed
    _, settings = fake.command(group, hana, "/watchparty settings retention_days=7")
    without_sender(settings)
    assert "Only moderators of this chat may" in (await fake.reply_to(group, settings)).text

    await fake.ask(group, hana, "/watchparty create Nobody's night | in 1h | quick")
    await fake.ask(group, hana, "/watchparty start now")
    prompt = await fake.wait_post(group, "Chapter 1 of 3", within=6)
    last, _ = fake.reply(group, hana, prompt, "Said by nobody")
    without_sender(_)
    await fake.wait_confirmed(last)
    await fake.wait_idle()
    with sqlite3.connect(db) as conn:
        got = conn.execute("SELECT kind, display_name, value FROM records "
                           "WHERE kind = 'answer'").fetchall()
    assert got == [("answer", "No senders", "Said by nobody")]
    assert not [p for p in fake.in_chat(group) if "Something went wrong" in p.text]


async def test_an_anonymous_administrator_and_a_channel(fake: FakeTelegram,
                                                        start_bot: StartBot) -> None:
    hana = fake.add_user("Hana")
    group = fake.add_group("Anonymous admins", members=[(hana, "creator")])
    channel = {"id": -1_009_999_000_001, "type": "channel", "title": "Film news"}
    await start_bot()

    # an anonymous administrator speaks as the group, and moderates it
    _, message = fake.command(group, hana, "/watchparty settings retention_days=7")
    message.update({"from": ANONYMOUS_ADMIN, "sender_chat": group})
    assert "7" in (await fake.reply_to(group, message)).text

    # a linked channel's post, forwarded into the group, is not a moderator
    _, post = fake.command(group, hana, "/watchparty settings retention_days=9")
    without_sender(post).update({"sender_chat": channel})
    assert "Only moderators of this chat may" in (await fake.reply_to(group, post)).text
