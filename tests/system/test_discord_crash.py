"""A bot killed while its GO was on the way to Discord posts that GO once: not twice, not never.

`python -m bot` runs on Discord (the fake, in the test) with a SQLite file. The party's start is
stored, and the GO post is sent; the fake either stores it and never answers (Discord took it)
or holds it unstored (it never got there), and the bot is killed (SIGKILL) while it waits.
Started again under the same WORKER_ID, it takes back its lease and fires GO again for the chat
that has no GO stored. Taken: the post carries the first one's nonce (named by its action and
chat), so Discord hands back the first post. Lost: it is posted now. Either way the channel
shows one GO, and the bot remembers that message as the party's GO.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import sys
from pathlib import Path

import pytest

_TESTS = Path(__file__).resolve().parents[1]
if str(_TESTS / "adapters/discord") not in sys.path:
    sys.path.insert(0, str(_TESTS / "adapters/discord"))

from discord_helpers import create_party  # noqa: E402
from fakediscord import TOKEN, FakeDiscord, message_text  # noqa: E402

from .botproc import DATA, bot_env  # noqa: E402

GO = "▶ GO"


async def start_bot(discord: FakeDiscord, folder: Path) -> asyncio.subprocess.Process:
    log = (folder / "bot.log").open("ab")
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", cwd=folder, stdin=asyncio.subprocess.DEVNULL,
        stdout=log, stderr=log, env=bot_env(
            DATABASE_URL="sqlite:///party.db", WORKER_ID="solo", GUIDES_DIR=DATA,
            COUNTDOWN_SECONDS=3, DISCORD_TOKEN=TOKEN, DISCORD_API_BASE_URL=discord.api_base,
            DISCORD_GATEWAY_URL=discord.gateway_url, DISCORD_DEV_GUILD_ID=discord.guild_id))


def go_messages(discord: FakeDiscord, channel: int) -> list[str]:
    return [text for text in map(message_text, discord.channel_messages(channel))
            if GO in text]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("discord_took_it", [True, False], ids=["taken", "lost"])
async def test_go_on_its_way_at_a_crash_is_posted_once(tmp_path: Path,
                                                         discord_took_it: bool) -> None:
    discord = await FakeDiscord().start()
    bot = await start_bot(discord, tmp_path)
    try:
        await discord.wait_until(lambda: discord.commands and 0 in discord.sessions, 30,
                                 "the bot to connect and register its commands")
        channel = discord.guilds[discord.guild_id]["channels"][0]
        mod = discord.person("Mo", moderator=True)
        await create_party(discord, mod, "Crash night", guide="relay", channel=channel)
        held = discord.hold_response_to if discord_took_it else discord.hold_request_to
        held.add(GO)
        started = await discord.wait_answer(await discord.slash(mod, "start", channel=channel))
        assert "Countdown started" in started.text, started.text
        await discord.wait_until(lambda: [r for r in discord.requests if r.method == "POST"
                                          and GO in json.dumps(r.body, ensure_ascii=False)],
                                 30, "the GO post to reach Discord")
        bot.send_signal(signal.SIGKILL)  # the bot never hears back
        await bot.wait()
        assert len(go_messages(discord, channel)) == int(discord_took_it)
        held.clear()
        discord.answer_held.set()

        bot = await start_bot(discord, tmp_path)
        await discord.wait_message("Relay question one?", channel, within=60)
        bot.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(bot.wait(), 30) == 0
    finally:
        if bot.returncode is None:
            bot.kill()
            await bot.wait()
        await discord.stop()

    log = (tmp_path / "bot.log").read_text(errors="replace")
    assert len(go_messages(discord, channel)) == 1, (go_messages(discord, channel), log[-3000:])
    db = sqlite3.connect(tmp_path / "party.db")
    try:
        stored = db.execute("SELECT message_id FROM sent_messages WHERE kind = 'go'").fetchall()
    finally:
        db.close()
    posted = [m for m in discord.channel_messages(channel) if GO in message_text(m)]
    assert stored == [(str(posted[0]["id"]),)]
