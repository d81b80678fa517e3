"""Where the bot speaks: forum topics, a group that becomes a supergroup, private chats, and
groups where the bot is not an administrator (so Telegram sends it no reactions)."""

from __future__ import annotations

import re
import sqlite3

from faketelegram import FakeTelegram
from tgharness import StartBot

CODE = re.compile(r"Join code ([A-Z2-9]{6})\.")


def stored(db: str, sql: str) -> list[tuple[object, ...]]:
    """Read the bot's database as an operator would."""
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


async def test_forum_topics_keep_their_own_conversation(fake: FakeTelegram,
                                                        start_bot: StartBot) -> None:
    hana, gus = fake.add_user("Hana"), fake.add_user("Gus")
    forum = fake.add_group("Series fans", forum=True, members=[(hana, "creator"),
                                                                 (gus, "member")])
    anime = fake.forum_topic(forum, "Anime night", hana)
    docs = fake.forum_topic(forum, "Documentaries", hana)
    bot = await start_bot()

    created = await fake.ask(forum, hana, "/watchparty create Episode 1 | in 1h | quick",
                             topic=anime)
    assert created.thread == anime
    code = CODE.search(created.text)[1]  # type: ignore[index]
    announcement = await fake.wait_post(forum, f"join code {code}", topic=anime)
    listed_elsewhere = await fake.ask(forum, gus, "/watchparty list", topic=docs)
    assert listed_elsewhere.thread == docs and listed_elsewhere.text.startswith("No upcoming")
    in_general = await fake.ask(forum, gus, "/watchparty list")
    assert in_general.thread is None and in_general.text.startswith("No upcoming")
    listed = await fake.ask(forum, gus, "/watchparty list", topic=anime)
    assert code in listed.entity_texts("code")

    # Guides belong to the whole forum; buttons, answers, reactions and votes to the topic.
    fake.press(announcement, gus, "Going")
    await fake.wait_for(lambda: "Going 1" in announcement.text, what="the RSVP count")
    await fake.ask(forum, hana, "/watchparty start now", topic=anime)
    go = await fake.wait_post(forum, "▶ GO", topic=anime, within=6)
    prompt = await fake.wait_post(forum, "Chapter 1 of 3", topic=anime, within=6)
    fake.reply(forum, gus, prompt, "In a topic")
    fake.react(prompt, gus, ["🎉"])
    poll = await fake.wait_poll(forum, anime, within=6)
    fake.vote(poll, gus, [1])
    await fake.wait_post(forum, "Chapter 3 of 3", topic=anime, within=6)
    await fake.wait_idle()
    assert all(p.thread == anime for p in fake.in_chat(forum)
               if p.reply_to is None and p.kind != "document"), fake.transcript()
    assert go.thread == anime
    topic_chat = f"{forum['id']}/{anime}"
    rows = stored(str(bot.settings.database_url).removeprefix("sqlite:///"),
                  "SELECT kind, chat_id, value FROM records ORDER BY id")
    assert rows == [("rsvp", topic_chat, "going"), ("answer", topic_chat, "In a topic"),
                    ("reaction_added", topic_chat, "🎉"),
                    ("poll_vote", topic_chat, "The walk & talk")]


