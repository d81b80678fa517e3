"""Telegram end to end, through the fake Bot API of tests/adapters/telegram on 127.0.0.1.

1. Command → reply latency: `/watchparty list` sent as an update, until the reply's sendMessage
   reaches the fake server; one command at a time, each from its own group (a group may get one
   message a second), paced to 25 a second (Telegram allows a bot 30). p50/p99 over 200.
   Baseline, same run, same server: a plain python-telegram-bot bot (PTB's own Updater polling,
   reply sent straight from the handler) answering the same command with the same text.
2. GO lateness: one party in a home group linked to 9 more (each link asked and approved through
   the bot), with Telegram's limits (30/s per bot, 1/s and 20/min per group), a 1-minute reminder
   and the countdown on the way; for each group, when its GO reaches the server, against the
   party's start instant. Baseline: ten sendMessage calls fired by plain PTB at an instant.

Run: .venv/bin/python -m bench.telegram_e2e [--commands 200] [--groups 10] [--lead 75]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from telegram import Update
from telegram.ext import Application, ApplicationBuilder, CommandHandler, ContextTypes

from adapters.telegram import TelegramAdapter, create_adapter
from bot import app, render
from bot.clock import SystemClock
from bot.party import normalize_code
from bot.settings import Settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "adapters" / "telegram"))
from faketelegram import FakeTelegram

from tests.serving import serve

os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"
PACE = 1 / 25
JITTER = 0.02


@dataclass
class Bot:
    """The production wiring on the fake server."""

    adapter: TelegramAdapter
    runtime: app.Runtime


@contextlib.asynccontextmanager
async def running_bot(fake: FakeTelegram, db: Path, **overrides: Any) -> AsyncIterator[Bot]:
    """create_adapter + app.serve, as `python -m bot` does, on a SQLite file."""
    values: dict[str, Any] = {"telegram_token": fake.token, "telegram_base_url": fake.base_url,
                              "telegram_base_file_url": fake.base_file_url,
                              "database_url": f"sqlite:///{db}",
                              "default_timezone": "UTC"}
    values.update(overrides)
    settings = Settings(_env_file=None, **values)
    adapter = create_adapter(settings)
    serving = await serve(settings, [adapter], name="telegram-bot")
    try:
        await fake.wait_for(lambda: fake.getupdates_waiting > 0 or serving.task.done(), 10,
                            "the bot to poll")
        if serving.task.done():
            serving.task.result()
        yield Bot(adapter, serving.runtime)
    finally:
        await serving.stop(within=60)


@contextlib.asynccontextmanager
async def plain_ptb_bot(fake: FakeTelegram) -> AsyncIterator[None]:
    """The baseline: PTB's Updater polling and a handler that replies at once."""
    text = render.party_list([], "UTC", SystemClock().now()).plain()

    async def answer(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None
        await update.message.reply_text(text)

    application: Application[Any, Any, Any, Any, Any, Any] = (
        ApplicationBuilder().token(fake.token).base_url(fake.base_url)
        .base_file_url(fake.base_file_url).job_queue(None).build())
    application.add_handler(CommandHandler("watchparty", answer))
    await application.initialize()
    assert application.updater is not None
    await application.updater.start_polling(poll_interval=0.0, timeout=25)
    await application.start()
    try:
        yield
    finally:
        await application.updater.stop()
        await application.stop()
        await application.shutdown()


async def command_latencies(fake: FakeTelegram, count: int) -> list[float]:
    """Seconds from each `/watchparty list` update to its reply reaching the server."""
    user = fake.add_user("Bench")
    groups = [fake.add_group(f"Bench group {i}", members=[(user, "member")])
              for i in range(count + 5)]
    out: list[float] = []
    for index, group in enumerate(groups):
        started = time.monotonic()
        _, message = fake.command(group, user, "/watchparty list")
        reply = await fake.reply_to(group, message, within=10)
        if index >= 5:  # the first few warm connections and caches up
            out.append(reply.at - started)
        await asyncio.sleep(max(0.0, started + PACE - time.monotonic()))
    return out


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


async def go_lateness(fake: FakeTelegram, folder: Path, groups: int,
                      lead: int) -> tuple[list[float], list[float], int]:
    """Lateness of GO (and of the countdown) in each linked group; the outbox's 429 retries."""
    host = fake.add_user("Host")
    chats = [fake.add_group(f"Party group {i}", members=[(host, "creator")])
             for i in range(groups)]
    async with running_bot(fake, folder / "go.db") as bot:
        created = await fake.ask(chats[0], host, f"/watchparty create Bench night | "
                                                 f"in {lead}s", within=10)
        code = next(w.rstrip(".") for w in created.text.split()
                    if normalize_code(w.rstrip(".")) is not None)
        for chat in chats[1:]:
            before = len(fake.in_chat(chats[0]))
            await fake.ask(chat, host, f"/watchparty link {code}", within=30)
            request = await fake.wait_post(chats[0], "asks to link", within=90, after=before)
            fake.press(request, host, "Approve")
            await fake.wait_post(chat, "join code", within=90)
        party = await bot.runtime.store.get_party_by_code(code)
        assert party is not None
        start = party.starts_at.timestamp()
        print(f"  {groups} groups linked {start - time.time():.1f} s before the start",
              flush=True)
        gos = [await fake.wait_post(chat, "▶ GO", within=lead + 30) for chat in chats]
        countdowns = [await fake.wait_post(chat, "⏱", within=5) for chat in chats]
        retries = bot.runtime.outbox.retry_count
        counted_from = start - bot.runtime.core.config.countdown.total_seconds()
    return ([p.wall - start for p in gos], [p.wall - counted_from for p in countdowns],
            retries)


async def baseline_go(fake: FakeTelegram, groups: int) -> list[float]:
    """Ten sendMessage calls from plain PTB at one instant: the floor for GO lateness."""
    user = fake.add_user("Base")
    chats = [fake.add_group(f"Baseline {i}", members=[(user, "creator")]) for i in range(groups)]
    application = (ApplicationBuilder().token(fake.token).base_url(fake.base_url)
                   .job_queue(None).updater(None).build())
    await application.initialize()
    try:
        await application.bot.send_message(chats[0]["id"], "warm-up")
        instant = time.time() + 1.0
        await asyncio.sleep(instant - time.time())
        await asyncio.gather(*(application.bot.send_message(c["id"], "▶ GO") for c in chats))
    finally:
        await application.shutdown()
    return [fake.in_chat(c)[-1].wall - instant for c in chats]


def busiest(fake: FakeTelegram) -> tuple[int, int, int]:
    """The most messages the bot sent in any 1 s (whole bot), any 1 s and any 60 s (one chat).

    Windows are shortened by 20 ms of arrival jitter.
    """
    sent = [c for c in fake.calls if c.method in ("sendMessage", "sendPoll", "sendDocument",
                                                  "editMessageText") and c.status == 200]

    def most(times: list[float], window: float) -> int:
        # Arrival times carry loopback jitter: sends 1.000 s apart may arrive 0.999 s apart.
        window -= JITTER
        times.sort()
        best, first = 0, 0
        for last, at in enumerate(times):
            while at - times[first] >= window:
                first += 1
            best = max(best, last - first + 1)
        return best

    chats = {c.chat_id for c in sent}
    per_chat = [[c.at for c in sent if c.chat_id == chat] for chat in chats]
    return (most([c.at for c in sent], 1.0), max(most(t, 1.0) for t in per_chat),
            max(most(t, 60.0) for t in per_chat))


def summary(name: str, values: list[float]) -> str:
    """One table row in milliseconds."""
    ms = [v * 1000 for v in values]
    return (f"| {name} | {len(ms)} | {statistics.median(ms):.1f} | {percentile(ms, 99):.1f} | "
            f"{max(ms):.1f} |")


async def main() -> None:
    """Run both parts and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commands", type=int, default=200)
    parser.add_argument("--groups", type=int, default=10)
    parser.add_argument("--lead", type=int, default=75,
                        help="seconds from creating the party to its start (links in between)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        fake = FakeTelegram()
        await fake.start()
        try:
            print(f"1. command → reply, {args.commands} × /watchparty list", flush=True)
            async with running_bot(fake, folder / "latency.db"):
                ours = await command_latencies(fake, args.commands)
        finally:
            await fake.stop()
        base_fake = FakeTelegram()
        await base_fake.start()
        try:
            async with plain_ptb_bot(base_fake):
                base = await command_latencies(base_fake, args.commands)
            print(f"2. GO lateness, one party in {args.groups} groups, start {args.lead} s "
                  "after creation", flush=True)
            go_base = await baseline_go(base_fake, args.groups)
        finally:
            await base_fake.stop()
        go_fake = FakeTelegram()
        await go_fake.start()
        try:
            gos, countdowns, retries = await go_lateness(go_fake, folder, args.groups, args.lead)
            bot_second, chat_second, chat_minute = busiest(go_fake)
        finally:
            await go_fake.stop()
    print()
    print("| measured | n | p50 ms | p99 ms | max ms |")
    print("|---|---:|---:|---:|---:|")
    print(summary("watchparty: /watchparty list → reply", ours))
    print(summary("baseline: plain PTB handler reply", base))
    print(summary(f"watchparty: GO lateness, {args.groups} linked groups", gos))
    print(summary("watchparty: countdown lateness (same groups)", countdowns))
    print(summary(f"baseline: {args.groups} plain PTB sendMessage at an instant", go_base))
    print(f"\nGO within 250 ms in {sum(1 for g in gos if g <= 0.25)}/{len(gos)} groups; "
          f"429 retries during the GO run: {retries}")
    print(f"busiest during the GO run: {bot_second} requests in 1 s from the bot (limit 30), "
          f"{chat_second} in 1 s and {chat_minute} in 60 s to one group (limits 1 and 20)")


if __name__ == "__main__":
    asyncio.run(main())
