"""Hostile and stale interactions: unknown buttons and forms, and options of the wrong shape.

Each one must get its first answer (the fake's fixture checks the 3 seconds), ephemeral, and
say what was wrong, through the real discord.py client and the fake Discord.
"""

from __future__ import annotations

from typing import Any

import pytest
from discord_harness import RunningBot
from discord_helpers import create_party
from fakediscord import FakeDiscord

from bot.chats import DEFAULT_RETENTION_DAYS, ChatRef
from bot.party import PartyState

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


OUTDATED = "older version of this command"
BAD_OPTIONS = [
    # (subcommand, options as sent, what the answer must say)
    ("create", [{"name": "title", "type": 4, "value": 42},
                {"name": "when", "type": 3, "value": "in 1h"}],
     "The option title of /watchparty create takes text."),
    ("create", [{"name": "title", "type": 3, "value": 42},
                {"name": "when", "type": 3, "value": "in 1h"}],
     "The option title of /watchparty create takes text."),
    ("create", [{"name": "title", "type": 3, "value": "Movie night"}],
     "/watchparty create needs the option when (text)."),
    ("create", [{"name": "title", "type": 3, "value": "Movie night"},
                {"name": "when", "type": 3, "value": "in 1h"},
                {"name": "room", "type": 3, "value": "big"}],
     "/watchparty create has no option room (its options: title, when, guide, timezone, "
     "repeat, episodes)."),
    ("info", [{"name": "code", "type": 3, "value": "K7Q2MX"}],
     "/watchparty info has no option code (its options: party)."),
    ("export", [{"name": "format", "type": 3, "value": "pdf"}],
     "The option format of /watchparty export takes one of json, csv, md, html."),
    ("export", [{"name": "anonymize", "type": 3, "value": "yes"}],
     "The option anonymize of /watchparty export takes True or False."),
    ("settings", [{"name": "retention_days", "type": 3, "value": "30"}],
     "The option retention_days of /watchparty settings takes a whole number."),
    ("settings", [{"name": "retention_days", "type": 4, "value": True}],
     "The option retention_days of /watchparty settings takes a whole number."),
    ("settings", [{"name": "moderator_role", "type": 8, "value": "mods"}],
     "The option moderator_role of /watchparty settings takes a role."),
    ("guide show", [{"name": "name", "type": 5, "value": False}],
     "The option name of /watchparty guide show takes text."),
]


@pytest.mark.parametrize(("command", "options", "said"), BAD_OPTIONS)
async def test_options_of_an_older_schema_are_named(fake: FakeDiscord, bot: RunningBot,
                                                    command: str, options: list[Any],
                                                    said: str) -> None:
    mod = fake.person("Mo", moderator=True)
    answer = await fake.wait_answer(await fake.slash_raw(mod, command, options), within=5)
    assert answer.kind == 4 and answer.ephemeral
    assert said in answer.text.replace("`", "").replace("\\", "") and OUTDATED in answer.text
    # nothing was done with them
    assert await bot.runtime.store.parties_for_chat(
        ChatRef("discord", str(fake.channels[0])), frozenset(PartyState)) == []
    settings = await bot.runtime.core.settings_for(ChatRef("discord", str(fake.channels[0])))
    assert settings.moderator_role is None and settings.retention_days == DEFAULT_RETENTION_DAYS


async def test_an_unknown_subcommand_is_answered(fake: FakeDiscord, bot: RunningBot) -> None:
    payload_answer = await fake.slash_raw(fake.person("Gus"), "help", [])
    await fake.wait_answer(payload_answer, within=5)  # the schema as published works
    data = {"id": str(fake.commands[str(fake.guild_id)][0]["id"]), "name": "watchparty",
            "type": 1, "guild_id": str(fake.guild_id),
            "options": [{"name": "vote", "type": 1, "options": []}]}
    answer = await fake.wait_answer(await fake.slash_data(fake.person("Gus"), data), within=5)
    assert answer.kind == 4 and answer.ephemeral
    assert "I don't have that command" in answer.text and OUTDATED in answer.text


async def test_autocomplete_with_a_stale_option_offers_nothing(fake: FakeDiscord,
                                                               bot: RunningBot) -> None:
    data = {"id": str(fake.commands[str(fake.guild_id)][0]["id"]), "name": "watchparty",
            "type": 1, "guild_id": str(fake.guild_id),
            "options": [{"name": "info", "type": 1, "options": [
                {"name": "code", "type": 3, "value": "K7", "focused": True}]}]}
    answer = await fake.wait_answer(await fake.slash_data(fake.person("Gus"), data, kind=4),
                                    within=5)
    assert answer.kind == 8 and answer.callback is not None
    assert answer.callback["data"]["choices"] == []
