"""A whole party through the real discord.py client and the fake Discord, on the system clock.

The test guide (data/quick.toml) is a film of four seconds with a prompt every second, so a
party from announcement to export takes about ten seconds.
"""

from __future__ import annotations

import re

from discord_harness import RunningBot
from discord_helpers import buttons, create_party, export_of, posted_texts, records
from fakediscord import FakeDiscord, message_text


async def test_whole_party(fake: FakeDiscord, bot: RunningBot) -> None:
    host, guest, mod = fake.person("Hana"), fake.person("Gus"), fake.person("Mo", moderator=True)
    channel = fake.channels[0]

    # announcement: an embed with the start in every viewer's zone, the guide, the code, RSVPs
    code, announcement = await create_party(fake, host, "Quick Film night", when="in 12s")
    embed = announcement["embeds"][0]
    assert embed["title"] == "Quick Film night"
    assert re.search(r"<t:\d+:F> \(<t:\d+:R>\)", embed["description"])
    assert "Quick Film" in embed["description"] and f"`{code}`" in embed["description"]
    assert buttons(announcement) == ["Going", "Maybe", "Not going", "Add to calendar"]

    # RSVP with the button: an ephemeral answer, and the announcement's count is edited
    rsvp = await fake.wait_answer(await fake.click(guest, announcement, "Going"))
    assert rsvp.ephemeral and "You're going to" in rsvp.text
    await fake.wait_until(lambda: "Going 1 " in message_text(announcement), 5, "RSVP count")

    # the ready check (10 s before the start) and its Ready button
    ready_check = await fake.wait_message("press Ready", within=8)
    assert buttons(ready_check) == ["Ready"]
    ready = await fake.wait_answer(await fake.click(guest, ready_check, "Ready"))
    assert ready.ephemeral and "1 ready so far" in ready.text

    # the host starts early: one countdown message, then GO
    started = await fake.wait_answer(await fake.slash(host, "start"))
    assert "Countdown started" in started.text
    countdown = await fake.wait_message("GO at")
    assert re.search(r"<t:\d+:T> — <t:\d+:R>", countdown["content"])
    go = await fake.wait_message("▶ GO")
    assert go["nonce"] and fake.requests  # sent with a nonce (discord.py sets enforce_nonce)

    # the first prompt, answered through its modal
    prompt = await fake.wait_message("What did you notice first?", within=5)
    assert buttons(prompt) == ["Answer"] and "Press Answer" in prompt["content"]
    opened = await fake.wait_answer(await fake.click(guest, prompt, "Answer"))
    assert opened.kind == 9  # a modal
    assert opened.callback is not None
    assert opened.callback["data"]["custom_id"].startswith("wp:answer:")
    echoed = await fake.wait_answer(await fake.submit_modal(guest, opened,
                                                            "My phone, buzzing.", prompt))
    assert not echoed.ephemeral and "Gus" in echoed.text and "My phone, buzzing." in echoed.text

    # a reaction on the prompt, and a vote in the chapter-2 poll (a native Discord poll)
    await fake.react(guest, prompt, "😂")
    poll = await fake.wait_message("Best scene so far?", within=5)
    assert [a["poll_media"]["text"] for a in poll["poll"]["answers"]] == ["The call", "The walk"]
    await fake.vote(guest, poll, 2)
    await fake.vote(guest, poll, 2, added=False)  # changes their mind
    await fake.vote(guest, poll, 1)

    summary = await fake.wait_message("is over", within=8)
    assert "Attendance: 1 going · 1 ready · 1 answered" in summary["content"]
    await bot.settle()

    # the export: an ephemeral attachment with every record
    exported = await fake.wait_answer(await fake.slash(mod, "export", party=code))
    assert exported.kind == 5 and exported.ephemeral  # deferred, then the file follows
    data = export_of(exported)
    assert data["party"]["code"] == code and data["party"]["state"] == "finished"
    assert [r["value"] for r in records(data, "rsvp")] == ["going"]
    assert len(records(data, "ready")) == 1
    answers = records(data, "answer")
    assert [(a["display_name"], a["prompt"], a["value"]) for a in answers] == [
        ("Gus", "1.1", "My phone, buzzing.")]
    reactions = records(data, "reaction_added")
    assert [(r["value"], r["prompt"], r["message_id"]) for r in reactions] == [
        ("😂", "1.1", prompt["id"])]
    votes = records(data, "poll_vote")
    assert [(r["value"], r["prompt"]) for r in votes] == [
        ("The walk", "2.poll"), ("", "2.poll"), ("The call", "2.poll")]

    # every prompt posted once, in film order
    texts = posted_texts(fake, channel)
    questions = [t for t in texts if "💬 Chapter" in t]
    assert len(questions) == 3
    assert [q.split(" — ")[0] for q in questions] == [
        "💬 Chapter 1 of 3", "💬 Chapter 2 of 3", "💬 Chapter 3 of 3"]
    assert sum("▶ GO" in t for t in texts) == 1
    # threads is off by default: no thread was started, everything is in the channel
    assert not fake.threads and not [r for r in fake.requests if r.path.endswith("/threads")]
