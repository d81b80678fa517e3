"""Hostile and stale interactions: unknown buttons and forms, and options of the wrong shape.

Each one must get its first answer (the fake's fixture checks the 3 seconds), ephemeral, and
say what was wrong, through the real discord.py client and the fake Discord.
"""

from __future__ import annotations

import pytest
from discord_harness import RunningBot
from discord_helpers import create_party
from fakediscord import FakeDiscord

STALE = "no longer works"
UNKNOWN_IDS = [
    "",                          # no custom_id at all
    "other:thing",               # not one of this bot's ids
    "wp",                        # the prefix alone
    "wp:vote:12:3",              # a verb this version does not have (an old message)
    "wp:rsvp:twelve:going",      # a mangled party id
    "wp:rsvp:12:perhaps",        # a mangled status
    "wp:link:12:x:discord:1",    # neither approve nor decline
    "wp:answer:",                # an Answer button with no party or prompt
    "wp:answer:abc:1.1",
]


@pytest.mark.parametrize("custom_id", UNKNOWN_IDS)
async def test_an_unknown_button_is_answered(fake: FakeDiscord, bot: RunningBot,
                                             custom_id: str) -> None:
    answer = await fake.wait_answer(await fake.click_id(fake.person("Gus"), custom_id),
                                    within=5)
    assert answer.kind == 4 and answer.ephemeral
    assert STALE in answer.text and "Try the command" in answer.text


async def test_a_stale_button_on_an_old_message_is_answered(fake: FakeDiscord,
                                                            bot: RunningBot) -> None:
    host, guest = fake.person("Hana"), fake.person("Gus")
    _, announcement = await create_party(fake, host, "Old buttons")
    old = dict(announcement, components=[{"type": 1, "components": [
        {"type": 2, "style": 1, "label": "Vote", "custom_id": "wp:vote:1:2"}]}])
    answer = await fake.wait_answer(await fake.click(guest, old, "Vote"), within=5)
    assert answer.kind == 4 and answer.ephemeral and STALE in answer.text
    # a select menu the bot never sent is no different
    menu = await fake.wait_answer(await fake.click_id(guest, "menu:1", message=announcement,
                                                      component_type=3), within=5)
    assert menu.ephemeral and STALE in menu.text


@pytest.mark.parametrize("custom_id", ["", "poll:1", "wp:answer:", "wp:answer:x:1",
                                       "wp:rsvp:1:going"])
async def test_an_unknown_form_is_answered(fake: FakeDiscord, bot: RunningBot,
                                           custom_id: str) -> None:
    answer = await fake.wait_answer(await fake.submit_form(fake.person("Gus"), custom_id,
                                                           "hello"), within=5)
    assert answer.kind == 4 and answer.ephemeral and STALE in answer.text
