"""Every `/watchparty` subcommand over Telegram, its argument errors, and who may do what.

Moderators are the group's creator and administrators, as Telegram answers getChatMember.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from faketelegram import FakeTelegram, Posted
from tgharness import DATA, StartBot

from adapters.telegram.chats import chat_ref
from bot.party import ACTIVE_STATES

CODE = re.compile(r"Join code ([A-Z2-9]{6})\.")


@pytest.fixture
def people(fake: FakeTelegram) -> dict[str, Any]:
    """A supergroup with its creator Hana, an administrator Mo and two members, Gus and Ann."""
    hana, mo = fake.add_user("Hana"), fake.add_user("Mo")
    gus, ann = fake.add_user("Gus"), fake.add_user("Ann")
    group = fake.add_group("Film club", members=[(hana, "creator"), (mo, "administrator"),
                                                  (gus, "member"), (ann, "member")])
    return {"hana": hana, "mo": mo, "gus": gus, "ann": ann, "group": group}


async def create(fake: FakeTelegram, group: dict[str, Any], user: dict[str, Any],
                 args: str) -> tuple[str, Posted]:
    """Create a party; return its join code and the announcement."""
    reply = await fake.ask(group, user, f"/watchparty create {args}")
    match = CODE.search(reply.text)
    assert match, reply.text
    announcement = await fake.wait_post(group, f"join code {match[1]}")
    return match[1], announcement


async def test_help_privacy_and_guides(fake: FakeTelegram, start_bot: StartBot,
                                       people: dict[str, Any]) -> None:
    group, gus, mo = people["group"], people["gus"], people["mo"]
    await start_bot()
    for text in ("/watchparty", "/watchparty help",
                 f"/watchparty@{fake.bot_user['username']} help"):
        reply = await fake.ask(group, gus, text)
        assert "press play together" in reply.text and "/watchparty create" in reply.text
        assert "not an administrator" not in reply.text
    assert "What watchparty records" in (await fake.ask(group, gus, "/watchparty privacy")).text
    guides = await fake.ask(group, gus, "/watchparty guide list")
    assert "quick" in guides.entity_texts("code") and "social-dilemma" in guides.text
    shown = await fake.ask(group, gus, "/watchparty guide show quick")
    assert "• What did you <b>notice</b> first & why?" in shown.text
    assert "(The <call> / The walk & talk)" in shown.text
    unknown = await fake.ask(group, gus, "/watchparty guide show nope")
    assert "There is no guide “nope”" in unknown.text

    # Upload: a moderator's .toml is saved for the whole group; members are refused.
    source = (DATA / "quick.toml").read_bytes().replace(b"Quick <Reel>", b"Ours")
    _, message = fake.upload(group, gus, "ours.toml", source, "/watchparty guide upload")
    assert "Only moderators of this chat may upload" in (
        await fake.reply_to(group, message)).text
    _, message = fake.upload(group, mo, "ours.toml", source, "/watchparty guide upload")
    assert "Guide ours saved" in (await fake.reply_to(group, message)).text
    _, message = fake.upload(group, mo, "notes.txt", b"hello", "/watchparty guide upload")
    assert "isn't a .toml file" in (await fake.reply_to(group, message)).text
    _, message = fake.upload(group, mo, "bad.toml", b'title = "x"\nruntime = "soon"',
                             f"/watchparty@{fake.bot_user['username']} guide upload")
    assert "The guide “bad” has problems" in (await fake.reply_to(group, message)).text
    _, elsewhere = fake.upload(group, mo, "other.toml", source,
                               "/watchparty@some_other_bot guide upload")
    reply = await fake.ask(group, mo, "/watchparty guide upload")
    assert "send the file with the caption /watchparty guide upload" in reply.text
    assert "ours" in (await fake.ask(group, gus, "/watchparty guide list")).text
    await fake.wait_idle()
    assert not any(p.reply_to == elsewhere["message_id"] for p in fake.in_chat(group))
    assert "other" not in (await fake.ask(group, gus, "/watchparty guide list")).text


async def test_party_subcommands_and_refusals(fake: FakeTelegram, start_bot: StartBot,
                                              people: dict[str, Any]) -> None:
    group, hana, mo, gus, ann = (people[k] for k in ("group", "hana", "mo", "gus", "ann"))
    await start_bot()
    empty = await fake.ask(group, ann, "/watchparty list")
    assert empty.text.startswith("No upcoming or running parties")

    code, announcement = await create(fake, group, gus, "Movie night | in 2 hours | quick")
    listed = await fake.ask(group, ann, "/watchparty list")
    assert code in listed.entity_texts("code") and "Movie night" in listed.text
    assert any(e["type"] == "date_time" for e in listed.entities)
    info = await fake.ask(group, ann, f"/watchparty info {code}")
    assert "Movie night" in info.text and "— scheduled" in info.text
    assert "Movie night" in (await fake.ask(group, ann, "/watchparty now")).text

    assert (await fake.ask(group, ann, "/watchparty join")).text == (
        "You're going to Movie night.")
    assert (await fake.ask(group, ann, f"/watchparty maybe {code}")).text.startswith(
        "You might come")
    assert (await fake.ask(group, hana, "/watchparty leave")).text.startswith(
        "You're not going")
    assert "Marked ready for Movie night. 1 ready so far." in (
        await fake.ask(group, ann, "/watchparty ready")).text
    await fake.wait_for(lambda: "Maybe 1 · ❌ Not going 1" in announcement.text,
                        what="the announcement's counts")

    # Host or moderator: Ann is neither; Gus is the host, Mo an administrator.
    for sub in ("start", "pause", "resume", "cancel"):
        refused = await fake.ask(group, ann, f"/watchparty {sub}")
        assert refused.text == (f"Only the host (Gus) or a moderator of a linked chat may "
                                f"{sub} here."), refused.text
    paused = await fake.ask(group, mo, "/watchparty pause")
    assert "can't be paused" in paused.text

    # Moderator-only: settings and export.
    assert (await fake.ask(group, ann, "/watchparty settings")).text == (
        "Only moderators of this chat may settings here.")
    assert (await fake.ask(group, gus, f"/watchparty export {code}")).text == (
        "Only moderators of this chat may export here.")
    shown = await fake.ask(group, mo, "/watchparty settings")
    assert "timezone: UTC (default)" in shown.text
    saved = await fake.ask(group, hana, "/watchparty settings timezone=Europe/Berlin "
                                        "creators=moderators reminders=30m")
    assert "Settings saved." in saved.text and "reminders: 30m" in saved.text
    listed = await fake.ask(group, ann, "/watchparty list")
    [when, _] = listed.entity_texts("date_time")  # each viewer's own zone; the text: the chat's
    assert when.endswith((" CET", " CEST")), when
    refused = await fake.ask(group, ann, "/watchparty create Another | in 3h")
    assert refused.text == "Only moderators of this chat may create here."
    bad_format = await fake.ask(group, mo, f"/watchparty export {code} xml")
    assert "“xml” isn't an export format here" in bad_format.text

    forgotten = await fake.ask(group, ann, "/watchparty forget-me")
    assert forgotten.text.startswith("Done: 3 records of yours in this chat deleted")
    fake.command(group, mo, f"/watchparty cancel {code}")
    await fake.wait_post(group, "was cancelled by Mo")
    await fake.wait_for(lambda: "Status: cancelled" in announcement.text and
                        not announcement.buttons, what="the announcement to show the cancel")
    await fake.ask(group, ann, "/watchparty list")  # queued after any second copy
    assert len(notices(fake, group, "🚫")) == 1, fake.transcript()


async def test_argument_errors(fake: FakeTelegram, start_bot: StartBot,
                               people: dict[str, Any]) -> None:
    group, gus = people["group"], people["gus"]
    await start_bot()
    cases = {
        "/watchparty frobnicate": "There's no subcommand “frobnicate”",
        "/watchparty create Untimed": "/watchparty create needs when",
        "/watchparty create Past | yesterday 10:00": "which is in the past",
        "/watchparty create Film | 20:00 | quick | Mars/Olympus": "“Mars/Olympus” isn't a time "
                                                                 "zone I know",
        "/watchparty create Film | soonish": "I couldn't read “soonish” as a time",
        "/watchparty create Film | in 1h | nope": "There is no guide “nope”",
        "/watchparty info NOT-A-CODE": "takes no more options",
        "/watchparty link": "/watchparty link needs code",
        "/watchparty export ZZZZZ9": "No party has the code “ZZZZZ9”",
        "/watchparty join": "There's no upcoming or running party in this chat",
        "/watchparty start | tomorrow": "There's no upcoming or running party",
        "/watchparty guide": "There's no subcommand “guide”",
        "/watchparty export | json | anonymize=perhaps": "“perhaps” isn't yes or no",
        "/watchparty settings timezone=Nowhere/Place": "isn't a time zone I know",
        "/watchparty settings reminders=often": "isn't a reminder",
    }
    fake.set_member(group, gus, "administrator")
    for text, expected in cases.items():
        reply = await fake.ask(group, gus, text)
        assert expected in reply.text, (text, reply.text)


async def test_addressing_and_buttons(fake: FakeTelegram, start_bot: StartBot,
                                      people: dict[str, Any]) -> None:
    group, gus, ann = people["group"], people["gus"], people["ann"]
    await start_bot()
    ignored, _ = fake.command(group, gus, "/watchparty@some_other_bot help")
    plain_chat, _ = fake.say(group, gus, "what are we watching?")
    reply = await fake.ask(group, gus, f"/watchparty@{fake.bot_user['username']} list")
    assert reply.text.startswith("No upcoming")
    await fake.wait_confirmed(max(ignored, plain_chat))
    assert len(fake.in_chat(group)) == 1

    _, announcement = await create(fake, group, gus, "Buttons | in 1h")
    _, query = fake.press_data(announcement, ann, "wp:rsvp:999999:going")
    await fake.wait_for(lambda: fake.answer_to(query), what="an answer to a stale button")
    assert fake.answer_to(query) == {"text": "No party has the code “#999999”.",
                                     "show_alert": True}
    _, query = fake.press_data(announcement, ann, "something else")
    await fake.wait_for(lambda: fake.answer_to(query), what="an answer to a foreign button")
    assert fake.answer_to(query) == {"text": "That button no longer works. Try the command "
                                             "instead.", "show_alert": True}
    _, query = fake.press(announcement, ann, "Maybe")
    await fake.wait_for(lambda: fake.answer_to(query), what="the RSVP toast")
    await fake.wait_for(lambda: "Maybe 1" in announcement.text, what="the count")


async def test_linking_another_group(fake: FakeTelegram, start_bot: StartBot,
                                     people: dict[str, Any]) -> None:
    group, gus, hana = people["group"], people["gus"], people["hana"]
    kim, lee = fake.add_user("Kim"), fake.add_user("Lee")
    other = fake.add_group("Book club", members=[(kim, "creator"), (lee, "member")])
    await start_bot()
    code, _ = await create(fake, group, gus, "Linked | in 1h | quick")
    refused = await fake.ask(other, lee, f"/watchparty link {code}")
    assert refused.text == "Only moderators of this chat may link here."
    asked = await fake.ask(other, kim, f"/watchparty link {code}")
    assert asked.text.startswith("Asked the host of Linked to approve")
    request = await fake.wait_post(group, "asks to link a telegram chat")
    assert [b["text"] for b in request.buttons[0]] == ["Approve", "Decline"]
    assert all(len(d.encode()) <= 64 for d in request.button_data())
    _, query = fake.press(request, people["ann"], "Approve")
    await fake.wait_for(lambda: fake.answer_to(query), what="the refusal")
    assert fake.answer_to(query)["text"].startswith("Only the host (Gus) or a moderator of "
                                                    "the party's home chat may approve")
    _, query = fake.press(request, hana, "Approve")  # the home group's creator moderates it
    await fake.wait_post(other, "🔗 Linked: this chat now takes part in Linked")
    announcement = await fake.wait_post(other, f"join code {code}")
    assert [b["text"] for b in announcement.buttons[0]] == ["Going", "Maybe", "Not going"]
    listed = await fake.ask(other, lee, "/watchparty list")
    assert code in listed.entity_texts("code")
    again = await fake.ask(other, kim, f"/watchparty link {code}")
    assert again.text == "This chat already takes part in “Linked”."


def notices(fake: FakeTelegram, group: dict[str, Any], mark: str) -> list[Posted]:
    """The bot's messages in a group that begin with a notice's mark (⏸, ⏯, 🚫)."""
    return [p for p in fake.in_chat(group) if p.text.startswith(mark)]


async def test_pause_and_resume_a_running_party(fake: FakeTelegram, start_bot: StartBot,
                                                people: dict[str, Any]) -> None:
    group, gus, mo = people["group"], people["gus"], people["mo"]
    bot = await start_bot(resume_countdown_seconds=4)
    code, _ = await create(fake, group, gus, "Pausing | in 1h | quick")
    started = await fake.ask(group, gus, "/watchparty start now")
    assert started.text == "Countdown started for Pausing."
    await fake.wait_post(group, "▶ GO — press play now (Pausing)", within=6)
    # The home group is told once: Telegram has no private reply to add to the notice.
    fake.command(group, mo, f"/watchparty pause {code}")
    paused = await fake.wait_post(group, "paused at 0:00:0")
    assert paused.text.startswith("⏸ Pausing paused at") and "by Mo" in paused.text
    assert "already paused" in (await fake.ask(group, gus, "/watchparty pause")).text
    now = await fake.ask(group, gus, "/watchparty now")
    assert "Paused at 0:00:0" in now.text and "chapter 1 of 3" in now.text
    assert len(notices(fake, group, "⏸")) == 1, fake.transcript()
    # Resume names the instant of GO, RESUME_COUNTDOWN_SECONDS ahead, in the chat's zone.
    fake.command(group, gus, "/watchparty resume")
    resumed = await fake.wait_post(group, "Resuming Pausing from 0:00:0")
    [party] = await bot.runtime.store.parties_for_chat(chat_ref(group["id"]), ACTIVE_STATES)
    assert party.resume_at is not None
    go_at = party.resume_at.strftime("%H:%M:%S UTC")
    assert f": GO at {go_at} — in 4 seconds. Press play at GO." in resumed.text, resumed.text
    [at, soon] = [e for e in resumed.entities if e["type"] == "date_time"]
    assert (at["date_time_format"], soon["date_time_format"]) == ("T", "r")
    assert at["unix_time"] == soon["unix_time"] == int(party.resume_at.timestamp())
    await fake.wait_post(group, "▶ GO — press play now (Pausing, from 0:00:0", within=6)
    await fake.wait_post(group, "Chapter 1 of 3", within=6)
    await fake.ask(group, gus, "/watchparty now")  # queued after any second copy
    assert len(notices(fake, group, "⏯")) == 1, fake.transcript()


async def test_a_linked_groups_administrator_can_unlink_it(fake: FakeTelegram,
                                                           start_bot: StartBot,
                                                           people: dict[str, Any]) -> None:
    group, gus, hana = people["group"], people["gus"], people["hana"]
    kim, lee, ida = fake.add_user("Kim"), fake.add_user("Lee"), fake.add_user("Ida")
    other = fake.add_group("Book club", members=[(kim, "creator"), (ida, "administrator"),
                                                 (lee, "member")])
    await start_bot()
    code, _ = await create(fake, group, gus, "Linked | in 1h | quick")
    await fake.ask(other, kim, f"/watchparty link {code}")
    request = await fake.wait_post(group, "asks to link a telegram chat")
    fake.press(request, hana, "Approve")
    await fake.wait_post(other, f"join code {code}")

    # A member is refused; the group's administrator (asked of Telegram) may unlink it.
    refused = await fake.ask(other, lee, f"/watchparty unlink {code}")
    assert refused.text == ("Only the host (Gus) or a moderator of the linked chat may unlink "
                            "here."), refused.text
    unlinked = await fake.ask(other, ida, f"/watchparty unlink {code}")
    assert unlinked.text == ("🔗 A telegram chat no longer takes part in Linked (unlinked by "
                             "Ida). Its records stay in the export."), unlinked.text
    await fake.wait_post(group, "no longer takes part in Linked")
    listed = await fake.ask(other, lee, "/watchparty list")
    assert code not in listed.entity_texts("code"), listed.text
