"""The one error translator, and recordings that must survive trouble: Telegram failing a
request, the database refusing a write for a moment, anonymous reaction totals sent twice."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from pathlib import Path

import pytest
from faketelegram import FakeTelegram
from tgharness import StartBot


def rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    """Read the bot's database."""
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


async def test_an_unexpected_failure_is_logged_and_told_calmly(
        fake: FakeTelegram, start_bot: StartBot, caplog: pytest.LogCaptureFixture) -> None:
    gus, ann = fake.add_user("Gus"), fake.add_user("Ann")
    group = fake.add_group("Club", members=[(gus, "member"), (ann, "member")])
    await start_bot()
    fake.break_method("getChatMember")  # the moderator check cannot be answered
    with caplog.at_level(logging.ERROR, logger="adapters.telegram"):
        reply = await fake.ask(group, gus, "/watchparty settings timezone=Europe/Rome")
    assert reply.text == ("Something went wrong on my side; it has been logged. Please try "
                          "again in a moment.")
    [logged] = [r for r in caplog.records if r.name.startswith("adapters.telegram")]
    assert "/watchparty settings" in logged.getMessage()
    assert str(group["id"]) in logged.getMessage()
    assert "Europe/Rome" not in logged.getMessage(), "no user text in the log"
    assert fake.token not in caplog.text

    # A button whose handling fails gets the same sentence as an alert.
    fake.broken.clear()
    await fake.ask(group, gus, "/watchparty create Fine | in 1h")
    announcement = await fake.wait_post(group, "🎬 Fine")
    fake.break_method("getChatMember")  # Ann's standing has not been asked yet
    _, query = fake.press_data(announcement, ann, announcement.button("Going").replace(
        "rsvp", "link", 1).replace(":going", ":a:telegram:-1"))
    await fake.wait_for(lambda: fake.answer_to(query), what="the alert")
    assert fake.answer_to(query) == {"text": reply.text, "show_alert": True}


async def test_a_recording_that_fails_for_a_moment_is_retried_and_kept_once(
        fake: FakeTelegram, start_bot: StartBot, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    gus = fake.add_user("Gus")
    group = fake.add_group("Club", members=[(gus, "creator")])
    db = tmp_path / "wp.db"
    await start_bot(db)
    await fake.ask(group, gus, "/watchparty create Flaky | in 1h")
    announcement = await fake.wait_post(group, "🎬 Flaky")
    with sqlite3.connect(db) as conn:  # the disk refuses record writes for a moment
        conn.executescript("""
            CREATE TABLE chaos (fail INTEGER);
            INSERT INTO chaos VALUES (1);
            CREATE TRIGGER chaos BEFORE INSERT ON records WHEN (SELECT fail FROM chaos) = 1
            BEGIN SELECT RAISE(ABORT, 'disk trouble'); END;""")
    with caplog.at_level(logging.WARNING):
        update_id = fake.react(announcement, gus, ["👀"])
        await fake.wait_for(lambda: "trying again" in caplog.text, what="a failed attempt")
        with sqlite3.connect(db) as conn:
            conn.execute("UPDATE chaos SET fail = 0")
        await fake.wait_confirmed(update_id)
    assert rows(db, "SELECT kind, value FROM records") == [("reaction_added", "👀")]
    assert "Telegram update failed" not in caplog.text


async def test_anonymous_reaction_totals_become_records_once(
        fake: FakeTelegram, start_bot: StartBot, tmp_path: Path) -> None:
    gus = fake.add_user("Gus")
    group = fake.add_group("Channel-ish", members=[(gus, "creator")])
    db = tmp_path / "wp.db"
    await start_bot(db)
    await fake.ask(group, gus, "/watchparty create Counted | in 1h")
    announcement = await fake.wait_post(group, "🎬 Counted")
    fake.react_count(announcement, {"👍": 2})
    fake.react_count(announcement, {"👍": 1, "🔥": 1})
    last = fake.react_count(announcement, {"👍": 1, "🔥": 1})  # nothing changed
    await fake.wait_confirmed(last)
    await asyncio.sleep(0)
    got = rows(db, "SELECT kind, user_id, value FROM records ORDER BY id")
    assert got == [("reaction_added", "anonymous", "👍"), ("reaction_added", "anonymous", "👍"),
                   ("reaction_removed", "anonymous", "👍"),
                   ("reaction_added", "anonymous", "🔥")]


async def test_a_group_that_removed_the_bot_is_not_retried(fake: FakeTelegram,
                                                           start_bot: StartBot) -> None:
    gus = fake.add_user("Gus")
    group = fake.add_group("Gone", members=[(gus, "creator")])
    bot = await start_bot()
    await fake.ask(group, gus, "/watchparty create Gone soon | in 1h")
    announcement = await fake.wait_post(group, "🎬 Gone soon")
    fake.members[(group["id"], fake.bot_id)] = "kicked"
    _, query = fake.press(announcement, gus, "Going")  # recorded; the count edit can't go out
    await fake.wait_for(lambda: fake.calls_to("editMessageText", group), what="the edit")
    await asyncio.sleep(1.5)  # longer than the outbox's first back-off
    assert [c.status for c in fake.calls_to("editMessageText", group)] == [403]
    assert bot.runtime.outbox.failed_count == 1
    assert fake.answer_to(query) is not None
