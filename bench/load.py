"""Load through the fake Telegram server: many groups creating parties, members pressing Going.

Measures, for watchparty (production wiring on SQLite) and, in the same run, a baseline (a plain
python-telegram-bot Application with `concurrent_updates` answering the same presses, no
storage): Going press → answerCallbackQuery p50/p99; `/watchparty list` → reply p99 during the
load; create → announcement p99; GO lateness; updates still unconfirmed 7 s after the last one;
process CPU and peak RSS. Answers to prompts by reply are not part of this run yet.

Run: .venv/bin/python -m bench.load [--groups 200] [--members 50] [--lead 40]
     quick: .venv/bin/python -m bench.load --groups 20 --members 20
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from telegram import Update
from telegram.ext import ApplicationBuilder, CallbackQueryHandler, ContextTypes

from bench.telegram_e2e import percentile, running_bot
from bot.party import normalize_code

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "adapters" / "telegram"))
from faketelegram import FakeTelegram

PRESS_SECONDS = 6.0


class TimedTelegram(FakeTelegram):
    """The fake server, also noting when each callback query was answered."""

    def __init__(self) -> None:
        super().__init__()
        self.answered_at: dict[str, float] = {}

    async def api_answerCallbackQuery(self, params: dict[str, Any],
                                      files: dict[str, Any]) -> Any:
        self.answered_at.setdefault(str(params.get("callback_query_id")), time.monotonic())
        return await super().api_answerCallbackQuery(params, files)


def row(name: str, values: list[float], missing: int = 0) -> str:
    """One table row in seconds."""
    if not values:
        return f"| {name} | 0 | – | – | {missing} |"
    return (f"| {name} | {len(values)} | {percentile(values, 50):.3f} | "
            f"{percentile(values, 99):.3f} | {missing} |")


async def presses(fake: TimedTelegram, announcements: list[Any], members: list[list[Any]],
                  lists: list[tuple[Any, Any]]) -> tuple[list[float], int, list[float], int, int]:
    """Every member presses Going within PRESS_SECONDS; some groups ask for the list meanwhile."""
    pressed: list[tuple[str, float]] = []
    asked: list[tuple[Any, dict[str, Any], float]] = []
    order = [(g, m) for g in range(len(announcements)) for m in range(len(members[g]))]
    pace = PRESS_SECONDS / max(1, len(order))
    start = time.monotonic()
    last_update = 0
    for i, (g, m) in enumerate(order):
        last_update, query = fake.press(announcements[g], members[g][m], "Going")
        pressed.append((query, time.monotonic()))
        if i % max(1, len(order) // len(lists)) == 0 and len(asked) < len(lists):
            group, user = lists[len(asked)]
            _, message = fake.command(group, user, "/watchparty list")
            asked.append((group, message, time.monotonic()))
        await asyncio.sleep(max(0.0, start + (i + 1) * pace - time.monotonic()))
    await asyncio.sleep(7.0)
    unconfirmed = sum(1 for u in fake.updates if u["update_id"] <= last_update)
    answered = [fake.answered_at[q] - at for q, at in pressed if q in fake.answered_at]
    replies: list[float] = []
    for group, message, at in asked:
        reply = next((p for p in fake.in_chat(group) if p.reply_to == message["message_id"]),
                     None)
        if reply is not None:
            replies.append(reply.at - at)
    return (answered, len(pressed) - len(answered), replies, len(asked) - len(replies),
            unconfirmed)


def crowd(fake: TimedTelegram, groups: int, members: int) -> tuple[list[Any], list[list[Any]]]:
    """Groups with a host and members."""
    chats, people = [], []
    for g in range(groups):
        host = fake.add_user(f"Host {g}")
        users = [fake.add_user(f"Member {g}.{m}") for m in range(members)]
        chats.append(fake.add_group(f"Load group {g}", members=[(host, "creator")]
                                    + [(u, "member") for u in users]))
        people.append([host, *users])
    return chats, people


async def watchparty(args: argparse.Namespace, folder: Path) -> None:
    """The bot under load."""
    fake = TimedTelegram()
    await fake.start()
    cpu0 = time.process_time()
    wall0 = time.monotonic()
    try:
        chats, people = crowd(fake, args.groups, args.members)
        async with running_bot(fake, folder / "load.db") as bot:
            asked = []
            for g, chat in enumerate(chats):
                _, message = fake.command(chat, people[g][0],
                                          f"/watchparty create Load night | in {args.lead}s")
                asked.append((chat, message, time.monotonic()))
            announcements, created = [], []
            for chat, _message, at in asked:
                post = await fake.wait_post(chat, "join code", within=120)
                announcements.append(post)
                created.append(post.at - at)
            answered, unanswered, replies, no_reply, unconfirmed = await presses(
                fake, announcements, [p[1:] for p in people],
                [(chats[g], people[g][0]) for g in range(0, len(chats), max(1, len(chats) // 20))])
            codes = [next(w.rstrip(".") for w in a.text.split()
                          if normalize_code(w.rstrip(".")) is not None) for a in announcements]
            lateness = []
            for code, chat in zip(codes, chats, strict=True):
                party = await bot.runtime.store.get_party_by_code(code)
                assert party is not None
                go = await fake.wait_post(chat, "▶ GO", within=args.lead + 60)
                lateness.append(go.wall - party.starts_at.timestamp())
            final = sum(1 for a in announcements if f"Going {args.members} " in a.text)
    finally:
        await fake.stop()
    cpu = (time.process_time() - cpu0) / (time.monotonic() - wall0)
    print("| watchparty | n | p50 s | p99 s | missing |\n|---|---:|---:|---:|---:|")
    print(row("Going press → answerCallbackQuery", answered, unanswered))
    print(row("`/watchparty list` → reply, during the load", replies, no_reply))
    print(row("create → announcement", created))
    print(row("GO lateness", lateness))
    outside = sum(1 for x in lateness if abs(x) > 0.5)
    print(f"\nGO outside ±0.5 s: {outside}/{len(lateness)}; updates unconfirmed 7 s after the "
          f"last: {unconfirmed}; announcements showing the final count: {final}/{len(chats)}; "
          f"CPU {cpu:.0%} of one core (bot and fake server, one process); peak RSS "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


async def baseline(args: argparse.Namespace) -> None:
    """A plain PTB Application with concurrent_updates answering the same presses, no storage."""
    fake = TimedTelegram()
    await fake.start()
    try:
        chats, people = crowd(fake, args.groups, args.members)

        async def answer(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
            assert update.callback_query is not None
            await update.callback_query.answer("You're going")

        application = (ApplicationBuilder().token(fake.token).base_url(fake.base_url)
                       .concurrent_updates(256).job_queue(None).build())
        application.add_handler(CallbackQueryHandler(answer))
        await application.initialize()
        try:
            posts = [await application.bot.send_message(
                c["id"], "Load night", reply_markup=None) for c in chats]
            del posts
            assert application.updater is not None
            await application.updater.start_polling(poll_interval=0.0, timeout=25)
            await application.start()
            announcements = []
            for chat in chats:
                post = fake.in_chat(chat)[-1]
                post.buttons = [[{"text": "Going", "callback_data": "going"}]]
                announcements.append(post)
            answered, unanswered, _, _, unconfirmed = await presses(
                fake, announcements, [p[1:] for p in people], [])
        finally:
            if application.updater is not None and application.updater.running:
                await application.updater.stop()
            if application.running:
                await application.stop()
            await application.shutdown()
    finally:
        await fake.stop()
    print("\n| baseline: plain PTB, concurrent_updates | n | p50 s | p99 s | missing |")
    print("|---|---:|---:|---:|---:|")
    print(row("Going press → answerCallbackQuery", answered, unanswered))
    print(f"\nupdates unconfirmed 7 s after the last: {unconfirmed}")


async def main() -> None:
    """Run watchparty, then the baseline, and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=200)
    parser.add_argument("--members", type=int, default=50)
    parser.add_argument("--lead", type=int, default=40,
                        help="seconds from creating the parties to their start")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        await watchparty(args, Path(tmp))
    await baseline(args)


if __name__ == "__main__":
    asyncio.run(main())
