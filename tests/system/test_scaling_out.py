"""The README's "Scaling out" as an operator runs it: `scripts/workers 3` (what `make workers
N=3` runs) in a folder whose `.env` holds the tokens, on a PostgreSQL database that does not
exist yet.

The fake Telegram and the fake Discord (three shards) stand in for the platforms. The script
creates the database, starts three workers, each with its own shard and port; their /healthz
answers say so, one of them polls Telegram, and a party made on each platform is announced once.
Ctrl-C (SIGINT to the script's process group, as a terminal sends it) stops every worker
cleanly and the script ends with 0.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import pytest

_TESTS = Path(__file__).resolve().parents[1]
for _folder in ("adapters/discord", "adapters/telegram"):
    if str(_TESTS / _folder) not in sys.path:
        sys.path.insert(0, str(_TESTS / _folder))

from discord_helpers import create_party  # noqa: E402
from fakediscord import TOKEN as DISCORD_TOKEN  # noqa: E402
from fakediscord import FakeDiscord  # noqa: E402
from faketelegram import FakeTelegram  # noqa: E402

from tests.childenv import child_env  # noqa: E402
from tests.postgres import ADMIN_URL, database_url, with_database  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "workers"
WORKERS = 3


def free_ports(count: int) -> int:
    """A first port of `count` consecutive ones nobody listens on now."""
    for _ in range(200):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            first = probe.getsockname()[1]
        if first + count > 65535:
            continue
        try:
            for port in range(first, first + count):
                with socket.socket() as taken:
                    taken.bind(("0.0.0.0", port))
        except OSError:
            continue
        return first
    raise AssertionError("no free ports")


async def healthz(session: aiohttp.ClientSession, port: int) -> dict[str, Any] | None:
    """A worker's /healthz body once it answers 200, else None."""
    try:
        async with session.get(f"http://127.0.0.1:{port}/healthz") as answer:
            if answer.status != 200:
                return None
            body: dict[str, Any] = await answer.json()
            return body
    except aiohttp.ClientError:
        return None


async def drop(url: str) -> None:
    import asyncpg

    admin = await asyncpg.connect(ADMIN_URL, timeout=5)
    try:
        name = url.rsplit("/", 1)[1]
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def logs(folder: Path) -> str:
    return "\n".join(f"--- {path.name}\n{path.read_text(errors='replace')[-2500:]}"
                     for path in sorted(folder.glob("worker-*.log")))


@pytest.mark.timeout(180)
async def test_scaling_out_as_the_readme_says(tmp_path: Path) -> None:
    await database_url()  # skips (or fails, under CI=true) without PostgreSQL
    url = with_database(ADMIN_URL, f"watchparty_scaling_{uuid.uuid4().hex[:8]}")
    readme = (ROOT / "README.md").read_text("utf-8")
    assert "make workers N=3" in readme
    assert "\tscripts/workers $(N)" in (ROOT / "Makefile").read_text("utf-8")

    telegram = FakeTelegram()
    await telegram.start()
    telegram.count_limits(slack=0.3)
    discord = await FakeDiscord(guild_count=WORKERS, shard_count=WORKERS).start()
    (tmp_path / ".env").write_text("\n".join([
        f"TELEGRAM_TOKEN={telegram.token}", f"DISCORD_TOKEN={DISCORD_TOKEN}",
        # Where the platforms are: only a test has to say so.
        f"TELEGRAM_BASE_URL={telegram.base_url}",
        f"TELEGRAM_BASE_FILE_URL={telegram.base_file_url}",
        f"DISCORD_API_BASE_URL={discord.api_base}", f"DISCORD_GATEWAY_URL={discord.gateway_url}",
        f"DISCORD_DEV_GUILD_ID={discord.guild_id}", "DEFAULT_TIMEZONE=UTC", ""]))
    port = free_ports(WORKERS)
    script = await asyncio.create_subprocess_exec(
        "sh", str(SCRIPT), str(WORKERS), cwd=tmp_path,
        env=child_env(DATABASE_URL=url, PORT=port), start_new_session=True,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT)
    try:
        bodies: dict[int, dict[str, Any]] = {}
        async with aiohttp.ClientSession() as session:
            for _ in range(600):
                for i in range(WORKERS):
                    body = await healthz(session, port + i)
                    if body is not None:
                        bodies[i] = body
                polling = [b for b in bodies.values() if b.get("poller")]
                if len(bodies) == WORKERS and len(polling) == 1:
                    break
                assert script.returncode is None, logs(tmp_path)
                await asyncio.sleep(0.1)
        assert len(bodies) == WORKERS, (bodies, logs(tmp_path))
        for i, body in bodies.items():
            assert body["worker"] == f"worker-{i}"
            assert body["shards"] == [i]
            assert body["database"] == "ok"
            assert sorted(body["adapters"]) == ["discord", "telegram"]
        assert sorted(b["telegram"] for b in bodies.values()) == ["polling", "standby",
                                                                    "standby"]
        await discord.wait_until(lambda: set(discord.sockets) == set(range(WORKERS)), 30,
                                 "every shard to connect")

        host = telegram.add_user("Ola")
        group = telegram.add_group("Scaling club", members=[(host, "creator")])
        await telegram.ask(group, host, "/watchparty create Scaled | in 1h", within=30)
        await telegram.wait_post(group, "🎬 Scaled", within=30)
        mod = discord.person("Mo", moderator=True)
        channels = [discord.guilds[g]["channels"][0] for g in discord.guilds]
        for n, channel in enumerate(channels):
            await create_party(discord, mod, f"Scaled D{n}", guide=None, channel=channel)

        os.killpg(script.pid, signal.SIGINT)  # Ctrl-C
        assert await asyncio.wait_for(script.wait(), 60) == 0, logs(tmp_path)
        said = (await script.stdout.read()).decode() if script.stdout else ""
    finally:
        if script.returncode is None:
            os.killpg(script.pid, signal.SIGKILL)
            await script.wait()
        await discord.stop()
        await telegram.stop()
        await drop(url)

    assert "created the database" in said, said
    for i in range(WORKERS):
        assert f"worker-{i}: pid" in said, said
    assert sum("🎬 Scaled" in p.text for p in telegram.in_chat(group)) == 1
    assert telegram.poll_overlaps == 0 and telegram.limit_violations == []
    assert not telegram.failures and not discord.unknown_routes
    for i in range(WORKERS):
        log = (tmp_path / f"worker-{i}.log").read_text(errors="replace")
        assert "Traceback" not in log, log
