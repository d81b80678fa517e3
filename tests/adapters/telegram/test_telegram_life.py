"""`edit`, `history`, `calendar` and series over Telegram, through python-telegram-bot."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import icalendar
from faketelegram import FakeTelegram
from tgharness import StartBot

CODE = re.compile(r"Join code ([A-Z2-9]{6})\.")


async def test_edit_calendar_and_history(fake: FakeTelegram, start_bot: StartBot) -> None:
    hana, gus, ann = fake.add_user("Hana"), fake.add_user("Gus"), fake.add_user("Ann")
    group = fake.add_group("Film club", members=[(hana, "creator"), (gus, "member"),
                                                  (ann, "member")])
    fake.started.add(gus["id"])  # Gus opened a private chat with the bot; Ann did not
    await start_bot()
    created = await fake.ask(group, hana, "/watchparty create Film night | in 3h | quick")
    match = CODE.search(created.text)
    assert match, created.text
    code = match[1]
    announcement = await fake.wait_post(group, f"join code {code}")
    assert [b["text"] for row in announcement.buttons for b in row] == [
        "Going", "Maybe", "Not going", "Add to calendar"]
    _, query = fake.press(announcement, gus, "Going")
    await fake.wait_for(lambda: fake.answer_to(query), what="the RSVP toast")

    # Edit: refused for a member; the host's edit changes the announcement in place.
    refused = await fake.ask(group, gus, "/watchparty edit title=Mine")
    assert "Only the host (Hana) or a moderator of a linked chat may edit" in refused.text
    past = await fake.ask(group, hana, "/watchparty edit when=yesterday 8pm")
    assert "in the past" in past.text
    moved = (datetime.now(UTC) + timedelta(hours=6)).replace(second=0, microsecond=0)
    shown = f"{moved:%a %d %b %Y, %H:%M} UTC"
    fake.command(group, hana, f"/watchparty edit {code} | Film night, later | "
                              f"{moved.isoformat()}")
    line = await fake.wait_post(group, "✏️")
    assert f"moved to {shown}" in line.text and "renamed from Film night" in line.text
    await fake.wait_for(lambda: "Film night, later" in announcement.text
                        and shown in announcement.text, what="the announcement edited")
    assert "Going 1" in announcement.text and code in announcement.text
    assert len([p for p in fake.in_chat(group) if "Going 1" in p.text]) == 1

    # The calendar command: privately to someone who started the bot, else in the group.
    fake.command(group, gus, "/watchparty calendar")
    private = await fake.wait_for(
        lambda: (fake.in_chat(gus["id"], kind="document") or [None])[0], what="the .ics")
    assert private.filename == f"watchparty-{code}.ics"
    [event] = icalendar.Calendar.from_ical(private.document).walk("VEVENT")
    assert event.decoded("DTSTART") == moved and event["SEQUENCE"] == 1
    assert str(event["SUMMARY"]) == "Film night, later"
    await fake.wait_post(group, f"I sent watchparty-{code}.ics to you in a private chat")
    fake.command(group, ann, f"/watchparty calendar {code}")
    here = await fake.wait_for(lambda: (fake.in_chat(group, kind="document") or [None])[0],
                               what="the .ics in the group")
    assert here.filename == f"watchparty-{code}.ics" and "couldn't send it privately" in here.text
    # The announcement's button sends it privately too.
    _, query = fake.press(announcement, gus, "Add to calendar")
    await fake.wait_for(lambda: len(fake.in_chat(gus["id"], kind="document")) == 2,
                        what="the second .ics")
    assert "for your calendar" in (fake.answer_to(query) or {}).get("text", "")

    # History pages, after a cancellation.
    fake.command(group, hana, f"/watchparty cancel {code}")
    await fake.wait_post(group, "was cancelled by Hana")
    history = await fake.ask(group, ann, "/watchparty history")
    assert f"{code} Film night, later" in history.text and "cancelled" in history.text
    assert "isn't a page" in (await fake.ask(group, ann, "/watchparty history 9")).text


async def test_a_series_and_cancel_all(fake: FakeTelegram, start_bot: StartBot) -> None:
    hana = fake.add_user("Hana")
    group = fake.add_group("Anime club", members=[(hana, "creator")])
    await start_bot()
    reply = await fake.ask(group, hana, "/watchparty create Anime tomorrow 20:00 repeat=every "
                                        "2 weeks episodes=3")
    assert "created" in reply.text, reply.text
    first = await fake.wait_post(group, "Episode 1 of 3 · every 2 weeks · next episode")
    fake.command(group, hana, "/watchparty cancel")
    await fake.wait_post(group, "The series goes on")
    second = await fake.wait_post(group, "Episode 2 of 3")
    info = await fake.ask(group, hana, "/watchparty info")
    assert "Episode 2 of 3" in info.text and "next episode" in info.text
    fake.command(group, hana, "/watchparty cancel all=yes")
    await fake.wait_post(group, "The series of Anime is over")
    await fake.wait_idle()
    assert not [p for p in fake.in_chat(group) if "Episode 3 of 3" in p.text]
    assert first.message_id != second.message_id
