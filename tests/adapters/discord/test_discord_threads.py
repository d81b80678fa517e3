"""A thread per party (setting `threads`) through the real discord.py client and the fake Discord.

The announcement, the countdown and GO stay in the channel; the thread is started off the
announcement, and the prompts, the poll, the answers' echoes and the summary go there. What
people do in the thread is recorded as done in the channel.
"""

from __future__ import annotations

from typing import Any

from discord_harness import RunningBot
from discord_helpers import create_party, export_of, posted_texts, records
from fakediscord import FakeDiscord, User


async def _threads_on(fake: FakeDiscord, mod: User, channel: int) -> None:
    saved = await fake.wait_answer(await fake.slash(mod, "settings", channel=channel,
                                                    threads=True))
    assert "threads: yes" in saved.text, saved.text


async def _start(fake: FakeDiscord, host: User, channel: int) -> None:
    started = await fake.wait_answer(await fake.slash(host, "start", channel=channel))
    assert "Countdown started" in started.text, started.text


async def _to_the_end(fake: FakeDiscord, bot: RunningBot, host: User,
                      channel: int) -> list[str]:
    """Start the party now, let it run to its summary in the channel; the channel's texts."""
    await _start(fake, host, channel)
    await fake.wait_message("is over", channel, within=12)
    await bot.settle()
    return posted_texts(fake, channel)


def _thread_posts(fake: FakeDiscord) -> list[Any]:
    return [r for r in fake.requests if r.method == "POST" and r.path.endswith("/threads")]


async def test_a_party_thread_gets_prompts_answers_and_summary(fake: FakeDiscord,
                                                               bot: RunningBot) -> None:
    host, guest = fake.person("Hana"), fake.person("Gus")
    mod = fake.person("Mo", moderator=True)
    channel = fake.channels[0]
    await _threads_on(fake, mod, channel)

    code, announcement = await create_party(fake, host, "Quick Film night", when="in 30s")
    [thread] = await fake.wait_until(lambda: fake.thread_of(channel), 5, "the party's thread")
    # Started off the announcement, named after the party.
    assert thread["id"] == announcement["id"]
    assert thread["name"] == f"Quick Film night · {code}"
    thread_id = int(thread["id"])

    await _start(fake, host, channel)
    await fake.wait_message("▶ GO", channel)
    prompt = await fake.wait_message("What did you notice first?", thread_id, within=5)

    # An answer given in the thread: its echo is in the thread, public.
    opened = await fake.wait_answer(await fake.click(guest, prompt, "Answer"))
    assert opened.kind == 9 and opened.channel_id == thread_id
    echoed = await fake.wait_answer(await fake.submit_modal(guest, opened, "My phone, buzzing.",
                                                            prompt))
    assert echoed.channel_id == thread_id and not echoed.ephemeral
    assert "Gus" in echoed.text and "My phone, buzzing." in echoed.text
    await fake.react(guest, prompt, "😂")
    poll = await fake.wait_message("Best scene so far?", thread_id, within=5)
    await fake.vote(guest, poll, 1)
    summary = await fake.wait_message("is over", thread_id, within=8)
    assert "1 answered" in summary["content"]
    await bot.settle()

    # The channel keeps the announcement, the countdown and GO; the discussion is in the thread.
    in_channel = posted_texts(fake, channel)
    assert any("GO at" in t for t in in_channel) and sum("▶ GO" in t for t in in_channel) == 1
    assert not any("💬 Chapter" in t or "is over" in t or "Best scene" in t for t in in_channel)
    in_thread = posted_texts(fake, thread_id)
    assert [t.split(" — ")[0] for t in in_thread if "💬 Chapter" in t] == [
        "💬 Chapter 1 of 3", "💬 Chapter 2 of 3", "💬 Chapter 3 of 3"]
    assert not any("▶ GO" in t or "GO at" in t for t in in_thread)
    assert len(_thread_posts(fake)) == 1

    # What was done in the thread is the party's, recorded as done in the channel.
    exported = await fake.wait_answer(await fake.slash(mod, "export", channel=channel, party=code))
    data = export_of(exported)
    [answer] = records(data, "answer")
    assert (answer["display_name"], answer["prompt"], answer["value"]) == (
        "Gus", "1.1", "My phone, buzzing.")
    [reaction] = records(data, "reaction_added")
    assert (reaction["value"], reaction["message_id"]) == ("😂", prompt["id"])
    assert [v["value"] for v in records(data, "poll_vote")] == ["The call"]
    assert {r["chat_id"] for r in data["records"]} == {str(channel)}
    stored = await bot.runtime.core.store.get_party_by_code(code)
    assert stored is not None
    assert [(link.chat.chat_id, link.thread and link.thread.chat_id)
            for link in stored.chats] == [(str(channel), str(thread_id))]

    # Forget-me in the channel covers what Gus did in the party's thread.
    forgot = await fake.wait_answer(await fake.slash(guest, "forget-me", channel=channel))
    assert "3 records" in forgot.text, forgot.text
    again = export_of(await fake.wait_answer(await fake.slash(mod, "export", channel=channel,
                                                                party=code)))
    assert not records(again, "answer") and not records(again, "poll_vote")


async def test_without_the_permission_it_says_so_once_and_posts_in_the_channel(
        fake: FakeDiscord, bot: RunningBot) -> None:
    host, mod = fake.person("Hana"), fake.person("Mo", moderator=True)
    channel = fake.channels[0]
    fake.threads_denied.add(channel)
    await _threads_on(fake, mod, channel)

    await create_party(fake, host, "Quick Film night", when="in 30s")
    notice = await fake.wait_message("may not create threads", channel)
    assert "Create Public Threads" in notice["content"]
    texts = await _to_the_end(fake, bot, host, channel)
    assert sum("may not create threads" in t for t in texts) == 1
    assert sum("💬 Chapter" in t for t in texts) == 3
    assert not fake.threads
    assert [r.status for r in _thread_posts(fake)] == [403]


async def test_a_deleted_thread_loses_nothing(fake: FakeDiscord, bot: RunningBot) -> None:
    host, mod = fake.person("Hana"), fake.person("Mo", moderator=True)
    channel = fake.channels[0]
    await _threads_on(fake, mod, channel)

    await create_party(fake, host, "Quick Film night", when="in 30s")
    [thread] = await fake.wait_until(lambda: fake.thread_of(channel), 5, "the party's thread")
    fake.delete_thread(int(thread["id"]))
    texts = await _to_the_end(fake, bot, host, channel)
    # Each post meant for the thread met Unknown Channel there and went to the channel.
    assert sum("💬 Chapter" in t for t in texts) == 3
    assert sum("Best scene so far?" in t for t in texts) == 1
    gone = [r for r in fake.message_posts() if r.path == f"/channels/{thread['id']}/messages"]
    assert gone and all(r.status == 404 for r in gone)
