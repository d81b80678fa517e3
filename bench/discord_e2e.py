"""The Discord adapter end to end, through the loopback fake Discord of the adapter tests.

Run: .venv/bin/python -m bench.discord_e2e [--calls 200] [--channels 10] [--parties 3]

Two measurements, each beside a baseline taken in the same run on the same fake server:

- **Command latency**: `--calls` `/watchparty list` slash commands one after another, from the
  moment the fake dispatches INTERACTION_CREATE on the gateway to the moment the interaction
  callback reaches the fake. The bot runs as in production: `python -m bot` in a process of
  its own (`app.run_bot` → `app.serve`), SQLite file, system clock. Baseline: a bare discord.py
  `Client` whose `on_interaction` answers "pong" at once (the floor set by discord.py, aiohttp
  and the fake).
- **GO lateness**: `--parties` parties, each linked to `--channels` channels (one home, the others
  by `/watchparty link` and Approve), started with `/watchparty start`; for every channel, the
  time the fake receives the GO post minus the party's start instant. Production rate limits
  (`bot=50/1s; chat=5/5s`) and countdown (10 s). Baseline: the same number of posts sent by a
  bare client with `asyncio.gather` at a chosen instant (the floor for posting to N channels).

Targets (issue 3): command p99 ≤ 50 ms; every GO ≤ 250 ms after the start instant.
`BENCH_LOG_LEVEL=DEBUG` shows the bot's own log (the outbox logs each send at DEBUG).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import discord

ROOT = Path(__file__).resolve().parents[1]
# The fake Discord lives with the adapter tests (a plain folder, not a package).
sys.path.insert(0, str(ROOT / "tests" / "adapters" / "discord"))

from fakediscord import TOKEN, FakeDiscord  # noqa: E402

from adapters.discord import redirect  # noqa: E402
from tests.childenv import child_env  # noqa: E402

os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
TARGET_P99_MS = 50.0
TARGET_GO_MS = 250.0


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank) of `values`."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


async def list_latencies(fake: FakeDiscord, calls: int, expect: str) -> list[float]:
    """Milliseconds from dispatch to callback for `calls` sequential /watchparty list."""
    user = fake.person("Bench")
    out = []
    for _ in range(calls):
        answer = await fake.wait_answer(await fake.slash(user, "list"), final=False)
        assert answer.answered_at is not None and answer.kind == 4, answer.callback
        assert expect in answer.text, answer.text
        out.append((answer.answered_at - answer.at) * 1000)
    return out


def _env(fake: FakeDiscord, db: Path) -> dict[str, str]:
    return child_env(
        DISCORD_TOKEN=TOKEN, DISCORD_API_BASE_URL=fake.api_base,
        DISCORD_GATEWAY_URL=fake.gateway_url, DISCORD_DEV_GUILD_ID=str(fake.guild_id),
        DATABASE_URL=f"sqlite:///{db}", LOG_LEVEL=os.environ.get("BENCH_LOG_LEVEL", "WARNING"),
        BENCH_CHANNELS=", ".join(map(str, fake.channels)),
    )


async def spawn(fake: FakeDiscord, db: Path, *args: str) -> asyncio.subprocess.Process:
    """Start a process (the bot, or the bare client) against the fake; wait until it connects."""
    connections = fake.connections
    process = await asyncio.create_subprocess_exec(
        sys.executable, *args, cwd=db.parent, env=_env(fake, db),
        stdin=asyncio.subprocess.DEVNULL)
    await fake.wait_until(lambda: fake.connections > connections and fake.ws is not None, 30,
                          f"{' '.join(args)} to connect")
    return process


async def terminate(process: asyncio.subprocess.Process) -> None:
    """SIGTERM, and wait for a clean exit."""
    process.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(process.wait(), 30)
    except TimeoutError:
        process.kill()
        await process.wait()


async def bare_client() -> None:
    """The baseline process: a plain discord.py client, no core, no database.

    `/watchparty list` is answered "pong" at once; `/watchparty go at:T` posts one message to
    every channel with `asyncio.gather` at the instant T (the floor for GO to N channels).
    """
    redirect(os.environ["DISCORD_API_BASE_URL"], os.environ["DISCORD_GATEWAY_URL"])
    discord.VoiceClient.warn_nacl = False
    discord.VoiceClient.warn_dave = False
    channels = [int(c) for c in os.environ["BENCH_CHANNELS"].split(",")]
    client = discord.Client(intents=discord.Intents(guilds=True))

    @client.event
    async def on_interaction(interaction: discord.Interaction[discord.Client]) -> None:
        sub = (interaction.data or {}).get("options", [{}])[0]
        await interaction.response.send_message("pong")
        if sub.get("name") == "go":
            at = float(sub["options"][0]["value"])
            await asyncio.sleep(at - time.time())
            await asyncio.gather(*(client.get_partial_messageable(c).send("▶ GO (baseline)")
                                   for c in channels))

    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    task = asyncio.create_task(client.start(TOKEN))
    await stop.wait()
    await client.close()
    await task


async def go_lateness(fake: FakeDiscord, parties: int) -> list[float]:
    """Milliseconds between each party's start instant and each GO post reaching the fake."""
    host, mod = fake.person("Host"), fake.person("Mod", moderator=True)
    home, others = fake.channels[0], fake.channels[1:]
    late: list[float] = []
    for number in range(parties):
        title = f"Bench party {number + 1}"
        created = await fake.wait_answer(await fake.slash(host, "create", home, title=title,
                                                          when="in 2h"))
        code = created.text.split("`")[1]
        for channel in others:
            await fake.wait_answer(await fake.slash(mod, "link", channel, code=code))
            request = await fake.wait_message(f"to link a discord chat to **{title}**", home,
                                              count=others.index(channel) + 1, within=30)
            await fake.wait_answer(await fake.click(host, request, "Approve"))
        await fake.wait_until(lambda code=code: all(fake.find(code, c) for c in others), 60,
                              "links")
        await asyncio.sleep(5.5)  # let each channel's 5-per-5-s window empty, as a host would
        mark = len(fake.requests)
        started = await fake.wait_answer(await fake.slash(host, "start", home, party=code))
        assert "Countdown started" in started.text, started.text
        countdown = await fake.wait_message("GO at <t:", home, count=number + 1, within=15)
        start_at = int(countdown["content"].split("<t:")[1].split(":")[0])
        await fake.wait_until(lambda mark=mark: sum(
            1 for r in fake.requests[mark:] if "▶ GO" in str((r.body or {}).get("content"))
            and r.status == 200) >= len(fake.channels), 30, "GO")
        for request in fake.requests[mark:]:
            if "▶ GO" in str((request.body or {}).get("content")) and request.status == 200:
                late.append((request.wall - start_at) * 1000)
    return late


