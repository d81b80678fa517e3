"""A topic per party (setting `threads`) through the real python-telegram-bot and the fake Bot API.

In a forum group where the bot may manage topics, the first announcement opens a topic for the
party (createForumTopic) and a link to it is posted in the group; the prompts, the poll and the
summary go to the topic, the announcement, the countdown and GO stay in the group. Replies and
reactions in the topic are recorded as made in the group.
"""

from __future__ import annotations

import re
import sqlite3

import pytest
from faketelegram import FakeTelegram
from tgharness import RunningBot, StartBot

CODE = re.compile(r"Join code ([A-Z2-9]{6})\.")


def stored(bot: RunningBot, sql: str) -> list[tuple[object, ...]]:
    """Read the bot's database as an operator would."""
    with sqlite3.connect(str(bot.settings.database_url).removeprefix("sqlite:///")) as conn:
        return conn.execute(sql).fetchall()


async def test_a_forum_group_gets_a_topic_per_party(fake: FakeTelegram,
                                                    start_bot: StartBot) -> None:
    hana, gus = fake.add_user("Hana"), fake.add_user("Gus")
    forum = fake.add_group("Series fans", forum=True, bot_rights=["can_manage_topics"],
                           members=[(hana, "creator"), (gus, "member")])
    bot = await start_bot()
    settings = await fake.ask(forum, hana, "/watchparty settings threads=yes")
    assert "threads: yes" in settings.text

    created = await fake.ask(forum, hana, "/watchparty create Episode 1 | in 1h | quick")
    code = CODE.search(created.text)[1]  # type: ignore[index]
    announcement = await fake.wait_post(forum, f"join code {code}")
    notice = await fake.wait_post(forum, "are in its topic")
    [call] = fake.calls_to("createForumTopic", forum)
    assert call.params["name"] == f"Episode 1 · {code}"
    [(topic, opened)] = [(key[1], t) for key, t in fake.topics.items()
                         if t["creator"] == fake.bot_id]
    assert opened["name"] == f"Episode 1 · {code}"
    assert f"https://t.me/c/{str(forum['id']).removeprefix('-100')}/{topic}" in notice.text
    assert announcement.thread is None and notice.thread is None

    await fake.ask(forum, hana, "/watchparty start now")
    go = await fake.wait_post(forum, "▶ GO", within=6)
    prompt = await fake.wait_post(forum, "Chapter 1 of 3", topic=topic, within=6)
    # An answer is a reply in the topic; a reaction there counts too.
    fake.reply(forum, gus, prompt, "In the party's topic")
    fake.react(prompt, gus, ["🎉"])
    poll = await fake.wait_poll(forum, topic, within=6)
    fake.vote(poll, gus, [1])
    summary = await fake.wait_post(forum, "is over", topic=topic, within=10)
    assert "1 answered" in summary.text
    await fake.wait_idle()

    # GO and the countdown in the group; every question, the poll and the summary in the topic.
    assert go.thread is None
    assert [p.thread for p in fake.in_chat(forum) if "GO at" in p.text] == [None]
    sends = [c for c in fake.calls_to("sendMessage", forum) if "💬 Chapter" in str(c.params)]
    assert len(sends) == 3 and all(c.params.get("message_thread_id") == topic for c in sends)
    assert [p.thread for p in fake.in_chat(forum, kind="poll")] == [topic]

    # Recorded as done in the group (its records, its forget-me), the topic on the link.
    group_chat = str(forum["id"])
    assert stored(bot, "SELECT kind, chat_id, value FROM records ORDER BY id") == [
        ("answer", group_chat, "In the party's topic"), ("reaction_added", group_chat, "🎉"),
        ("poll_vote", group_chat, "The walk & talk")]
    assert stored(bot, "SELECT chat_id, thread_id FROM party_chats") == [
        (group_chat, f"{group_chat}/{topic}")]
    forgot = await fake.ask(forum, gus, "/watchparty forget-me")
    assert "3 records" in forgot.text
    assert stored(bot, "SELECT kind FROM records") == []


@pytest.mark.parametrize(("forum", "said"), [(True, "I may not create threads here"),
                                             (False, "This group is not a forum")])
async def test_no_topic_without_the_right_it_says_so_once(fake: FakeTelegram,
                                                          start_bot: StartBot, forum: bool,
                                                          said: str) -> None:
    hana = fake.add_user("Hana")
    group = fake.add_group("Film club", forum=forum, members=[(hana, "creator")])
    await start_bot()
    await fake.ask(group, hana, "/watchparty settings threads=yes")
    await fake.ask(group, hana, "/watchparty create Episode 1 | in 1h | quick")
    notice = await fake.wait_post(group, said)
    assert notice.thread is None
    await fake.ask(group, hana, "/watchparty start now")
    await fake.wait_post(group, "is over", within=10)
    await fake.wait_idle()

    texts = [p.text for p in fake.in_chat(group)]
    assert sum(said in t for t in texts) == 1
    assert sum("Chapter" in t and " of 3" in t for t in texts) == 3
    assert all(p.thread is None for p in fake.in_chat(group))
    assert [c.status for c in fake.calls_to("createForumTopic", group)] == [400]
    assert not [t for t in fake.topics.values() if t["creator"] == fake.bot_id]


async def test_a_deleted_topic_loses_nothing(fake: FakeTelegram, start_bot: StartBot) -> None:
    hana = fake.add_user("Hana")
    forum = fake.add_group("Series fans", forum=True, bot_rights=["can_manage_topics"],
                           members=[(hana, "creator")])
    await start_bot()
    await fake.ask(forum, hana, "/watchparty settings threads=yes")
    await fake.ask(forum, hana, "/watchparty create Episode 1 | in 1h | quick")
    await fake.wait_post(forum, "are in its topic")
    [topic] = [key[1] for key, t in fake.topics.items() if t["creator"] == fake.bot_id]
    fake.delete_topic(forum, topic)
    await fake.ask(forum, hana, "/watchparty start now")
    await fake.wait_post(forum, "is over", within=10)
    await fake.wait_idle()

    # Each post meant for the topic found no thread there and went to the group.
    in_group = [p for p in fake.in_chat(forum) if p.thread is None]
    assert sum("Chapter" in p.text and " of 3" in p.text for p in in_group) == 3
    assert [p.kind for p in in_group].count("poll") == 1
    refused = [c for c in fake.calls if c.params.get("message_thread_id") == topic]
    assert refused and all(c.status == 400 for c in refused)
