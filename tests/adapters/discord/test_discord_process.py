"""`python -m bot` as a real process, configured only through the environment, against the fake."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

from discord_harness import DATA
from fakediscord import TOKEN, FakeDiscord

from tests.childenv import child_env

ROOT = Path(__file__).resolve().parents[3]


def _env(fake: FakeDiscord, tmp_path: Path, token: str = TOKEN) -> dict[str, str]:
    return child_env(
        DISCORD_TOKEN=token, DISCORD_API_BASE_URL=fake.api_base,
        DISCORD_GATEWAY_URL=fake.gateway_url, DISCORD_DEV_GUILD_ID=str(fake.guild_id),
        DATABASE_URL=f"sqlite:///{tmp_path / 'bot.db'}", GUIDES_DIR=str(DATA),
        COUNTDOWN_SECONDS="3", LOG_LEVEL="INFO", DEFAULT_TIMEZONE="UTC",
    )


async def _start(env: dict[str, str], cwd: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", cwd=cwd, env=env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)


async def test_the_bot_process_serves_discord_and_stops_on_sigterm(
        fake: FakeDiscord, tmp_path: Path) -> None:
    process = await _start(_env(fake, tmp_path), tmp_path)
    try:
        await fake.wait_until(lambda: fake.ws is not None, 20, "the bot process to connect")
        host = fake.person("Hana")
        created = await fake.wait_answer(await fake.slash(host, "create", title="From a process",
                                                          when="in 1h", guide="quick"))
        assert "created" in created.text
        await fake.wait_message("From a process")
        listed = await fake.wait_answer(await fake.slash(host, "list"))
        assert "From a process" in listed.text
        process.send_signal(signal.SIGTERM)
        out, err = await asyncio.wait_for(process.communicate(), 20)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    log = err.decode()
    assert process.returncode == 0, log
    assert "published /watchparty" in log and "disconnected from Discord" in log
    assert TOKEN not in log and TOKEN not in out.decode()  # a secret is never logged


async def test_a_refused_token_is_one_clear_line(fake: FakeDiscord, tmp_path: Path) -> None:
    wrong = TOKEN[:-5] + "WRONG"
    process = await _start(_env(fake, tmp_path, wrong), tmp_path)
    _, err = await asyncio.wait_for(process.communicate(), 30)
    lines = [line for line in err.decode().splitlines() if line.startswith("watchparty:")]
    assert process.returncode == 2, err.decode()
    assert lines == ["watchparty: DISCORD_TOKEN: Discord refused the token (reset it on the "
                     "Developer Portal's Bot page)"]
    assert "Traceback" not in err.decode() and wrong not in err.decode()
