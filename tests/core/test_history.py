"""`history` and what a left-out `party` means, on a fake clock."""

from __future__ import annotations

from bot import commands as c
from bot.arguments import parse_command_text as parse_text
from bot.party import PartyState
from tests.fakes import GUEST, HOME, HOST, MOD, OTHER, Bot, refused


async def newest_code(bot: Bot) -> str:
    parties = await bot.store.parties_for_chat(HOME, frozenset(PartyState))
    return max(parties, key=lambda p: p.id).code


async def finished_party(bot: Bot, title: str) -> str:
    """A party that ran to its end now, with one Going, one ready mark and one answer."""
    await bot.do(c.CreateParty(title, "in 1 hour", "short-film"))
    code = await newest_code(bot)
    await bot.do(c.SetRsvp(code, "going"), actor=GUEST)
    await bot.do(c.MarkReady(code), actor=GUEST)
    await bot.do(c.StartParty(code, "now"), actor=HOST)
    await bot.advance(11 + 600)
    prompt = bot.gateway.posts(HOME, "Chapter 1 of 3")[-1]
    await bot.do(c.RecordAnswer("Yes.", message_id=prompt.message_id), actor=GUEST)
    await bot.advance(30 * 60)
    party = await bot.store.get_party_by_code(code)
    assert party is not None and party.state is PartyState.FINISHED
    return code


def test_text_syntax() -> None:
    assert parse_text("history") == c.ShowHistory(None)
    assert parse_text("history 2") == c.ShowHistory("2")
    assert parse_text("calendar") == c.CalendarFile(None)
    assert parse_text("calendar K7Q2MX") == c.CalendarFile("K7Q2MX")


async def test_history_pages_newest_first_with_counts(bot: Bot) -> None:
    reply = await bot.do(c.ShowHistory())
    assert reply is not None
    assert reply.message.plain() == "No finished or cancelled parties in this chat yet."
    first = await finished_party(bot, "Opening Night")
    cancelled = []
    for number in range(11):
        await bot.do(c.CreateParty(f"Evening {number}", "in 2 hours"))
        cancelled.append(await newest_code(bot))
        await bot.advance(60)
        await bot.do(c.CancelParty(cancelled[-1]), actor=HOST)
    await bot.do(c.CreateParty("Still Ahead", "in 3 hours"))  # scheduled: not history

    reply = await bot.do(c.ShowHistory(), actor=GUEST)
    assert reply is not None
    text = reply.message.plain()
    assert "Past parties in this chat (page 1 of 2, 12 in all)" in text
    lines = [line for line in text.splitlines() if line.startswith("• ")]
    assert [line.split()[1] for line in lines] == cancelled[::-1][:10]
    assert all("cancelled" in line for line in lines)
    assert "Older: /watchparty history 2" in text
    assert "Still Ahead" not in text

    reply = await bot.do(c.ShowHistory("2"), actor=GUEST)
    assert reply is not None
    text = reply.message.plain()
    lines = [line for line in text.splitlines() if line.startswith("• ")]
    assert [line.split()[1] for line in lines] == [cancelled[0], first]
    assert lines[1] == (f"• {first} Opening Night — Fri 27 Mar 2026, 12:00 UTC · 1 going, "
                        "1 ready · 1 answer")
    assert "Older:" not in text
    assert "Give a page number from 1 to 2" in await refused(bot, c.ShowHistory("3"))
    assert "“two” isn't a page" in await refused(bot, c.ShowHistory("two"))
    # Another chat has its own history.
    other = await bot.do(c.ShowHistory(), chat=OTHER)
    assert other is not None and "No finished or cancelled parties" in other.message.plain()


async def test_a_left_out_party_is_running_else_next_else_last_finished(bot: Bot) -> None:
    assert "There's no upcoming or running party" in await refused(bot, c.ShowInfo())
    assert "and none has finished here" in await refused(bot, c.CalendarFile())
    first = await finished_party(bot, "First")
    second = await finished_party(bot, "Second")
    # Nothing upcoming: info, export and calendar mean the one that finished last.
    info = await bot.do(c.ShowInfo(), actor=GUEST)
    assert info is not None and f"Second {second} — finished" in info.message.plain()
    export = await bot.do(c.Export(None, "md"), actor=MOD)
    assert export is not None and export.attachment is not None
    assert second in export.attachment.filename
    calendar = await bot.do(c.CalendarFile(), actor=GUEST)
    assert calendar is not None and calendar.attachment is not None
    assert calendar.attachment.filename == f"watchparty-{second}.ics"
    # Others do not reach back to an ended party.
    assert "There's no upcoming or running party" in await refused(
        bot, c.SetRsvp(None, "going"), GUEST)
    # An upcoming party is the next one; a later one does not take its place.
    await bot.do(c.CreateParty("Later", "in 5 hours"))
    later = await newest_code(bot)
    await bot.do(c.CreateParty("Sooner", "in 2 hours"))
    sooner = await newest_code(bot)
    info = await bot.do(c.ShowInfo(), actor=GUEST)
    assert info is not None and f"Sooner {sooner}" in info.message.plain()
    # A running party comes before the next one.
    await bot.do(c.StartParty(later, "now"), actor=HOST)
    info = await bot.do(c.ShowInfo(), actor=GUEST)
    assert info is not None and f"Later {later}" in info.message.plain()
    calendar = await bot.do(c.CalendarFile(), actor=GUEST)
    assert calendar is not None and calendar.attachment is not None
    assert calendar.attachment.filename == f"watchparty-{later}.ics"
    assert first != second