async def test_a_group_that_becomes_a_supergroup_keeps_its_parties(
        fake: FakeTelegram, start_bot: StartBot) -> None:
    hana, gus = fake.add_user("Hana"), fake.add_user("Gus")
    group = fake.add_group("Family", supergroup=False, members=[(hana, "creator"),
                                                                 (gus, "member")])
    bot = await start_bot()
    code = CODE.search((await fake.ask(group, hana, "/watchparty create Doc night | in 1h | "
                                                    "quick")).text)[1]  # type: ignore[index]
    announcement = await fake.wait_post(group, f"join code {code}")
    fake.press(announcement, gus, "Going")
    await fake.wait_for(lambda: "Going 1" in announcement.text, what="the RSVP count")
    await fake.ask(group, hana, "/watchparty settings timezone=Europe/Berlin")

    supergroup = fake.migrate(group, hana)
    await fake.wait_idle()
    listed = await fake.ask(supergroup, gus, "/watchparty list")
    assert code in listed.entity_texts("code")
    settings = await fake.ask(supergroup, hana, "/watchparty settings")
    assert "timezone: Europe/Berlin" in settings.text
    assert "✅ 1 going" in (await fake.ask(supergroup, gus, f"/watchparty info {code}")).text
    await fake.ask(supergroup, hana, "/watchparty start now")
    await fake.wait_post(supergroup, "▶ GO", within=6)
    db = str(bot.settings.database_url).removeprefix("sqlite:///")
    assert stored(db, "SELECT chat_id FROM records") == [(str(supergroup["id"]),)]
    assert stored(db, "SELECT home_chat_id FROM parties") == [(str(supergroup["id"]),)]


async def test_a_silent_migration_is_learnt_from_the_error(fake: FakeTelegram,
                                                           start_bot: StartBot) -> None:
    """The bot misses the service message: the 400 with migrate_to_chat_id moves the party."""
    hana = fake.add_user("Hana")
    group = fake.add_group("Family", supergroup=False, members=[(hana, "creator")])
    bot = await start_bot()
    await fake.ask(group, hana, "/watchparty create Quiet move | in 1h | quick")
    fake.allowed = frozenset()  # the service messages of the move get lost
    supergroup = fake.migrate(group, hana)
    fake.allowed = frozenset({"message", "callback_query"})
    await fake.wait_idle()
    fake.command(group, hana, "/watchparty start now")  # typed just before the move
    await fake.wait_post(supergroup, "Countdown started for Quiet move")
    await fake.wait_post(supergroup, "▶ GO", within=6)
    db = str(bot.settings.database_url).removeprefix("sqlite:///")
    assert stored(db, "SELECT home_chat_id FROM parties") == [(str(supergroup["id"]),)]


async def test_a_group_without_an_admin_bot_is_told_once(fake: FakeTelegram,
                                                         start_bot: StartBot) -> None:
    hana = fake.add_user("Hana")
    group = fake.add_group("Quiet", bot_status="member", members=[(hana, "creator")])
    admin_group = fake.add_group("Loud", members=[(hana, "creator")])
    await start_bot()
    await fake.ask(group, hana, "/watchparty create First | in 1h")
    first = await fake.wait_post(group, "🎬 First")
    assert "I'm not an administrator of this group" in first.text
    fake.press(first, hana, "Going")
    await fake.wait_for(lambda: "Going 1" in first.text, what="the edited announcement")
    fake.react(first, hana, ["👍"])
    assert fake.dropped, "Telegram does not tell a bot that is no administrator of reactions"
    assert "I'm not an administrator of this group" in first.text, "an edit keeps the note"
    await fake.ask(group, hana, "/watchparty create Second | in 2h")
    second = await fake.wait_post(group, "🎬 Second")
    assert "administrator" not in second.text
    helped = await fake.ask(group, hana, "/watchparty help")
    assert "I'm not an administrator of this group" in helped.text
    assert "administrator" not in (await fake.ask(admin_group, hana, "/watchparty help")).text


async def test_private_chat_and_start(fake: FakeTelegram, start_bot: StartBot) -> None:
    hana = fake.add_user("Hana")
    fake.started.add(hana["id"])
    private = fake.private_chat(hana)
    await start_bot()
    started = await fake.ask(private, hana, "/start")
    assert "press play together" in started.text
    reply = await fake.ask(private, hana, "/watchparty create Solo | in 1h")
    assert reply.text.startswith("Party Solo created")
    settings = await fake.ask(private, hana, "/watchparty settings")
    assert "Settings of this chat" in settings.text  # a private chat is the user's own
