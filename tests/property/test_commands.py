"""Arbitrary text after `/watchparty`, through the text syntax and the core, on the memory store
and the fake clock: a reply or a clear refusal, and a refusal stores and sends nothing."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

from hypothesis import event, example, given
from hypothesis import strategies as st

from bot import app
from bot import commands as c
from bot.arguments import GUIDE_SPECS, SPECS, parse_command_text
from bot.chats import Actor
from bot.clock import ManualClock
from bot.errors import UserError
from bot.outbox import UNLIMITED
from storage.memory import MemoryStore
from tests.fakes import GUEST, HOME, HOST, MOD, OTHER, START, Bot, RecordingGateway, ctx
from tests.fakes import test_settings as core_settings
from tests.property.checks import PROPERTY, assert_renders

CODE = "{code}"  # replaced by the join code of the party each example starts with
SUBCOMMANDS = [*SPECS, *(f"guide {g}" for g in GUIDE_SPECS), "guide upload", "guide", ""]
WORDS = st.sampled_from([
    CODE, "K7Q2MX", "|", "||", "=", "party=", f"party={CODE}", "when=", "title=", "guide=",
    "timezone=", "format=", "anonymize=", "yes", "perhaps", "now", "ready", "3", "-1", "0",
    "in 45m", "tomorrow 8pm", "friday 20:00", "2026-03-27T13:00:00Z", "Europe/Berlin", "Mars/Base",
    "short-film", "csv", "html", "md", "json", "pdf", "reminders=15m,1m", "reminders=0s",
    "creators=anyone", "creators=nobody", "retention_days=0", "retention-days=30",
    "retention_days=99999999999999999999", "moderator_role=@mods", "ping_reminders=maybe",
    "#1", "#99", "social-dilemma", "../etc", "\u200b", "🎬", "a" * 250])
ARGS = (st.lists(WORDS, max_size=3).map(" ".join)
        | st.lists(WORDS | st.text(max_size=12), max_size=5).map(" ".join)
        | st.text(max_size=60))
ACTORS = st.sampled_from([HOST, MOD, GUEST])
CHATS = st.sampled_from([HOME, OTHER])


def stored(store: MemoryStore) -> dict[str, Any]:
    """Everything the memory store holds."""
    return copy.deepcopy(vars(store))


async def scenario(text: str, actor: Actor, chat: Any) -> None:
    clock = ManualClock(START)
    store = MemoryStore()
    gateway = RecordingGateway("test", clock)
    runtime = await app.build(core_settings(), store, clock, {"test": (gateway, UNLIMITED)})
    await runtime.start()
    bot = Bot(runtime, clock, gateway, store)
    try:
        await bot.do(c.CreateParty("Fuzz night", "in 2 hours", "short-film"))
        [party] = store._parties.values()
        text = text.replace(CODE, party.code)
        try:
            command = parse_command_text(text)
        except UserError as err:
            event("refused by the syntax")
            assert_renders(err, text)
            return
        before, sent = stored(store), len(gateway.sent) + len(gateway.files)
        try:
            reply = await runtime.core.handle(ctx(actor, chat), command)
        except UserError as err:
            event(f"refused by the core: {err.key}")
            assert_renders(err, text)
            await clock.settle()
            await runtime.core.drain()
            assert stored(store) == before, f"refused {command!r} changed the store"
            assert len(gateway.sent) + len(gateway.files) == sent, f"refused {command!r} sent"
            return
        event(f"done: {type(command).__name__}")
        await clock.settle()
        await runtime.core.drain()
        if reply is not None:
            assert reply.message.plain().strip() or reply.attachment is not None
    finally:
        await runtime.stop()


@PROPERTY
@given(st.sampled_from(SUBCOMMANDS), ARGS, ACTORS, CHATS)
@example("settings", "retention_days=99999999999999999999", MOD, HOME)
@example("export", f"{CODE} | pdf", MOD, HOME)
@example("start", f"{CODE} ready 0", HOST, HOME)
def test_any_command_text(subcommand: str, args: str, actor: Actor, chat: Any) -> None:
    asyncio.run(scenario(f"{subcommand} {args}", actor, chat))
