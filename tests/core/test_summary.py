"""The closing summary counts the reactions that still stand, not every one ever added."""

from __future__ import annotations

from bot import commands as c
from tests.fakes import GUEST, HOST, MOD, Bot


async def test_most_reacted_moments_leave_out_taken_back_reactions(bot: Bot) -> None:
    await bot.do(c.CreateParty("Short Film Night", "in 1 hour", "short-film"))
    await bot.do(c.StartParty(None, "now"), actor=HOST)
    await bot.advance(10)
    [go] = bot.gateway.posts(containing="▶ GO")
    await bot.advance(90)  # film 0:01:30
    await bot.do(c.RecordReaction(go.message_id, "😂"), actor=GUEST)
    await bot.do(c.RecordReaction(go.message_id, "😂"), actor=MOD)
    await bot.do(c.RecordReaction(go.message_id, "🔥"), actor=HOST)
    await bot.do(c.RecordReaction(go.message_id, "🔥", added=False), actor=HOST)
    # Taken back and given again: it stands once, at the film minute it was given again.
    await bot.advance(120)  # film 0:03:30
    await bot.do(c.RecordReaction(go.message_id, "👏"), actor=GUEST)
    await bot.do(c.RecordReaction(go.message_id, "👏", added=False), actor=GUEST)
    await bot.advance(60)  # film 0:04:30
    await bot.do(c.RecordReaction(go.message_id, "👏"), actor=GUEST)
    await bot.advance(30 * 60)
    [summary] = bot.gateway.posts(containing="is over")
    assert "Most-reacted moments: 0:01:00 (2 😂), 0:04:00 (1 👏)\n" in summary.text, summary.text
