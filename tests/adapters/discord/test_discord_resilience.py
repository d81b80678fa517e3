"""What goes wrong in production: restarts, gateway reconnects, 429 storms, lost responses, and
user text that tries to ping or format."""

from __future__ import annotations

import json
import re
from typing import Any

from discord_harness import RunningBot, StartBot
from discord_helpers import buttons, create_party, export_of, posted_texts, records
from fakediscord import FakeDiscord, message_text

from bot.chats import ChatRef
from bot.richtext import Message, Text


def _prompts(fake: FakeDiscord, channel: int | None = None) -> list[str]:
    return [t.split(" — ")[0] for t in posted_texts(fake, channel) if "💬 Chapter" in t]


async def test_buttons_work_after_a_restart(fake: FakeDiscord, start_bot: StartBot) -> None:
    host, guest = fake.person("Hana"), fake.person("Gus")
    mod = fake.person("Mo", moderator=True)
    first = await start_bot()
    code, announcement = await create_party(fake, host, "Restart night", when="in 30m")
    await fake.wait_answer(await fake.slash(mod, "link", fake.channels[1], code=code))
    request = await fake.wait_message("asks to link")
    await first.stop()  # …and the bot is gone, every live Python object with it

    second = await start_bot()
    # buttons posted by the first process: their state is only in custom_id
    going = await fake.wait_answer(await fake.click(guest, announcement, "Going"))
    assert going.ephemeral and "You're going to" in going.text
    await fake.wait_until(lambda: "Going 1 " in message_text(announcement), 5, "the count")
    approved = await fake.wait_answer(await fake.click(host, request, "Approve"))
    assert "Linked" in approved.text
    await fake.wait_answer(await fake.slash(host, "start"))
    prompt = await fake.wait_message("What did you notice first?", within=8)
    await second.stop()

    third = await start_bot()
    # the Answer button of a prompt posted by the second process
    opened = await fake.wait_answer(await fake.click(guest, prompt, "Answer"))
    assert opened.kind == 9
    echoed = await fake.wait_answer(await fake.submit_modal(guest, opened, "After restart",
                                                            prompt))
    assert "After restart" in echoed.text
    await fake.wait_message("is over", within=10)
    await third.settle()
    data = export_of(await fake.wait_answer(await fake.slash(mod, "export", party=code)))
    assert [(a["prompt"], a["value"]) for a in records(data, "answer")] == [
        ("1.1", "After restart")]
    assert [r["value"] for r in records(data, "rsvp")] == ["going"]
    # the schedule went on in the new process: every prompt once, in both channels
    for channel in fake.channels[:2]:
        assert _prompts(fake, channel) == [
            "💬 Chapter 1 of 3", "💬 Chapter 2 of 3", "💬 Chapter 3 of 3"]


async def test_reconnect_and_resume_mid_party(fake: FakeDiscord, bot: RunningBot) -> None:
    host, guest = fake.person("Hana"), fake.person("Gus")
    mod = fake.person("Mo", moderator=True)
    code, _ = await create_party(fake, host, "Flaky network", when="in 30m")
    await fake.wait_answer(await fake.slash(host, "start"))
    go = await fake.wait_message("▶ GO", within=6)

    # RECONNECT; while the bot is away a reaction and a command happen: RESUME replays them
    await fake.reconnect()
    await fake.react(guest, go, "🍿")
    info = await fake.slash(guest, "now")
    await fake.wait_resumed(1)
    assert "Seek to" in (await fake.wait_answer(info)).text
    first = await fake.wait_message("What did you notice first?", within=5)
    await fake.reconnect()
    await fake.react(guest, first, "🤯")
    await fake.wait_resumed(2)
    await fake.wait_message("is over", within=8)
    await bot.settle()

    assert fake.connections == 3 and len(fake.identifies) == 1  # resumed, never re-identified
    assert _prompts(fake) == ["💬 Chapter 1 of 3", "💬 Chapter 2 of 3", "💬 Chapter 3 of 3"]
    assert sum("▶ GO" in t for t in posted_texts(fake)) == 1
    data = export_of(await fake.wait_answer(await fake.slash(mod, "export", party=code)))
    assert sorted(r["value"] for r in records(data, "reaction_added")) == ["🍿", "🤯"]
    assert info.callback is not None and len(info.followups) == 0  # answered once


