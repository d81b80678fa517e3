"""`/watchparty` on Discord: what is published, every subcommand, refusals, and error answers.

Everything goes through the real discord.py client: the fake Discord dispatches
INTERACTION_CREATE over the gateway and records the callback and follow-ups the bot sends.
"""

from __future__ import annotations

import logging
import re
import sqlite3
from pathlib import Path
from typing import Any

import discord.gateway
import discord.http
import pytest
from discord_harness import RunningBot
from discord_helpers import buttons, create_party, join_code
from fakediscord import EPHEMERAL, FakeDiscord, message_text

from bot.chats import ChatRef
from bot.service import EXPORT_FORMATS

SUBCOMMANDS = {"create", "list", "info", "now", "join", "leave", "ready", "link", "unlink",
               "start", "pause", "resume", "cancel", "export", "settings", "privacy",
               "forget-me", "help", "guide", "seek", "follow", "unfollow", "edit",
               "history", "calendar"}
GUILDS, GUILD_REACTIONS, GUILD_POLLS = 1 << 0, 1 << 10, 1 << 24
PRIVILEGED = (1 << 1) | (1 << 8) | (1 << 15)  # members, presences, message content

GUIDE_TOML = b"""
title = "Club Classic"
runtime = "1:40:00"
[[chapters]]
title = "Setup"
ends_at = "0:30:00"
questions = ["Who do you trust so far?"]
"""


