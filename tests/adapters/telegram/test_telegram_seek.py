"""`/watchparty seek` through the real python-telegram-bot and the fake Bot API."""

from __future__ import annotations

import re

from faketelegram import FakeTelegram
from tgharness import StartBot

CODE = re.compile(r"Join code ([A-Z2-9]{6})\.")


async def test_seek_moves_the_clock_and_posts_crossed_prompts_once(
        fake: FakeTelegram, start_bot: StartBot) -> None:
    hana, mo, gus = fake.add_user("Hana"), fake.add_user("Mo"), fake.add_user("Gus")
    group = fake.add_group("Film club", members=[(hana, "creator"), (mo, "administrator"),
                                                  (gus, "member")])
    await start_bot()
    created = await fake.ask(group, hana, "/watchparty create Seek night | in 30m | minutes")
    match = CODE.search(created.text)
    assert match, created.text
    code = match[1]
    early = await fake.ask(group, hana, "/watchparty seek 0:01:00")
    assert early.text == ("“Seek night” is scheduled: seek works while the film is playing or "
                          "paused.")
    fake.command(group, hana, f"/watchparty start {code}")
    await fake.wait_post(group, "▶ GO", within=10)

    # one line for the chat (it is the caller's chat: no second copy), then the crossed prompts
    fake.command(group, hana, "/watchparty seek chapter 3")
    notice = await fake.wait_post(group, "clock set to 0:02:00 by Hana")
    assert notice.text == "⏩ Seek night: clock set to 0:02:00 by Hana. Seek your film there too."
    first = await fake.wait_post(group, "What happened in minute one?")
    second = await fake.wait_post(group, "And in minute two?")
    assert first.message_id < second.message_id
    assert "Seek to 0:02:0" in (await fake.ask(group, gus, "/watchparty now")).text

    fake.command(group, mo, f"/watchparty seek -90s {code}")
    await fake.wait_post(group, "clock set to 0:00:3")
    assert "Seek to 0:00:3" in (await fake.ask(group, gus, "/watchparty now")).text

    for text, says in (("9:99:99", "“9:99:99” isn't a film position. Use 0:41:30, 41:30, "
                                   "+30s, -2m, +1m30s, chapter 3"),
                       ("chapter 12", "There's no chapter 12: this guide has 3 chapters "
                                      "(1 to 3).")):
        refused = await fake.ask(group, hana, f"/watchparty seek {text}")
        assert says in refused.text, refused.text
    member = await fake.ask(group, gus, "/watchparty seek 0:03:00")
    assert member.text == "Only the host (Hana) or a moderator of a linked chat may seek here."
    await fake.ask(group, gus, "/watchparty now")  # queued after anything still going out
    texts = [p.text for p in fake.in_chat(group)]
    assert sum("minute one" in t for t in texts) == 1
    assert sum("minute two" in t for t in texts) == 1
    assert not any("minute three" in t for t in texts)
    assert sum("clock set" in t for t in texts) == 2