async def test_a_429_storm_delivers_every_message_once_in_order(
        fake: FakeDiscord, bot: RunningBot) -> None:
    host = fake.person("Hana")
    titles: list[str] = []

    async def burst(count: int) -> None:
        for _ in range(count):
            title = f"Storm {len(titles):02d}"
            titles.append(title)
            answer = await fake.wait_answer(await fake.slash(host, "create", title=title,
                                                             when="in 2h"))
            assert "created" in answer.text
        await fake.wait_until(lambda: len(fake.find(titles[-1])) == 1, 15, titles[-1])

    # Discord's per-channel limit, much tighter than the outbox's: announced in headers,
    # discord.py waits before it is exceeded…
    fake.channel_limit = (1, 0.25)
    await burst(5)
    assert fake.limited == 0
    # …unannounced (a shared or sub-limit), the requests meet 429s with retry_after…
    fake.limit_headers = False
    await burst(5)
    assert fake.limited >= 3
    # …and beyond what discord.py retries by itself, the outbox holds the chat and retries
    fake.channel_limit = None
    before = fake.limited
    fake.force_429 = 8
    await burst(2)
    await bot.settle()
    assert fake.limited == before + 8

    posted = [m["embeds"][0]["title"] for m in fake.channel_messages()]
    assert posted == titles  # every announcement once, in the order they were made
    accepted = [r for r in fake.message_posts() if r.status == 200]
    assert len(accepted) == len(titles)
    assert bot.runtime.outbox.retry_count >= 1


async def test_go_is_posted_once_when_its_response_is_lost(
        fake: FakeDiscord, bot: RunningBot) -> None:
    host = fake.person("Hana")
    fake.lose_response_to.add("▶ GO")  # Discord stores GO, then the response never arrives
    await create_party(fake, host, "Nonce night", when="in 30m")
    await fake.wait_answer(await fake.slash(host, "start"))
    await fake.wait_message("What did you notice first?", within=10)
    go_posts = [r for r in fake.message_posts() if "▶ GO" in ((r.body or {}).get("content") or "")]
    assert len(go_posts) >= 2  # the client retried…
    assert len({r.body["nonce"] for r in go_posts}) == 1  # …with the same nonce
    assert all(r.body["enforce_nonce"] is True for r in go_posts)
    assert sum("▶ GO" in t for t in posted_texts(fake)) == 1  # …and GO is there once


NASTY_TITLE = "@everyone **Film** _night_ <@123456789012345678> ||spoiler|| # big"
NASTY_ANSWER = "@here `code` **bold** <@&123456789012345678> > quote"


def _balanced(text: str) -> bool:
    unescaped = re.sub(r"\\.", "", text)
    return all(line.count("**") % 2 == 0 and line.count("`") % 2 == 0
               for line in unescaped.split("\n"))


