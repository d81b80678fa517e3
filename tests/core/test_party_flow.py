"""A whole party on a fake clock: every message at its instant, pauses shifting later prompts."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot import buttons
from bot import commands as c
from bot.party import PartyState
from bot.ports import SentKind
from bot.records import RecordKind
from tests.fakes import GUEST, HOME, HOST, MOD, Bot
from tests.postgres import STORES
from tests.reads import pending_actions

# The party flow on every store, PostgreSQL too.
pytestmark = pytest.mark.parametrize("bot", STORES, indirect=True)


def at(hh: int, mm: int, ss: int = 0) -> datetime:
    """An instant on the test day (Friday 27 March 2026, UTC)."""
    return datetime(2026, 3, 27, hh, mm, ss, tzinfo=UTC)


async def advance_to(bot: Bot, when: datetime) -> None:
    """Run the fake clock up to `when`."""
    await bot.advance((when - bot.clock.now()).total_seconds())


async def create(bot: Bot, when: str = "2026-03-27T20:00:00+00:00") -> str:
    """Create the test party and return its join code."""
    reply = await bot.do(c.CreateParty("Short Film Night", when, "short-film"))
    assert reply is not None
    code = next(span.text for span in reply.message.spans if len(getattr(span, "text", "")) == 6
                and getattr(span, "text", "").isupper())
    return code


async def test_whole_party(bot: Bot) -> None:
    code = await create(bot)
    party = await bot.store.get_party_by_code(code)
    assert party is not None and party.state is PartyState.SCHEDULED
    announcement = bot.gateway.posts(HOME, "Short Film Night")[0]
    assert "join code" in announcement.text and code in announcement.text
    assert "This party records" in announcement.text
    assert [b.label for b in announcement.message.buttons[0]] == ["Going", "Maybe", "Not going"]

    # RSVP through the button data the announcement carries, as an adapter would.
    going = announcement.message.buttons[0][0].data
    await bot.do(buttons.parse(going), actor=GUEST)
    edits = [s for s in bot.gateway.sent if s.edit and s.message_id == announcement.message_id]
    assert edits and "Going 1" in edits[-1].text

    await advance_to(bot, at(19, 44, 59))
    assert bot.gateway.posts(containing="🔔") == []
    await advance_to(bot, at(19, 45))
    reminder = bot.gateway.posts(containing="🔔")
    assert [r.at for r in reminder] == [at(19, 45)]
    assert "in 15 minutes" in reminder[0].text and reminder[0].message.mentions == ()

    await advance_to(bot, at(19, 58))
    check = bot.gateway.posts(containing="Load the film and pause at 0:00")
    assert [p.at for p in check] == [at(19, 58)]
    ready_button = check[0].message.buttons[0][0]
    assert ready_button.label == "Ready"
    await bot.do(buttons.parse(ready_button.data), actor=GUEST)
    await bot.do(c.MarkReady(code), actor=HOST)
    await bot.advance(1)  # a second edit of the same message waits for a quiet second
    ready_edits = [s for s in bot.gateway.sent if s.edit and s.message_id == check[0].message_id]
    assert "Ready: 2" in ready_edits[-1].text

    await advance_to(bot, at(19, 59))
    assert [r.at for r in bot.gateway.posts(containing="🔔")] == [at(19, 45), at(19, 59)]
    await advance_to(bot, at(19, 59, 50))
    countdown = bot.gateway.posts(containing="GO at")
    assert [p.at for p in countdown] == [at(19, 59, 50)]
    party = await bot.store.get_party_by_code(code)
    assert party is not None and party.state is PartyState.COUNTING_DOWN

    await advance_to(bot, at(20, 0))
    go = bot.gateway.posts(containing="▶ GO")
    assert [p.at for p in go] == [at(20, 0)]
    party = await bot.store.get_party_by_code(code)
    assert party is not None and party.state is PartyState.PLAYING and party.go_at == at(20, 0)

    await advance_to(bot, at(20, 10))
    first = bot.gateway.posts(containing="Chapter 1 of 3")
    assert [p.at for p in first] == [at(20, 10)]
    assert "What did you notice first?" in first[0].text

    # Answers and reactions on the prompt are recorded with the film position.
    await advance_to(bot, at(20, 11))
    reply = await bot.do(c.RecordAnswer("The light.", message_id=first[0].message_id),
                         actor=GUEST)
    assert reply is not None and "The light." in reply.message.plain()
    await bot.do(c.RecordReaction(first[0].message_id, "😂"), actor=GUEST)

    # Pause at film 0:15:00 for five minutes; resume posts a countdown and GO again.
    await advance_to(bot, at(20, 15))
    await bot.do(c.PauseParty(code), actor=HOST)
    assert bot.gateway.posts(containing="paused at 0:15:00")
    await advance_to(bot, at(20, 20))
    assert bot.gateway.posts(containing="Chapter 2 of 3") == []
    info = await bot.do(c.ShowInfo(code))
    assert info is not None and "Paused at 0:15:00" in info.message.plain()
    # Resume names GO's instant, RESUME_COUNTDOWN_SECONDS (5 by default) ahead.
    await bot.do(c.ResumeParty(code), actor=HOST)
    [resuming] = bot.gateway.posts(containing="Resuming")
    assert resuming.text == ("⏯ Resuming Short Film Night from 0:15:00: GO at 20:20:05 UTC — "
                             "in 5 seconds. Press play at GO."), resuming.text
    await advance_to(bot, at(20, 20, 4))
    assert [p for p in bot.gateway.posts(containing="▶ GO") if "0:15:00" in p.text] == []
    await advance_to(bot, at(20, 20, 5))
    regos = bot.gateway.posts(containing="from 0:15:00")
    assert [p.at for p in regos if "▶ GO" in p.text] == [at(20, 20, 5)]

    # The pause (20:15:00 → 20:20:05, 305 s) shifts every later prompt by 305 s.
    await advance_to(bot, at(20, 25, 4))
    assert bot.gateway.posts(containing="Chapter 2 of 3") == []
    await advance_to(bot, at(20, 25, 5))
    second = bot.gateway.posts(containing="Chapter 2 of 3")
    assert [p.at for p in second] == [at(20, 25, 5)] * 2
    polls = [s for s in bot.gateway.sent if s.message.poll is not None]
    assert [p.at for p in polls] == [at(20, 25, 5)]
    assert polls[0].message.poll is not None
    assert polls[0].message.poll.options == ("The call", "The walk")
    await bot.do(c.RecordPollVote(polls[0].message_id, (1,)), actor=GUEST)

    now = await bot.do(c.ShowInfo(code))
    assert now is not None and "Seek to 0:20:00 — chapter 3 of 3" in now.message.plain()

    await advance_to(bot, at(20, 34, 5))
    assert [p.at for p in bot.gateway.posts(containing="Chapter 3 of 3")] == [at(20, 34, 5)]
    await advance_to(bot, at(20, 35, 6))
    summary = bot.gateway.posts(containing="is over")
    assert [p.at for p in summary] == [at(20, 35, 6)]
    text = summary[0].text
    assert "1 going · 2 ready · 1 answered" in text
    assert "Chapter 1, Opening: 1 answer" in text and "0:11:00 (1 😂)" in text
    assert f"/watchparty export {code}" in text
    party = await bot.store.get_party_by_code(code)
    assert party is not None and party.state is PartyState.FINISHED

    kinds = [r.kind async for r in bot.store.iter_records(party.id)]
    assert kinds == [RecordKind.RSVP, RecordKind.READY, RecordKind.READY, RecordKind.ANSWER,
                     RecordKind.REACTION_ADDED, RecordKind.POLL_VOTE]
    records = [r async for r in bot.store.iter_records(party.id)]
    assert records[3].position == 660.0 and records[3].prompt == "1.1"
    # The vote came at 20:25:05, film 0:20:00 (the pause took 305 s).
    assert records[5].value == "The walk" and records[5].position == 1200.0
    # Each message was posted once, and nothing is left to fire but the retention clean-up.
    assert len(bot.gateway.posts(containing="▶ GO")) == 2
    assert await pending_actions(bot.store, party.id) == []


async def test_start_now_moves_the_start_and_drops_reminders(bot: Bot) -> None:
    code = await create(bot)
    await advance_to(bot, at(13, 0))
    await bot.do(c.StartParty(code, "now"), actor=HOST)
    assert [p.at for p in bot.gateway.posts(containing="GO at")] == [at(13, 0)]
    await advance_to(bot, at(13, 0, 10))
    assert [p.at for p in bot.gateway.posts(containing="▶ GO")] == [at(13, 0, 10)]
    await advance_to(bot, at(20, 5))
    assert bot.gateway.posts(containing="🔔") == []
    assert len(bot.gateway.posts(containing="▶ GO")) == 1


async def test_start_when_ready(bot: Bot) -> None:
    code = await create(bot)
    reply = await bot.do(c.StartParty(code, "ready 2"), actor=HOST)
    assert reply is not None and "when 2 people are ready (0 now)" in reply.message.plain()
    await bot.do(c.MarkReady(code), actor=GUEST)
    assert bot.gateway.posts(containing="GO at") == []
    await bot.do(c.MarkReady(code), actor=MOD)
    assert [p.at for p in bot.gateway.posts(containing="GO at")] == [at(12, 0)]
    await advance_to(bot, at(12, 0, 10))
    assert [p.at for p in bot.gateway.posts(containing="▶ GO")] == [at(12, 0, 10)]


async def test_cancel_stops_everything(bot: Bot) -> None:
    code = await create(bot)
    await bot.do(c.CancelParty(code), actor=HOST)
    assert bot.gateway.posts(containing="was cancelled by Hana")
    await advance_to(bot, at(21, 0))
    assert bot.gateway.posts(containing="🔔") == [] and bot.gateway.posts(containing="GO") == []
    party = await bot.store.get_party_by_code(code)
    assert party is not None and party.state is PartyState.CANCELLED
    assert await pending_actions(bot.store, party.id) == []


async def test_late_actions_after_downtime_get_a_note_or_are_skipped(bot: Bot) -> None:
    """Actions that fell due while nothing ran: within grace posted late, beyond it skipped."""
    code = await create(bot, "2026-03-27T12:30:00+00:00")
    await advance_to(bot, at(12, 30))
    await bot.runtime.scheduler.stop()
    # The bot is down from 12:30 to 12:42: the 12:40 prompt is 2 min late (within 5 min grace).
    await advance_to(bot, at(12, 42))
    assert bot.gateway.posts(containing="Chapter 1 of 3") == []
    bot.runtime.scheduler.start()
    await bot.advance(0)
    party = await bot.store.get_party_by_code(code)
    assert party is not None
    late = bot.gateway.posts(containing="Chapter 1 of 3")
    assert [p.at for p in late] == [at(12, 42)]
    assert "posted 2 min late: the bot was offline" in late[0].text
    assert [e.key for e in await bot.store.party_log(party.id)] == ["action_late"]

    # Down again from 12:42 to 13:00: the 12:50 prompt is 10 min late, past the grace period
    # (skipped and logged); the 12:59 prompt is 1 min late (posted with a note).
    await bot.runtime.scheduler.stop()
    await advance_to(bot, at(13, 0))
    bot.runtime.scheduler.start()
    await bot.advance(0)
    assert bot.gateway.posts(containing="Chapter 2 of 3") == []
    assert [p.at for p in bot.gateway.posts(containing="Chapter 3 of 3")] == [at(13, 0)]
    log = await bot.store.party_log(party.id)
    assert [e.key for e in log] == ["action_late", "action_skipped", "action_late"]
    assert log[1].params["kind"] == "prompt" and log[1].params["late_seconds"] == 600
    prompts = await bot.store.sent_messages(party.id, SentKind.PROMPT)
    assert sorted(s.prompt or "" for s in prompts) == ["1.1", "3.1"]

