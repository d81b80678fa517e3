"""Many presses at once in one channel, through the real discord.py client and the fake Discord."""

from __future__ import annotations

import asyncio

from discord_harness import RunningBot
from discord_helpers import create_party
from fakediscord import FakeDiscord, message_text


async def test_fifty_concurrent_presses_are_all_answered_and_the_edits_coalesce(
        fake: FakeDiscord, bot: RunningBot) -> None:
    host = fake.person("Hana")
    _, announcement = await create_party(fake, host, "Crowded night", when="in 30m")
    people = [fake.person(f"Guest {n}") for n in range(50)]
    edits_before = announcement.get("_edits", 0)
    presses = await asyncio.gather(*(fake.click(p, announcement, "Going") for p in people))
    answers = await asyncio.gather(*(fake.wait_answer(a) for a in presses))
    assert all(a.ephemeral and "You're going to" in a.text for a in answers)
    late = [a.answered_at - a.at for a in answers
            if a.answered_at is None or a.answered_at - a.at > 3.0]
    assert not late, f"answered after 3 s: {late}"
    await fake.wait_until(lambda: "Going 50 " in message_text(announcement), 10,
                          "the final count")
    # One edit as the presses begin at most, and one carrying the final count.
    assert 1 <= announcement["_edits"] - edits_before <= 2
