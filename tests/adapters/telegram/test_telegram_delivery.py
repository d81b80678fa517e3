"""What leaves the bot: HTML that never lets user text through as markup, long texts cut at line
boundaries, and a 429 storm weathered without losing, repeating or reordering a message."""

from __future__ import annotations

import json
from typing import Any

from faketelegram import FakeTelegram, utf16
from tgharness import StartBot

from bot import render
from bot.guide import parse_guide

HOSTILE = '<b>Tom</b> & "Jerry" <3 &amp; </i><a href="https://x.example">x</a>'


def long_guide() -> bytes:
    """A valid guide whose `guide show` is far over one Telegram message."""
    chapters = []
    for number in range(1, 9):
        questions = ", ".join(
            f'"Question {number}.{q}: ' + "why & how <exactly> " * 5 + '?"' for q in range(1, 9))
        chapters.append(f'[[chapters]]\ntitle = "Part {number} <{number}>"\n'
                        f'ends_at = "0:{number:02d}:00"\nquestions = [{questions}]\n')
    return ('title = "Long one"\nruntime = "0:10:00"\n' + "\n".join(chapters)).encode()


async def test_user_text_is_shown_literally(fake: FakeTelegram, start_bot: StartBot) -> None:
    bob = fake.add_user("<i>Bob</i>", "& Co")
    gus = fake.add_user("Gus")
    group = fake.add_group("Escapes", members=[(bob, "creator"), (gus, "member")])
    await start_bot()
    created = await fake.ask(group, bob, f"/watchparty create {HOSTILE} | in 1h | quick")
    assert created.text.startswith(f"Party {HOSTILE} created for")
    announcement = await fake.wait_post(group, "🎬")
    assert announcement.text.startswith(f"🎬 {HOSTILE}\n")
    assert "Hosted by <i>Bob</i> & Co · join code" in announcement.text
    assert HOSTILE in announcement.entity_texts("bold")
    assert "<i>Bob</i> & Co" in announcement.entity_texts("bold")
    assert not [e for e in announcement.entities if e["type"] in ("text_link", "italic")
                and "Bob" in announcement.text[e["offset"]:]], announcement.entities[:0]
    assert "&amp;" in announcement.html and "&lt;b&gt;" in announcement.html
    listed = await fake.ask(group, gus, "/watchparty list")
    assert HOSTILE in listed.text

    await fake.ask(group, bob, "/watchparty start now")
    go = await fake.wait_post(group, "▶ GO", within=8)
    assert go.text == f"▶ GO — press play now ({HOSTILE})"
    prompt = await fake.wait_post(group, "Chapter 1 of 3", within=8)
    fake.reply(group, gus, prompt, HOSTILE)
    fake.reply(group, gus, prompt, "1 < 2 > 0 && <script>alert(1)</script>")
    await fake.wait_for(lambda: len(fake.reactions_set) == 2, what="both answers recorded")
    await fake.wait_idle()
    fake.command(group, bob, "/watchparty export")
    export = await fake.wait_for(lambda: (fake.in_chat(group, kind="document") or [None])[0],
                                 what="the export")
    doc = json.loads(export.document)
    assert doc["party"]["title"] == HOSTILE
    answers = [r["value"] for r in doc["records"] if r["kind"] == "answer"]
    assert answers == [HOSTILE, "1 < 2 > 0 && <script>alert(1)</script>"]
    assert export.text.startswith(f"Discussion log of {HOSTILE} (json).")


async def test_long_texts_are_cut_between_lines(fake: FakeTelegram, start_bot: StartBot) -> None:
    hana = fake.add_user("Hana")
    group = fake.add_group("Readers", members=[(hana, "creator")])
    await start_bot()
    _, message = fake.upload(group, hana, "long.toml", long_guide(), "/watchparty guide upload")
    assert "Guide long saved" in (await fake.reply_to(group, message)).text
    before = len(fake.in_chat(group))
    first = await fake.ask(group, hana, "/watchparty guide show long")
    await fake.wait_for(lambda: "Question 8.8" in fake.in_chat(group)[-1].text,
                        what="the last part")
    parts = fake.in_chat(group)[before:]
    assert parts[0] is first and len(parts) == 2, [utf16(p.text) for p in parts]
    assert all(utf16(p.text) <= 4096 for p in parts)
    whole = "\n".join(p.text for p in parts)
    expected = render.guide_detail(parse_guide(long_guide(), "long")).plain()
    assert whole.rstrip("\n") == expected.rstrip("\n"), "cut between lines, nothing lost"
    assert whole.count("why & how <exactly>") == 8 * 8 * 5
    assert [p.reply_to for p in parts] == [first.reply_to, None]


