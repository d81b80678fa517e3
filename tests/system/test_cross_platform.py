"""One party across Discord and Telegram, served by one `python -m bot` process.

Both loopback fakes (tests/adapters/discord/fakediscord.py, tests/adapters/telegram/
faketelegram.py) run in the test; the bot is a real subprocess configured only through the
environment with both tokens. A party is created on Discord, a Telegram group asks to link to it,
the host approves on Discord, the film starts from Discord, GO and the prompts reach both chats,
someone answers and reacts on each side, and one JSON export from Discord holds all of it, each
record marked with its platform and chat.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

_TESTS = Path(__file__).resolve().parents[1]
for _folder in ("adapters/discord", "adapters/telegram"):
    if str(_TESTS / _folder) not in sys.path:
        sys.path.insert(0, str(_TESTS / _folder))

from discord_helpers import buttons, create_party, export_of  # noqa: E402
from fakediscord import TOKEN as DISCORD_TOKEN  # noqa: E402
from fakediscord import FakeDiscord, message_text  # noqa: E402
from faketelegram import FakeTelegram  # noqa: E402

from .botproc import DATA, bot_env  # noqa: E402

ANSWER_DISCORD = "My phone, buzzing."
ANSWER_TELEGRAM = "The silence before the call & the <rain>"


async def _stop(process: asyncio.subprocess.Process) -> tuple[int, str]:
    """SIGTERM, then the exit code and stderr (killed if it hangs)."""
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
    try:
        _, err = await asyncio.wait_for(process.communicate(), 30)
    except TimeoutError:
        process.kill()
        _, err = await process.communicate()
    return process.returncode or 0, err.decode(errors="replace")


def _by_kind(export: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [r for r in export["records"] if r["kind"] == kind]


async def test_one_party_across_discord_and_telegram(tmp_path: Path) -> None:
    discord = await FakeDiscord().start()
    telegram = FakeTelegram()
    await telegram.start()
    env = bot_env(
        DISCORD_TOKEN=DISCORD_TOKEN, DISCORD_API_BASE_URL=discord.api_base,
        DISCORD_GATEWAY_URL=discord.gateway_url, DISCORD_DEV_GUILD_ID=discord.guild_id,
        DISCORD_RATE_LIMITS="bot=50/1s; chat=20/1s",
        TELEGRAM_TOKEN=telegram.token, TELEGRAM_BASE_URL=telegram.base_url,
        TELEGRAM_BASE_FILE_URL=telegram.base_file_url,
        TELEGRAM_RATE_LIMITS="bot=30/1s; chat=20/1s",
        DATABASE_URL=f"sqlite:///{tmp_path / 'bot.db'}", GUIDES_DIR=DATA,
        COUNTDOWN_SECONDS=3, READY_CHECK_SECONDS=10)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", cwd=tmp_path, env=env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    try:
        await _party(discord, telegram)
        code, log = await _stop(process)
        assert code == 0, log
        assert "Traceback" not in log, log
        assert DISCORD_TOKEN not in log and telegram.token not in log  # secrets never logged
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await discord.stop()
        await telegram.stop()
    assert not discord.unknown_routes, discord.unknown_routes
    assert not telegram.failures, telegram.failures
    slow = [a.interaction_id for a in discord.answers.values()
            if a.answered_at is not None and a.answered_at - a.at > 3.0]
    assert not slow, f"interactions answered after 3 s: {slow}"


async def _party(discord: FakeDiscord, telegram: FakeTelegram) -> None:
    # Both platforms connected by the same process.
    await discord.wait_until(lambda: discord.ws is not None, 30, "the bot to reach Discord")
    await telegram.wait_for(lambda: telegram.getupdates_waiting > 0, 30,
                            "the bot to poll Telegram")
    home = discord.channels[0]
    host, mod = discord.person("Hana"), discord.person("Mo", moderator=True)
    gus = discord.person("Gus")
    tina, tom = telegram.add_user("Tina", "Admin"), telegram.add_user("Tom")
    group = telegram.add_group("Film club TG", members=[(tina, "administrator"),
                                                        (tom, "member")])

    # Created on Discord (a slash command through the gateway's INTERACTION_CREATE).
    code, announcement = await create_party(discord, host, "Cross Night", when="in 1h",
                                            guide="cross-platform", channel=home)
    assert f"`{code}`" in announcement["embeds"][0]["description"]

    # A Telegram admin asks to link the group; the request lands in the Discord home channel.
    asked = await telegram.ask(group, tina, f"/watchparty link {code}")
    assert "Asked the host" in asked.text, asked.text
    request = await discord.wait_message("asks to link a telegram chat", home)
    assert "Tina" in request["content"] and buttons(request) == ["Approve", "Decline"]
    assert not telegram.in_chat(group, kind="text")[1:], "nothing else before approval"

    # The host approves with the button; the group gets the note and the announcement.
    approved = await discord.wait_answer(await discord.click(host, request, "Approve"))
    assert "Linked" in approved.text, approved.text
    await telegram.wait_post(group, "Linked: this chat now takes part in Cross Night")
    tg_announcement = await telegram.wait_post(group, "Going 0")
    assert code in tg_announcement.entity_texts("code")

    # An RSVP on each side is counted across both chats.
    await discord.wait_answer(await discord.click(gus, announcement, "Going"))
    _, query = telegram.press(tg_announcement, tom, "Going")
    await telegram.wait_for(lambda: telegram.answer_to(query), what="the RSVP toast")

    await _edit(discord, telegram, (host, gus), code, (announcement, tg_announcement), group)

    # Started from Discord: countdown and GO in both chats.
    started = await discord.wait_answer(await discord.slash(host, "start", home, when="now"))
    assert "Countdown started" in started.text, started.text
    await discord.wait_message("GO at", home)
    await telegram.wait_post(group, "GO at")
    await discord.wait_message("▶ GO", home, within=8)
    await telegram.wait_post(group, "▶ GO", within=8)

    # The first prompt in both chats.
    d_prompt = await discord.wait_message("What did you notice first?", home, within=8)
    t_prompt = await telegram.wait_post(group, "What did you notice first?", within=8)
    assert "Chapter 1 of 3" in d_prompt["content"] and "Chapter 1 of 3" in t_prompt.text

    # Discord: the Answer button opens a modal; its submission is the answer. Then a reaction.
    opened = await discord.wait_answer(await discord.click(gus, d_prompt, "Answer"))
    assert opened.kind == 9, opened.callback
    echoed = await discord.wait_answer(
        await discord.submit_modal(gus, opened, ANSWER_DISCORD, d_prompt))
    assert ANSWER_DISCORD in echoed.text
    await discord.react(gus, d_prompt, "😂")

    # Telegram: a reply to the prompt is the answer (acknowledged with ✍), then a reaction.
    _, reply = telegram.reply(group, tom, t_prompt, ANSWER_TELEGRAM)
    await telegram.wait_for(
        lambda: any(r[:2] == (group["id"], reply["message_id"]) for r in telegram.reactions_set),
        what="the answer acknowledged")
    reacted = telegram.react(t_prompt, tom, ["🔥"])
    await telegram.wait_confirmed(reacted)

    # The second prompt reaches both chats too, once each.
    await discord.wait_message("Who changed most?", home, within=10)
    await telegram.wait_post(group, "Who changed most?", within=10)

    # One export from Discord, by a moderator of the home channel; records arrive from the
    # gateway in the background, so ask again until the Discord reaction is among them.
    export = await _export_with_reactions(discord, mod, code)
    assert export["party"]["code"] == code
    chats = {(c["platform"], c["chat_id"]): c for c in export["chats"]}
    assert chats[("discord", str(home))]["home"] is True
    assert chats[("telegram", str(group["id"]))]["status"] == "approved"

    answers = {(a["platform"], a["chat_id"], a["display_name"], a["prompt"], a["value"])
               for a in _by_kind(export, "answer")}
    assert answers == {("discord", str(home), "Gus", "1.1", ANSWER_DISCORD),
                       ("telegram", str(group["id"]), "Tom", "1.1", ANSWER_TELEGRAM)}
    reactions = {(r["platform"], r["chat_id"], r["display_name"], r["prompt"], r["value"])
                 for r in _by_kind(export, "reaction_added")}
    assert reactions == {("discord", str(home), "Gus", "1.1", "😂"),
                         ("telegram", str(group["id"]), "Tom", "1.1", "🔥")}
    rsvps = {(r["platform"], r["display_name"], r["value"]) for r in _by_kind(export, "rsvp")}
    assert rsvps == {("discord", "Gus", "going"), ("telegram", "Tom", "going")}
    # One timeline: every record carries where it happened, in time order.
    assert all(r["platform"] in {"discord", "telegram"} and r["chat_id"]
               for r in export["records"])
    times = [r["at"] for r in export["records"]]
    assert times == sorted(times)

    # What each chat received: one GO, one request (Discord only), each prompt once.
    for text in ("▶ GO", "What did you notice first?", "Who changed most?"):
        assert len(discord.find(text, home)) == 1, text
        assert sum(text in p.text for p in telegram.in_chat(group)) == 1, text
    assert not any("asks to link" in p.text for p in telegram.in_chat(group))


async def _edit(discord: FakeDiscord, telegram: FakeTelegram, people: tuple[Any, Any],
                code: str, announcements: tuple[dict[str, Any], Any], group: Any) -> None:
    """Edited from Discord: both announcements change in place, the RSVPs and code stay."""
    home = discord.channels[0]
    host, guest = people
    announcement, tg_announcement = announcements
    refused = await discord.wait_answer(await discord.slash(guest, "edit", home, party=code,
                                                            title="Mine"))
    assert refused.ephemeral and "Only the host (Hana)" in refused.text, refused.text
    moved = (datetime.now(UTC) + timedelta(hours=2)).replace(second=0, microsecond=0)
    shown = f"{moved:%a %d %b %Y, %H:%M} UTC"
    edited = await discord.wait_answer(await discord.slash(
        host, "edit", home, party=code, title="Cross Night, moved", when=moved.isoformat(),
        guide="three-act-film"))
    stamp = f"<t:{int(moved.timestamp())}:F>"
    assert edited.ephemeral and f"moved to {stamp}" in edited.text, edited.text
    line = await telegram.wait_post(group, "✏️")
    assert f"moved to {shown}" in line.text and "renamed from Cross Night" in line.text
    assert "guide now three-act-film" in line.text
    await discord.wait_message("✏️", home)
    await telegram.wait_for(lambda: "Cross Night, moved" in tg_announcement.text
                            and "three acts" in tg_announcement.text, what="the TG edit")
    await discord.wait_until(lambda: "Cross Night, moved" in str(announcement["embeds"]), 10,
                             "the Discord edit")
    # Back to the party's own guide (the prompts below are its questions).
    await discord.wait_answer(await discord.slash(host, "edit", home, party=code,
                                                  guide="cross-platform"))
    await telegram.wait_for(lambda: "three acts" not in tg_announcement.text, what="TG again")
    # Each viewer's own zone on Discord; the chat's zone (UTC here) under Telegram's entity.
    for text, discord_text in ((shown, stamp),
                               ("Going 2", "Going 2"), (f"`{code}`", code)):
        assert text.strip("`") in tg_announcement.text, (text, tg_announcement.text)
        assert discord_text in message_text(announcement), message_text(announcement)
    assert len([p for p in telegram.in_chat(group) if "Going" in p.text]) == 1  # not reposted
    # The Discord scheduled event moved with it.
    [event] = [e for e in discord.events.values()
               if code in ((e.get("entity_metadata") or {}).get("location") or "")]
    await discord.wait_until(lambda: datetime.fromisoformat(
        event["scheduled_start_time"]) == moved, 10, "the event to move")
    assert event["name"] == "Cross Night, moved"


async def _export_with_reactions(discord: FakeDiscord, mod: Any, code: str) -> dict[str, Any]:
    export: dict[str, Any] = {}
    for _ in range(20):
        answer = await discord.wait_answer(
            await discord.slash(mod, "export", discord.channels[0], party=code, format="json"),
            within=15)
        export = export_of(answer)
        if len(_by_kind(export, "reaction_added")) >= 2:
            return export
        await asyncio.sleep(0.25)
    return export
