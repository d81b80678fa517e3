"""`/watchparty seek` through the real discord.py client and the fake Discord."""

from __future__ import annotations

from typing import Any

from discord_harness import RunningBot
from discord_helpers import create_party
from fakediscord import FakeDiscord, message_text


async def test_seek_moves_the_clock_and_posts_crossed_prompts_once(
        fake: FakeDiscord, bot: RunningBot) -> None:
    host, guest = fake.person("Hana"), fake.person("Gus")
    mod = fake.person("Mo", moderator=True)
    home = fake.channels[0]

    async def run(user: Any, command: str, **options: Any) -> Any:
        return await fake.wait_answer(await fake.slash(user, command, **options))

    code, _ = await create_party(fake, host, "Seek night", when="in 30m", guide="minutes")
    early = await run(host, "seek", position="0:01:00")
    assert early.text == ("“Seek night” is scheduled: seek works while the film is playing or "
                          "paused.")
    await run(host, "start", party=code)
    await fake.wait_message("▶ GO", home)

    sought = await run(host, "seek", position="0:02:00")
    assert sought.ephemeral and "clock set to 0:02:00 by **Hana**" in sought.text
    await fake.wait_message("clock set to 0:02:00 by **Hana**", home)
    first = await fake.wait_message("What happened in minute one?", home)
    second = await fake.wait_message("And in minute two?", home)
    assert int(first["id"]) < int(second["id"])  # in order
    assert "Seek to **0:02:0" in (await run(guest, "now")).text

    back = await run(mod, "seek", position="-90s")
    assert "clock set to 0:00:3" in back.text
    assert "Seek to **0:00:3" in (await run(guest, "now")).text

    refusals = {
        "9:99:99": "“9:99:99” isn't a film position. Use 0:41:30, 41:30, +30s, -2m, +1m30s, "
                   "chapter 3",
        "chapter 12": "There's no chapter 12: this guide has 3 chapters (1 to 3).",
    }
    for position, says in refusals.items():
        refused = await run(host, "seek", position=position)
        assert refused.ephemeral and says in refused.text, refused.text
    member = await run(guest, "seek", position="0:03:00")
    assert member.text == "Only the host (Hana) or a moderator of a linked chat may seek here."
    await bot.settle()
    texts = [message_text(m) for m in fake.channel_messages(home)]
    assert sum("minute one" in t for t in texts) == 1
    assert sum("minute two" in t for t in texts) == 1
    assert not any("minute three" in t for t in texts)
    assert sum("clock set" in t for t in texts) == 2
