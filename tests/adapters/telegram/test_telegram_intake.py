"""Under load: chats are served side by side, one chat in order, buttons answered at once.

Through the real python-telegram-bot against the fake Bot API: bursts of presses in several
groups, a chat whose update hangs, and an update python-telegram-bot cannot decode.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from faketelegram import FakeTelegram, Posted
from tgharness import DATA, StartBot

from bot.errors import ConfigurationError

TITLE = "Burst"


def rsvps(db: Path) -> list[tuple[str, str, str]]:
    """(chat id, user id, value) of every stored RSVP, in the order they were stored."""
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT chat_id, user_id, value FROM records WHERE kind = 'rsvp' "
                            "ORDER BY id").fetchall()


async def party_in(fake: FakeTelegram, title: str, members: int) -> tuple[
        dict[str, Any], list[dict[str, Any]], Posted]:
    """A group with a host and `members` others, and its party's announcement."""
    host = fake.add_user(f"Host of {title}")
    people = [fake.add_user(f"{title} member {n}") for n in range(members)]
    group = fake.add_group(title, members=[(host, "creator")] + [(p, "member") for p in people])
    await fake.ask(group, host, f"/watchparty create {title} | in 1h | quick")
    return group, people, await fake.wait_post(group, f"🎬 {title}")


async def test_a_burst_of_presses_is_answered_while_the_chats_sends_wait(
        fake: FakeTelegram, start_bot: StartBot, tmp_path: Path) -> None:
    """Answers are not chat messages: none waits for a group's budget (here: none gets out)."""
    db = tmp_path / "wp.db"
    await start_bot(db, telegram_rate_limits="bot=30/1s; chat=1/1s")
    parties = [await party_in(fake, f"{TITLE} {n}", 12) for n in range(4)]
    await fake.wait_idle()
    # Not one message or edit reaches any group until every press is answered.
    fake.hold("editMessageText")
    fake.hold("sendMessage")
    queries: dict[int, list[str]] = {}
    for group, people, announcement in parties:
        queries[group["id"]] = [fake.press(announcement, p, "Going")[1] for p in people]
    everyone = [q for qs in queries.values() for q in qs]
    await fake.wait_for(lambda: all(fake.answer_to(q) for q in everyone), 30,
                        "every press to be answered")
    assert {fake.answer_to(q)["text"] for q in everyone} == {  # type: ignore[index]
        f"You're going to {TITLE} {n}." for n in range(4)}
    answered = {chat: max(fake.answered_at(q) or 0.0 for q in qs)
                for chat, qs in queries.items()}
    fake.release()

    for group, people, announcement in parties:
        going = f"Going {len(people)} ·"
        await fake.wait_for(lambda a=announcement, g=going: g in a.text, 30,
                            "the announcement to show every press")
        # Past the create reply and the announcement, nothing reached the group before its
        # last press was answered: no answer waited for a message of the chat.
        sent = fake.sent_at(group)
        assert len(sent) > 2 and all(at > answered[group["id"]] for at in sent[2:])
    assert len(rsvps(db)) == 4 * 12


async def test_each_persons_presses_are_recorded_in_the_order_they_were_made(
        fake: FakeTelegram, start_bot: StartBot, tmp_path: Path) -> None:
    """Going, then Not going, then Maybe in quick succession ends as Maybe, for everyone.

    Each person's presses are stored in the order they were made; different people's may
    interleave, as they do in a real group.
    """
    db = tmp_path / "wp.db"
    await start_bot(db)
    parties = [await party_in(fake, f"Order {n}", 3) for n in range(4)]
    await fake.wait_idle()
    pressed: list[tuple[str, str, str]] = []
    for _ in range(3):
        for label, value in (("Going", "going"), ("Not going", "not_going"), ("Maybe", "maybe")):
            for group, people, announcement in parties:
                for person in people:
                    fake.press(announcement, person, label)
                    pressed.append((str(group["id"]), str(person["id"]), value))
    await fake.wait_idle(30)

    got = rsvps(db)
    for group, people, announcement in parties:
        for person in people:
            who = (str(group["id"]), str(person["id"]))
            assert [r for r in got if r[:2] == who] == [p for p in pressed if p[:2] == who]
        await fake.wait_for(lambda a=announcement: "Going 0 · 🤔 Maybe 3 · ❌ Not going 0"
                            in a.text, 15, "the announcement to show the last presses")