async def test_a_429_storm_loses_repeats_and_reorders_nothing(fake: FakeTelegram,
                                                              start_bot: StartBot) -> None:
    hana = fake.add_user("Hana")
    group = fake.add_group("Busy", members=[(hana, "creator")])
    quiet = fake.add_group("Quiet", members=[(hana, "creator")])
    bot = await start_bot()
    _, message = fake.upload(group, hana, "long.toml", long_guide(), "/watchparty guide upload")
    await fake.reply_to(group, message)
    storm = fake.storm(group, retry_after=1, accept=2)

    asked: list[dict[str, Any]] = []
    texts = ["/watchparty list", "/watchparty privacy", "/watchparty guide show long",
             "/watchparty guide list", "/watchparty settings", "/watchparty help",
             "/watchparty guide show quick", "/watchparty frobnicate", "/watchparty list"]
    for text in texts:
        asked.append(fake.command(group, hana, text)[1])
    other = await fake.ask(quiet, hana, "/watchparty list")  # another chat is not held up
    assert other.at < fake.in_chat(group)[-1].at + 1.0

    def answered() -> bool:
        replies = {p.reply_to for p in fake.in_chat(group)}
        return all(m["message_id"] in replies for m in asked) and any(
            "Question 8.8" in p.text for p in fake.in_chat(group))
    await fake.wait_for(answered, within=30, what="every reply through the storm")
    await fake.wait_idle()
    assert bot.runtime.outbox.queued() == 0
    posts = fake.in_chat(group)[1:]  # after the upload's reply
    order = [p.reply_to for p in posts if p.reply_to is not None]
    assert order == [m["message_id"] for m in asked], "each command answered once, in order"
    assert len(posts) == len(texts) + 1, "the long reply in two parts, each part once"
    long_at = next(i for i, p in enumerate(posts) if p.text.startswith("Long one"))
    assert posts[long_at + 1].reply_to is None
    assert "Question 8.8" in posts[long_at + 1].text
    assert storm.refusals >= 3, storm
    assert storm.violations == [], f"requests inside retry_after: {storm.violations}"
    assert bot.runtime.outbox.retry_count >= storm.refusals


async def test_a_429_between_the_parts_of_a_long_text_posts_each_part_once(
        fake: FakeTelegram, start_bot: StartBot) -> None:
    hana = fake.add_user("Hana")
    group = fake.add_group("Split", members=[(hana, "creator")])
    bot = await start_bot()
    _, message = fake.upload(group, hana, "long.toml", long_guide(), "/watchparty guide upload")
    await fake.reply_to(group, message)
    before = len(fake.in_chat(group))
    storm = fake.storm(group, retry_after=1, accept=1)  # the first part goes, the second waits
    first = await fake.ask(group, hana, "/watchparty guide show long")
    await fake.wait_for(lambda: "Question 8.8" in fake.in_chat(group)[-1].text,
                        within=15, what="the last part, after the wait")
    await fake.wait_idle()
    assert storm.refusals == 1 and storm.violations == [], storm
    assert bot.runtime.outbox.retry_count >= 1
    parts = fake.in_chat(group)[before:]
    assert parts[0] is first and len(parts) == 2, [p.text[:30] for p in parts]
    expected = render.guide_detail(parse_guide(long_guide(), "long")).plain()
    assert "\n".join(p.text for p in parts).rstrip("\n") == expected.rstrip("\n")
    assert [p.reply_to for p in parts] == [first.reply_to, None]