async def test_user_text_can_neither_ping_nor_break_formatting(
        fake: FakeDiscord, bot: RunningBot) -> None:
    host, guest = fake.person("Hana"), fake.person("Gus")
    mod = fake.person("Mo", moderator=True)
    code, announcement = await create_party(fake, host, NASTY_TITLE, when="in 30m")
    await fake.wait_answer(await fake.slash(host, "start"))
    prompt = await fake.wait_message("What did you notice first?", within=8)
    opened = await fake.wait_answer(await fake.click(guest, prompt, "Answer"))
    echo = await fake.wait_answer(await fake.submit_modal(guest, opened, NASTY_ANSWER, prompt))
    await fake.wait_message("is over", within=8)
    await bot.settle()

    # every message the bot sent, and every interaction answer, allows no mention at all
    sent: list[dict[str, Any]] = [r.body for r in fake.requests
                                  if r.method in ("POST", "PATCH") and isinstance(r.body, dict)
                                  and ("content" in r.body or "embeds" in r.body
                                       or "data" in r.body)]
    assert sent
    for body in sent:
        payload = body.get("data", body) if "type" in body else body
        if "content" in payload or "embeds" in payload:
            assert payload.get("allowed_mentions") == {"parse": []}, payload
    # the title shows literally: escaped, with mentions defused, formatting intact
    embed = announcement["embeds"][0]
    for text in (embed["title"], embed["description"], *posted_texts(fake), echo.text):
        assert "@everyone" not in text and "@here" not in text
        assert "<@123456789012345678>" not in text and "<@&123456789012345678>" not in text
        assert _balanced(text), text
    assert "\\*\\*Film\\*\\*" in embed["title"] and "\\|\\|spoiler\\|\\|" in embed["title"]
    assert "\\`code\\`" in echo.text
    # …while what was recorded is exactly what was typed
    data = export_of(await fake.wait_answer(await fake.slash(mod, "export", party=code)))
    assert data["party"]["title"] == NASTY_TITLE
    assert [a["value"] for a in records(data, "answer")] == [NASTY_ANSWER]
    assert buttons(prompt) == ["Answer"]
    assert json.dumps(data)  # a clean document


async def test_reminders_ping_rsvped_people_only_where_enabled(
        fake: FakeDiscord, bot: RunningBot) -> None:
    host, guest = fake.person("Hana"), fake.person("Gus")
    mod = fake.person("Mo", moderator=True)
    pinging, quiet = fake.channels[0], fake.channels[1]
    store = bot.runtime.store
    settings = await store.get_chat_settings(ChatRef("discord", str(pinging)))
    settings.ping_reminders = True  # a per-chat preference (no slash option sets it yet)
    await store.save_chat_settings(settings)
    for channel in (pinging, quiet):
        await fake.wait_answer(await fake.slash(mod, "settings", channel, reminders="5s"))
        _, announcement = await create_party(fake, host, f"Soon in {channel}", when="in 8s",
                                             channel=channel)
        await fake.wait_answer(await fake.click(guest, announcement, "Going"))
    pinged = await fake.wait_message("🔔", pinging, within=8)
    silent = await fake.wait_message("🔔", quiet, within=8)
    assert f"<@{guest.id}>" in pinged["content"] and str(host.id) not in pinged["content"]
    assert pinged["allowed_mentions"]["parse"] == []  # never @everyone, @here or roles
    assert [str(u) for u in pinged["allowed_mentions"]["users"]] == [str(guest.id)]
    assert "<@" not in silent["content"] and silent["allowed_mentions"] == {"parse": []}


async def test_a_429_on_the_second_piece_of_a_long_post_posts_each_piece_once(
        fake: FakeDiscord, bot: RunningBot) -> None:
    channel = fake.channels[0]
    lines = [f"Line {n:03d}: " + "why did this happen, and what would you have done? " * 2
             for n in range(40)]  # over 4,000 characters: two pieces or more
    post_message = fake._post_message

    def then_refuse_the_rest(channel_id: int, body: dict[str, Any],
                             files: list[tuple[str, bytes]]) -> Any:
        response = post_message(channel_id, body, files)
        if (body.get("content") or "").startswith("Line 000") and response.status == 200:
            fake.force_429 = 5  # more than discord.py retries by itself: the outbox must
        return response

    fake._post_message = then_refuse_the_rest  # type: ignore[method-assign]
    delivered = bot.runtime.outbox.send(ChatRef("discord", str(channel)),
                                        Message((Text("\n".join(lines)),)))
    await fake.wait_until(delivered.done, 20, "the long post, after the 429s")
    assert delivered.exception() is None
    posted = [m["content"] for m in fake.channel_messages(channel)]
    assert len(posted) >= 2 and "\n".join(posted) == "\n".join(lines)
    assert delivered.result() == fake.channel_messages(channel)[-1]["id"]
    assert fake.limited >= 5 and bot.runtime.outbox.retry_count >= 1
    accepted = [r for r in fake.message_posts() if r.status == 200]
    assert len(accepted) == len(posted)  # the first piece was not posted again