async def test_an_update_that_hangs_holds_back_the_offset_not_the_other_chats(
        fake: FakeTelegram, start_bot: StartBot, tmp_path: Path) -> None:
    """The offset stays below the unfinished update while later ones finish.

    The uploader's next update waits for it (one person's updates keep their order); someone
    else's in the same chat, and the other chat's, do not.
    """
    db = tmp_path / "wp.db"
    await start_bot(db)
    quiet, (ida,), slow_announcement = await party_in(fake, "Slow", 1)
    _, people, announcement = await party_in(fake, "Fast", 5)
    await fake.wait_idle()
    uploader = fake.add_user("Uploader")
    fake.set_member(quiet, uploader, "administrator")
    fake.hold("getFile")  # the upload's download hangs
    slow, upload = fake.upload(quiet, uploader, "mine.toml", (DATA / "quick.toml").read_bytes(),
                               "/watchparty guide upload")
    behind, behind_query = fake.press(slow_announcement, uploader, "Going")
    beside = fake.press(slow_announcement, ida, "Going")
    presses = [beside, *(fake.press(announcement, p, "Going") for p in people)]
    await fake.wait_for(lambda: all(fake.answer_to(q) for _, q in presses), 15,
                        "Ida's and the other chat's presses to be answered")
    await fake.wait_for(lambda: len(rsvps(db)) == len(presses), 10, "their RSVPs to be stored")
    assert fake.confirmed <= slow, "the offset must not pass the unfinished upload"
    assert {u["update_id"] for u in fake.updates} >= {slow, behind, *(u for u, _ in presses)}
    assert fake.answer_to(behind_query) is None, "the uploader's press waits for the upload"
    assert str(uploader["id"]) not in {user for _, user, _ in rsvps(db)}

    fake.release()
    await fake.wait_confirmed(presses[-1][0], 15)
    reply = await fake.reply_to(quiet, upload)
    assert "mine" in reply.text
    await fake.wait_idle()
    assert fake.answer_to(behind_query) == {"text": "You're going to Slow.", "show_alert": False}
    assert len(rsvps(db)) == len(presses) + 1, "a repeated delivery stores nothing twice"


async def test_an_undecodable_update_is_logged_confirmed_and_skipped(
        fake: FakeTelegram, start_bot: StartBot, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    """One update python-telegram-bot cannot read neither stops the bot nor comes back."""
    db = tmp_path / "wp.db"
    bot = await start_bot(db)
    _, (gus, mo), announcement = await party_in(fake, "Odd", 2)
    await fake.wait_idle()
    caplog.set_level(logging.INFO, logger="adapters.telegram")
    first, _ = fake.press(announcement, gus, "Going")
    bad = fake.inject({"callback_query": {"id": "77", "from": gus, "data": "secret-data-xyz"}})
    last, _ = fake.press(announcement, mo, "Maybe")
    await fake.wait_confirmed(last)
    await fake.wait_idle()

    assert first < bad < last
    assert [(u, v) for _, u, v in rsvps(db)] == [(str(gus["id"]), "going"),
                                                 (str(mo["id"]), "maybe")]
    assert not bot.task.done(), "the bot must keep running"
    assert all(u["update_id"] != bad for u in fake.updates), "the bad update is confirmed"
    logged = [r.getMessage() for r in caplog.records if str(bad) in r.getMessage()]
    assert len(logged) == 1 and "callback_query" in logged[0], caplog.text
    assert "secret-data-xyz" not in caplog.text, "an update's contents never reach the log"
    # Still serving: a command after it is answered.
    reply = await fake.ask(announcement_chat(fake, announcement), gus, "/watchparty list")
    assert "Odd" in reply.text


def announcement_chat(fake: FakeTelegram, announcement: Posted) -> dict[str, Any]:
    """The group an announcement was posted in."""
    return fake.chats[announcement.chat_id]


async def test_stopping_lets_the_updates_in_flight_finish_and_confirms_them(
        fake: FakeTelegram, start_bot: StartBot, tmp_path: Path) -> None:
    """A stop while an upload downloads: it finishes, is stored, answered, and not seen again."""
    db = tmp_path / "wp.db"
    bot = await start_bot(db)
    host = fake.add_user("Host")
    group = fake.add_group("Leaving", members=[(host, "creator")])
    await fake.wait_idle()
    fake.hold("getFile")
    update_id, upload = fake.upload(group, host, "mine.toml",
                                    (DATA / "quick.toml").read_bytes(), "/watchparty guide upload")
    await fake.wait_for(lambda: fake.calls_to("getFile"), what="the download to start")
    stopping = asyncio.create_task(bot.stop())
    await bot.stop_event.wait()
    fake.release()
    await stopping

    # The intake closes before the outbox stops, so the reply still goes out.
    reply = next((p for p in fake.in_chat(group) if p.reply_to == upload["message_id"]), None)
    assert reply is not None and "mine" in reply.text, fake.transcript()
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT name FROM guides").fetchall() == [("mine",)]
    assert fake.confirmed > update_id, "what finished while stopping is confirmed"


async def test_a_token_revoked_while_running_stops_the_bot_with_one_clear_line(
        fake: FakeTelegram, start_bot: StartBot, tmp_path: Path) -> None:
    """Telegram refusing the token in the middle of polling is a configuration error."""
    bot = await start_bot(tmp_path / "wp.db")
    host = fake.add_user("Host")
    group = fake.add_group("Revoked", members=[(host, "creator")])
    fake.token = "123456789:AAH-revoked"
    fake.command(group, host, "/watchparty help")  # ends the long poll in flight
    with pytest.raises(ConfigurationError) as raised:
        await asyncio.wait_for(asyncio.shield(bot.task), 15)
    assert str(raised.value) == "TELEGRAM_TOKEN: Telegram stopped accepting this token"
