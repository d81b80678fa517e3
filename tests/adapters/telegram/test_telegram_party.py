"""A whole party on Telegram, through the real python-telegram-bot and the fake Bot API.

announcement (date_time entity, join code, RSVP keyboard) → Going → ready check → Ready →
countdown → GO → chapter prompts → replies as answers → reactions → a native poll and its
votes → closing summary → export documents that contain all of it.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from faketelegram import FakeTelegram, Posted
from tgharness import StartBot

from adapters.telegram.chats import chat_ref
from bot.party import ACTIVE_STATES

TITLE = "Quick <Reel> & Co"
ANSWER = "It's <i>fine</i> & I'd say 2 > 1"


def records(export: Posted) -> list[dict[str, object]]:
    """The records of a JSON export document."""
    doc = json.loads(export.document)
    result: list[dict[str, object]] = doc["records"]
    return result


async def test_a_whole_party(fake: FakeTelegram, start_bot: StartBot) -> None:
    hana, gus, mo = fake.add_user("Hana"), fake.add_user("Gus", "Grey"), fake.add_user("Mo")
    group = fake.add_group("Film club", members=[(hana, "creator"), (gus, "member"),
                                                  (mo, "administrator")])
    fake.started.add(mo["id"])  # Mo has opened a private chat with the bot
    bot = await start_bot()

    # Create: the reply, and the announcement with its keyboard.
    fake.command(group, hana, f"/watchparty create {TITLE} | in 11s | quick")
    created = await fake.wait_post(group, "created for")
    assert created.reply_to is not None
    announcement = await fake.wait_post(group, "Going 0")
    assert announcement.text.startswith(f"🎬 {TITLE}\nStarts ")
    assert TITLE in announcement.entity_texts("bold")
    [when] = [e for e in announcement.entities if e["type"] == "date_time"
              and e["date_time_format"] == "wDt"]
    party = await bot.runtime.store.parties_for_chat(chat_ref(group["id"]), ACTIVE_STATES)
    assert when["unix_time"] == int(party[0].starts_at.timestamp())
    assert announcement.entity_texts("date_time")[0] == datetime.fromtimestamp(
        when["unix_time"], UTC).strftime("%a %d %b %Y, %H:%M UTC")
    code = party[0].code
    assert code in announcement.entity_texts("code")
    assert [b["text"] for b in announcement.buttons[0]] == ["Going", "Maybe", "Not going"]
    assert all(len(d.encode()) <= 64 for d in announcement.button_data())
    assert "not an administrator" not in announcement.text

    # RSVP by button: a toast for Gus, the count kept current by editing the announcement.
    _, query = fake.press(announcement, gus, "Going")
    await fake.wait_for(lambda: fake.answer_to(query), what="the RSVP toast")
    assert fake.answer_to(query) == {"text": f"You're going to {TITLE}.", "show_alert": False}
    await fake.wait_for(lambda: "Going 1" in announcement.text, what="the RSVP count")

    # Start when one person is ready; the ready check brings the Ready button.
    fake.command(group, hana, "/watchparty start ready 1")
    await fake.wait_post(group, "starts when 1 people are ready")
    ready_check = await fake.wait_post(group, "press Ready", within=10)
    _, query = fake.press(ready_check, gus, "Ready")
    countdown = await fake.wait_post(group, "GO at")
    assert [e["date_time_format"] for e in countdown.entities if e["type"] == "date_time"] == [
        "T", "r"]
    go = await fake.wait_post(group, "▶ GO — press play now", within=6)
    assert fake.answer_to(query) is not None

    # Prompts: a reply to one is an answer, acknowledged with a reaction, not a message.
    first = await fake.wait_post(group, "Chapter 1 of 3", within=6)
    assert "What did you <b>notice</b> first & why?" in first.text
    assert not first.buttons, "the Answer button is Discord's; on Telegram a reply answers"
    assert "notice" not in "".join(first.entity_texts("bold"))
    _, answer_message = fake.reply(group, gus, first, ANSWER)
    fake.reply(group, mo, first, "Short.")
    await fake.wait_for(lambda: len(fake.reactions_set) == 2, what="two answers acknowledged")
    assert fake.reactions_set[0][:2] == (group["id"], answer_message["message_id"])
    assert fake.reactions_set[0][2] == [{"type": "emoji", "emoji": "✍"}]
    fake.react(first, gus, ["😂"])
    fake.react(first, mo, ["🔥"])
    fake.react(first, gus, ["🔥"], old=["😂"])  # changed their mind: one removed, one added
    fake.react(go, gus, ["👍"])

    poll = await fake.wait_for(lambda: (fake.in_chat(group, kind="poll") or [None])[0],
                               what="the poll")
    assert poll.json["poll"]["is_anonymous"] is False
    assert [o["text"] for o in poll.json["poll"]["options"]] == ["The <call>", "The walk & talk"]
    assert poll.text == "📊 Chapter 2 — Middle: Best scene so far?"
    fake.vote(poll, gus, [0])
    fake.vote(poll, mo, [1])
    fake.vote(poll, mo, [0])  # a changed vote

    summary = await fake.wait_post(group, "is over", within=15)
    assert "Attendance: 1 going · 1 ready · 2 answered" in summary.text
    assert "Chapter 1, Opening: 2 answers" in summary.text
    await fake.wait_idle()

    # Export by the group's creator, who has no private chat with the bot: here, with a note.
    fake.command(group, hana, f"/watchparty export {code}")
    export = await fake.wait_for(lambda: (fake.in_chat(group, kind="document") or [None])[0],
                                 what="the export document")
    assert export.filename == f"watchparty-{code}.json"
    assert "couldn't send it privately" in export.text
    got = records(export)
    kinds = [(r["kind"], r["display_name"], r["value"]) for r in got]
    assert ("rsvp", "Gus Grey", "going") in kinds
    assert ("ready", "Gus Grey", "ready") in kinds
    assert ("answer", "Gus Grey", ANSWER) in kinds
    assert ("answer", "Mo", "Short.") in kinds
    reactions = [(r["kind"], r["display_name"], r["value"], r["prompt"]) for r in got
                 if str(r["kind"]).startswith("reaction")]
    assert reactions == [
        ("reaction_added", "Gus Grey", "😂", "1.1"), ("reaction_added", "Mo", "🔥", "1.1"),
        ("reaction_removed", "Gus Grey", "😂", "1.1"), ("reaction_added", "Gus Grey", "🔥", "1.1"),
        ("reaction_added", "Gus Grey", "👍", None)]
    votes = [(r["display_name"], r["value"]) for r in got if r["kind"] == "poll_vote"]
    assert votes == [("Gus Grey", "The <call>"), ("Mo", "The walk & talk"), ("Mo", "The <call>")]
    assert all(r["platform"] == "telegram" and r["chat_id"] == str(group["id"]) for r in got)

    # A moderator with a private chat gets the export there; the group gets a note.
    fake.command(group, mo, f"/watchparty export {code} | json | anonymize=yes")
    private = await fake.wait_for(lambda: (fake.in_chat(mo["id"], kind="document") or [None])[0],
                                  what="the export in Mo's private chat")
    assert "anonymized" in private.text
    assert {r["display_name"] for r in records(private)} <= {"Participant 1", "Participant 2",
                                                            "Participant 3"}
    await fake.wait_post(group, "to you in a private chat")
    assert len(fake.in_chat(group, kind="document")) == 1


async def test_buttons_replies_and_votes_work_after_a_restart(fake: FakeTelegram,
                                                             start_bot: StartBot,
                                                             tmp_path: Path) -> None:
    """What a party posted is tied to it in the database, not in the process that posted it."""
    hana, gus = fake.add_user("Hana"), fake.add_user("Gus")
    group = fake.add_group("Restarted", members=[(hana, "creator"), (gus, "member")])
    db = tmp_path / "wp.db"
    first_run = await start_bot(db)
    await fake.ask(group, hana, "/watchparty create Restarted | in 1h | quick")
    announcement = await fake.wait_post(group, "🎬 Restarted")
    maybe = announcement.button("Maybe")  # as a client still shows it
    await fake.ask(group, hana, "/watchparty start now")
    prompt = await fake.wait_post(group, "Chapter 1 of 3", within=6)
    poll = await fake.wait_for(lambda: (fake.in_chat(group, kind="poll") or [None])[0],
                               within=6, what="the poll")
    await first_run.stop()

    await start_bot(db)
    fake.press_data(announcement, gus, maybe)
    fake.reply(group, gus, prompt, "After the restart")
    fake.react(prompt, gus, ["🤯"])
    last = fake.vote(poll, gus, [1])
    await fake.wait_confirmed(last)
    await fake.wait_idle()
    with sqlite3.connect(db) as conn:
        got = conn.execute("SELECT kind, value, prompt FROM records ORDER BY id").fetchall()
    # The chat's updates keep their order; a poll's votes have a lane of their own.
    assert [r for r in got if r[0] != "poll_vote"] == [
        ("rsvp", "maybe", None), ("answer", "After the restart", "1.1"),
        ("reaction_added", "🤯", "1.1")]
    assert [r for r in got if r[0] == "poll_vote"] == [("poll_vote", "The walk & talk", "2.poll")]