def test_the_redirect_attributes_still_exist() -> None:
    """The adapter redirects discord.py through these two class attributes (PLATFORM_NOTES)."""
    assert isinstance(discord.http.Route.BASE, str)
    assert discord.http.Route.BASE.startswith(("https://", "http://"))
    assert hasattr(discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY")


def _walk(options: list[dict[str, Any]], path: str = "") -> list[tuple[str, dict[str, Any]]]:
    found = []
    for option in options:
        name = f"{path} {option['name']}".strip()
        found.append((name, option))
        found += _walk(option.get("options", []), name)
    return found


async def test_published_commands_and_intents(fake: FakeDiscord, bot: RunningBot) -> None:
    # the dev guild gets the commands at once; nothing is published globally alongside
    registered = fake.commands[str(fake.guild_id)]
    assert [c["name"] for c in registered] == ["watchparty"]
    root = registered[0]
    assert root.get("contexts") == [0] or root.get("dm_permission") is False  # servers only
    assert {o["name"] for o in root["options"]} == SUBCOMMANDS
    assert len(root["options"]) <= 25, "Discord refuses a group of more than 25 subcommands"
    everything = _walk(root["options"])
    for name, option in everything:
        assert 0 < len(option["description"]) <= 100, name
    by_name = dict(everything)
    assert {o["name"] for o in by_name["guide"]["options"]} == {"list", "show", "upload"}
    assert by_name["guide upload file"]["type"] == 11  # an attachment
    assert [c["value"] for c in by_name["export format"]["choices"]] == list(EXPORT_FORMATS)
    assert [c["value"] for c in by_name["settings creators"]["choices"]] == [
        "anyone", "moderators"]
    assert by_name["export anonymize"]["type"] == 5  # a boolean
    with_party = [n for n in by_name if n.endswith(" party")]
    assert len(with_party) == 16
    assert all(by_name[n].get("autocomplete") for n in with_party)
    assert by_name["create guide"].get("autocomplete")
    assert by_name["guide show name"].get("autocomplete")
    # minimal intents, none of them privileged
    intents = fake.identifies[0]["intents"]
    assert intents == GUILDS | GUILD_REACTIONS | GUILD_POLLS
    assert not intents & PRIVILEGED


async def test_every_subcommand(fake: FakeDiscord, bot: RunningBot) -> None:
    host, mod = fake.person("Hana"), fake.person("Mo", moderator=True)
    guest = fake.person("Gus")
    home, other = fake.channels[0], fake.channels[1]

    async def run(user: Any, command: str, channel: int | None = None, **options: Any) -> Any:
        return await fake.wait_answer(await fake.slash(user, command, channel, **options))

    code, announcement = await create_party(fake, host, "Movie night", when="in 30m")
    listed = await run(guest, "list")
    assert not listed.ephemeral and code in listed.text and "Movie night" in listed.text
    info = await run(guest, "info", party=code.lower())
    assert "scheduled" in info.text and "Quick Film" in info.text
    assert "Seek to" not in (await run(guest, "now")).text

    for command, words in (("join", "You're going to"), ("leave", "You're not going to"),
                           ("join", "You're going to")):
        answer = await run(guest, command)
        assert answer.ephemeral and words in answer.text, (command, answer.text)
    await fake.wait_until(lambda: "Going 1 " in message_text(announcement), 5, "the count")
    marked = await run(guest, "ready", party=code)
    assert marked.ephemeral and "Marked ready" in marked.text

    # link: a moderator of another channel asks; the host approves with the button
    asked = await run(mod, "link", other, code=code)
    assert "Asked the host" in asked.text
    request = await fake.wait_message("asks to link", home)
    assert buttons(request) == ["Approve", "Decline"]
    approved = await fake.wait_answer(await fake.click(host, request, "Approve"))
    assert "Linked" in approved.text
    await fake.wait_message(code, other)  # the announcement, in the linked channel too

    shown = await run(guest, "guide list")
    assert "social-dilemma" in shown.text and "quick" in shown.text
    guide = await run(guest, "guide show", name="quick")
    assert "Best scene so far?" in guide.text
    uploaded = await run(mod, "guide upload", file=("club-classic.toml", GUIDE_TOML))
    assert "Guide `club-classic` saved" in uploaded.text
    assert "club-classic" in (await run(guest, "guide list")).text

    settings = await run(mod, "settings", timezone="Europe/Berlin", reminders="10m",
                         creators="anyone", retention_days=30)
    assert "Settings saved." in settings.text and "Europe/Berlin" in settings.text
    assert "retention" in (await run(mod, "settings")).text
    assert "What watchparty records" in (await run(guest, "privacy")).text
    assert "/watchparty create" in (await run(guest, "help")).text

    started = await run(host, "start", party=code)
    assert "Countdown started" in started.text
    await fake.wait_message("▶ GO", home)
    # Pause and resume: the caller's ephemeral answer, and the notice to the whole channel.
    paused = await run(mod, "pause")
    assert paused.ephemeral and "paused at" in paused.text
    await fake.wait_message("paused at", home)
    now = await run(guest, "now")
    assert "Paused at" in now.text
    resumed = await run(host, "resume")
    assert resumed.ephemeral and "Resuming" in resumed.text
    notice = await fake.wait_message("Resuming", home)
    assert re.search(r"GO at <t:\d+:T> — <t:\d+:R>", notice["content"]), notice
    cancelled = await run(host, "cancel")
    assert "was cancelled by" in cancelled.text
    forgotten = await run(guest, "forget-me")
    assert forgotten.ephemeral and "record" in forgotten.text
    exported = await run(mod, "export", party=code, format="json", anonymize=True)
    assert exported.ephemeral and exported.files()[0][0] == f"watchparty-{code}.json"
    assert b"Participant 1" in exported.files()[0][1] and b"Gus" not in exported.files()[0][1]


async def test_refusals_say_who_may(fake: FakeDiscord, bot: RunningBot) -> None:
    host, guest = fake.person("Hana"), fake.person("Gus")
    mod = fake.person("Mo", moderator=True)
    code, _ = await create_party(fake, host, "Refusals")

    async def refused(user: Any, command: str, **options: Any) -> str:
        answer = await fake.wait_answer(await fake.slash(user, command, **options))
        assert answer.ephemeral, (command, answer.text)
        return answer.text

    assert await refused(guest, "start", party=code) == (
        "Only the host (Hana) or a moderator of a linked chat may start here.")
    for command in ("pause", "resume", "cancel"):
        assert f"may {command} here" in await refused(guest, command, party=code)
    assert await refused(guest, "export", party=code) == (
        "Only moderators of this chat may export here.")
    assert "may link here" in await refused(guest, "link", code=code)
    assert "may settings here" in await refused(guest, "settings", reminders="5m")
    assert "may upload here" in await refused(guest, "guide upload",
                                              file=("mine.toml", GUIDE_TOML))
    # a chat that lets only moderators create parties
    await fake.wait_answer(await fake.slash(mod, "settings", creators="moderators"))
    assert await refused(guest, "create", title="Mine", when="in 1h") == (
        "Only moderators of this chat may create here.")
    # a button pressed by someone who may not decide
    await fake.wait_answer(await fake.slash(mod, "link", fake.channels[1], code=code))
    request = await fake.wait_message("asks to link")
    declined = await fake.wait_answer(await fake.click(guest, request, "Decline"))
    assert declined.ephemeral and "may approve here" in declined.text


async def test_moderators_by_permission_or_role(fake: FakeDiscord, bot: RunningBot) -> None:
    host = fake.person("Hana")
    events = fake.person("Eve")
    events.permissions |= 1 << 33  # Manage Events
    member_with_role = fake.person("Rolf", role=True)
    code, _ = await create_party(fake, host, "Mods")
    allowed = await fake.wait_answer(await fake.slash(events, "export", party=code))
    assert allowed.files(), allowed.text
    refused = await fake.wait_answer(await fake.slash(member_with_role, "export", party=code))
    assert "Only moderators" in refused.text
    # the chat's moderator role (stored per chat) makes its members moderators too
    store = bot.runtime.store
    settings = await store.get_chat_settings(bot_chat(fake))
    settings.moderator_role = str(fake.moderator_role)
    await store.save_chat_settings(settings)
    allowed = await fake.wait_answer(await fake.slash(member_with_role, "export", party=code))
    assert allowed.files(), allowed.text


def bot_chat(fake: FakeDiscord, channel: int | None = None) -> ChatRef:
    """The core's name for a fake channel."""
    return ChatRef("discord", str(channel or fake.channels[0]))


async def test_autocomplete(fake: FakeDiscord, bot: RunningBot) -> None:
    host = fake.person("Hana")
    mine, _ = await create_party(fake, host, "Here", when="in 1h")
    elsewhere, _ = await create_party(fake, host, "Elsewhere", when="in 1h",
                                      channel=fake.channels[1])
    choices = await fake.autocomplete(host, "info", "party", "")
    assert [c["value"] for c in choices] == [mine]
    assert mine in choices[0]["name"] and "Here" in choices[0]["name"]
    assert await fake.autocomplete(host, "info", "party", "zzz") == []
    assert elsewhere not in [c["value"] for c in await fake.autocomplete(host, "join", "party",
                                                                           "")]
    guides = [c["value"] for c in await fake.autocomplete(host, "create", "guide", "",
                                                          title="x", when="in 1h")]
    assert {"social-dilemma", "three-act-film", "tv-episode", "quick"} <= set(guides)
    quick = await fake.autocomplete(host, "guide show", "name", "qui")
    assert [c["value"] for c in quick] == ["quick"]
    zones = await fake.autocomplete(host, "settings", "timezone", "berlin")
    assert [c["value"] for c in zones] == ["Europe/Berlin"]


async def test_user_errors_are_one_ephemeral_line(fake: FakeDiscord, bot: RunningBot) -> None:
    host = fake.person("Hana")
    answer = await fake.wait_answer(await fake.slash(host, "create", title="Past",
                                                     when="yesterday 8pm"))
    assert answer.ephemeral and "in the past" in answer.text
    answer = await fake.wait_answer(await fake.slash(host, "info", party="NOPE"))
    assert answer.ephemeral and answer.text == (
        "“NOPE” isn't a join code. Codes have 6 letters and digits, like K7Q2MX.")
    answer = await fake.wait_answer(await fake.slash(host, "join"))
    assert answer.ephemeral and "There's no upcoming or running party" in answer.text
    answer = await fake.wait_answer(await fake.slash(
        fake.person("Mo", moderator=True), "guide upload", file=("broken.toml", b"title = 3")))
    assert answer.ephemeral and "The guide “broken” has problems" in answer.text


async def test_unexpected_failures_get_one_calm_line(
        fake: FakeDiscord, bot: RunningBot, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    with sqlite3.connect(tmp_path / "watchparty.db") as db:
        db.execute("DROP TABLE chat_settings")  # the database breaks under the running bot
    with caplog.at_level(logging.ERROR, logger="adapters.discord"):
        answer = await fake.wait_answer(await fake.slash(fake.person("Gus"), "list"))
    assert answer.ephemeral and answer.text == (
        "Something went wrong on my side; it has been logged. Please try again in a moment.")
    failure = next(r for r in caplog.records if r.name.startswith("adapters.discord"))
    assert "list" in failure.getMessage() and str(fake.channels[0]) in failure.getMessage()
    assert failure.exc_info is not None and "chat_settings" in str(failure.exc_info[1])


async def test_long_replies_are_split_at_lines(fake: FakeDiscord, bot: RunningBot) -> None:
    mod = fake.person("Mo", moderator=True)
    chapters = "".join(
        f'[[chapters]]\ntitle = "Part {n}"\nends_at = "0:{n:02d}:00"\n'
        f'questions = ["{"Why did this happen, and what would you have done? " * 9}"]\n'
        for n in range(1, 11))
    source = f'title = "Long talk"\nruntime = "0:30:00"\n{chapters}'.encode()
    saved = await fake.wait_answer(await fake.slash(mod, "guide upload",
                                                    file=("long.toml", source)))
    assert "saved" in saved.text, saved.text
    answer = await fake.wait_answer(await fake.slash(mod, "guide show", name="long"))
    await fake.wait_until(lambda: "**Part 10**" in answer.text, 5, "the last piece")
    messages = answer.messages()
    assert len(messages) >= 2
    assert all(len(m["content"]) <= 2000 for m in messages)
    whole_line = re.compile(r"^(\*\*Long talk\*\* \(long\) — runtime 0:30:00|"
                            r"\d+\. \*\*Part \d+\*\* — prompts at 0:\d\d:00|"
                            r"   • (Why did this happen, and what would you have done\? ?)+|)$")
    for message in messages:  # each piece holds whole lines: none was cut
        assert all(whole_line.match(line) for line in message["content"].split("\n"))
    text = "\n".join(m["content"] for m in messages)
    assert all(f"**Part {n}**" in text for n in range(1, 11))
    assert not any(m["flags"] & EPHEMERAL for m in messages)


async def test_slow_answers_are_deferred(fake: FakeDiscord, bot: RunningBot) -> None:
    """When the core takes longer than the deferral threshold the answer follows the defer."""
    bot.adapter.bridge.defer_after = 0.0  # every command counts as slow
    host = fake.person("Hana")
    code, _ = await create_party(fake, host, "Deferred")
    listed = await fake.wait_answer(await fake.slash(host, "list"))
    assert listed.kind == 5 and not listed.ephemeral and code in listed.text
    joined = await fake.wait_answer(await fake.slash(host, "join"))
    assert joined.kind == 5 and joined.ephemeral and "You're going" in joined.text
    # deferred in public, answered with a private error: the public "thinking" goes away
    failed = await fake.wait_answer(await fake.slash(host, "info", party="ZZZZZZ"))
    assert failed.kind == 5 and failed.original_deleted
    assert failed.ephemeral and "No party has the code" in failed.text
    assert join_code(listed.text) == code


async def test_exports_in_every_format_fit_the_upload_limit(fake: FakeDiscord,
                                                            bot: RunningBot) -> None:
    host, mod = fake.person("Hana"), fake.person("Mo", moderator=True)
    code, announcement = await create_party(fake, host, "Export night")
    await fake.wait_answer(await fake.click(fake.person("Gus"), announcement, "Going"))

    async def export(**options: Any) -> Any:
        answer = await fake.wait_answer(await fake.slash(mod, "export", party=code, **options))
        assert answer.ephemeral, answer.text
        return answer

    sizes = {}
    for fmt in EXPORT_FORMATS:
        files = (await export(format=fmt)).files()
        assert [name for name, _ in files] == [f"watchparty-{code}.{fmt}"]
        sizes[fmt] = len(files[0][1])
    # Discord says how large a file may be with each interaction: too large, it is zipped…
    fake.attachment_size_limit = sizes["json"] - 1
    zipped = await export(format="json")
    assert [name for name, _ in zipped.files()] == [f"watchparty-{code}.json.zip"]
    assert "so it is zipped" in zipped.text
    # …and if even that is too large, the moderator is told what to do instead
    fake.attachment_size_limit = 64
    refused = await export(format="json")
    assert refused.files() == [] and "python -m bot export" in refused.text