async def baseline_posts(fake: FakeDiscord, rounds: int) -> list[float]:
    """Milliseconds from an instant to each of the bare client's concurrent posts."""
    user = fake.person("Bench")
    out: list[float] = []
    for _ in range(rounds):
        instant = round(time.time() + 1.0, 3)
        mark = len(fake.requests)
        await fake.wait_answer(await fake.slash(user, "go", at=str(instant)))
        await fake.wait_until(lambda mark=mark: sum(
            r.status == 200 and r.path.startswith("/channels/")
            for r in fake.requests[mark:]) >= len(fake.channels), 10, "the baseline posts")
        out += [(r.wall - instant) * 1000 for r in fake.requests[mark:]
                if r.status == 200 and r.path.startswith("/channels/")]
    return out


def summary(values: list[float]) -> str:
    """p50 / p99 / max in ms."""
    return (f"p50 {statistics.median(values):.1f} ms · p99 {percentile(values, 99):.1f} ms · "
            f"max {max(values):.1f} ms")


async def main(calls: int, channels: int, parties: int) -> int:
    """Run both measurements and their baselines; print the figures."""
    results: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        fake = await FakeDiscord(channels=channels).start()
        # baseline: the bare client; the fake offers it the two commands it answers
        fake.commands[str(fake.guild_id)] = [{
            "id": "1", "name": "watchparty", "type": 1, "guild_id": str(fake.guild_id),
            "options": [{"name": "list", "type": 1, "options": []},
                        {"name": "go", "type": 1,
                         "options": [{"name": "at", "type": 3}]}]}]
        bare = await spawn(fake, db, "-m", "bench.discord_e2e", "--bare-client")
        await list_latencies(fake, 20, "pong")  # warm-up
        results["bare list"] = await list_latencies(fake, calls, "pong")
        results["bare posts"] = await baseline_posts(fake, parties)
        await terminate(bare)
        # the bot, exactly as deployed: `python -m bot` configured by the environment
        bot = await spawn(fake, db, "-m", "bot")
        await fake.wait_until(lambda: fake.commands[str(fake.guild_id)][0]["id"] != "1", 10,
                              "the bot's commands")
        await list_latencies(fake, 20, "No upcoming or running parties")  # warm-up
        results["bot list"] = await list_latencies(fake, calls, "No upcoming or running parties")
        results["bot GO"] = await go_lateness(fake, parties)
        await terminate(bot)
        await fake.stop()

    now = datetime.now(UTC).strftime("%Y-%m-%d")
    print(f"# bench/discord_e2e ({now}, Python {sys.version.split()[0]}, "
          f"discord.py {discord.__version__})")
    print(f"/watchparty list, {calls} calls, dispatch → callback:")
    print(f"  watchparty bot : {summary(results['bot list'])}")
    print(f"  bare discord.py: {summary(results['bare list'])}  (baseline)")
    print(f"GO lateness, {parties} parties × {channels} linked channels "
          f"({len(results['bot GO'])} GO posts), start instant → post at the fake:")
    print(f"  watchparty bot : {summary(results['bot GO'])}")
    print(f"  bare discord.py: {summary(results['bare posts'])}  (baseline: "
          f"{channels} concurrent posts at an instant)")
    p99 = percentile(results["bot list"], 99)
    worst = max(results["bot GO"])
    print(f"targets: list p99 {p99:.1f} ≤ {TARGET_P99_MS:g} ms: "
          f"{'met' if p99 <= TARGET_P99_MS else 'MISSED'}; every GO ≤ {TARGET_GO_MS:g} ms "
          f"(worst {worst:.1f}): {'met' if worst <= TARGET_GO_MS else 'MISSED'}")
    return 0 if p99 <= TARGET_P99_MS and worst <= TARGET_GO_MS else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--channels", type=int, default=10)
    parser.add_argument("--parties", type=int, default=3)
    parser.add_argument("--bare-client", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_client:
        asyncio.run(bare_client())
        sys.exit(0)
    sys.exit(asyncio.run(main(args.calls, args.channels, args.parties)))
