"""Every invalid transition and every permission rule, as the user sees them."""

from __future__ import annotations

import json

import pytest

from bot import buttons, render
from bot import commands as c
from bot.chats import Actor, ChatRef
from bot.errors import UserError
from bot.party import LinkStatus, PartyState
from tests.fakes import GUEST, HOME, HOST, MOD, OTHER, Bot
from tests.people import moderator

ELSEWHERE = ChatRef("test", "elsewhere")
OTHER_MOD = moderator("test", "u-othermod", "Olga")


async def create(bot: Bot, when: str = "in 1 hour") -> str:
    reply = await bot.do(c.CreateParty("Rules Night", when, "short-film"))
    assert reply is not None
    party = (await bot.store.parties_for_chat(HOME, frozenset(PartyState)))[-1]
    return party.code


async def refused(bot: Bot, command: c.Command, actor: Actor, chat: ChatRef = HOME) -> str:
    with pytest.raises(UserError) as caught:
        await bot.do(command, actor=actor, chat=chat)
    return render.error(caught.value).plain()


@pytest.mark.parametrize("command", [c.StartParty, c.PauseParty, c.ResumeParty, c.CancelParty])
async def test_only_host_or_moderator_controls_the_party(bot: Bot, command: type) -> None:
    code = await create(bot)
    text = await refused(bot, command(code), GUEST)
    assert text == ("Only the host (Hana) or a moderator of a linked chat may "
                    f"{command.__name__.removesuffix('Party').lower()} here.")
    # A moderator of a chat that is not linked is no moderator of this party.
    text = await refused(bot, command(code), OTHER_MOD, ELSEWHERE)
    assert "Only the host (Hana)" in text


async def test_moderator_may_start_and_cancel(bot: Bot) -> None:
    code = await create(bot)
    await bot.do(c.StartParty(code), actor=MOD)
    party = await bot.store.get_party_by_code(code)
    assert party is not None and party.state is PartyState.COUNTING_DOWN
    await bot.do(c.CancelParty(code), actor=MOD)
    party = await bot.store.get_party_by_code(code)
    assert party is not None and party.state is PartyState.CANCELLED


@pytest.mark.parametrize("command", [
    c.Export(None), c.ChangeSettings(timezone="Europe/Berlin"), c.LinkChat("ABCDEF"),
    c.UploadGuide("mine.toml", b"title='x'")])
async def test_moderator_only_commands(bot: Bot, command: c.Command) -> None:
    await create(bot)
    text = await refused(bot, command, GUEST)
    assert text.startswith("Only moderators of this chat may")


async def test_creators_setting_restricts_create(bot: Bot) -> None:
    await bot.do(c.ChangeSettings(creators="moderators"), actor=MOD)
    text = await refused(bot, c.CreateParty("Mine", "in 1 hour"), GUEST)
    assert text == "Only moderators of this chat may create here."
    await bot.do(c.CreateParty("Theirs", "in 1 hour"), actor=MOD)


async def test_invalid_transitions(bot: Bot) -> None:
    code = await create(bot)
    assert await refused(bot, c.PauseParty(code), HOST) == (
        "“Rules Night” is scheduled, so it can't be paused.")
    assert await refused(bot, c.ResumeParty(code), HOST) == (
        "“Rules Night” is scheduled, so it can't be resumed.")
    await bot.do(c.StartParty(code), actor=HOST)
    assert await refused(bot, c.StartParty(code), HOST) == (
        "“Rules Night” is counting down, so it can't be started.")
    assert await refused(bot, c.PauseParty(code), HOST) == (
        "“Rules Night” is counting down, so it can't be paused.")
    await bot.advance(10)
    assert await refused(bot, c.ResumeParty(code), HOST) == (
        "“Rules Night” is playing, so it can't be resumed.")
    assert "ready marks are for before GO" in await refused(bot, c.MarkReady(code), GUEST)
    await bot.do(c.PauseParty(code), actor=HOST)
    assert await refused(bot, c.PauseParty(code), HOST) == (
        "“Rules Night” is already paused. Use /watchparty resume.")
    await bot.do(c.ResumeParty(code), actor=HOST)
    assert await refused(bot, c.ResumeParty(code), HOST) == (
        "“Rules Night” is already about to resume.")
    await bot.advance(3600)
    party = await bot.store.get_party_by_code(code)
    assert party is not None and party.state is PartyState.FINISHED
    assert await refused(bot, c.CancelParty(code), HOST) == (
        "“Rules Night” is finished, so it can't be cancelled.")
    assert await refused(bot, c.SetRsvp(code, "going"), GUEST) == (
        "“Rules Night” is finished: that's no longer possible.")


async def test_unknown_and_bad_references(bot: Bot) -> None:
    assert "There's no upcoming or running party" in await refused(bot, c.ShowInfo(), GUEST)
    assert await refused(bot, c.ShowInfo("K7Q2MX"), GUEST) == "No party has the code “K7Q2MX”."
    assert "isn't a join code" in await refused(bot, c.ShowInfo("hello!"), GUEST)
    for stale in ("xx:1", "wp:rsvp:1:sometimes", "wp:ready:x", "wp"):
        with pytest.raises(UserError) as caught:
            buttons.parse(stale)
        assert render.error(caught.value).plain() == (
            "That button no longer works. Try the command instead.")


async def test_create_input_errors(bot: Bot) -> None:
    assert "in the past" in await refused(bot, c.CreateParty("T", "2020-01-01T20:00Z"), HOST)
    assert "couldn't read “soonish”" in await refused(bot, c.CreateParty("T", "soonish"), HOST)
    assert "more than a year ahead" in await refused(
        bot, c.CreateParty("T", "2028-01-01T20:00Z"), HOST)
    assert "isn't a time zone" in await refused(
        bot, c.CreateParty("T", "in 1 hour", timezone="Mars/Olympus"), HOST)
    assert "no guide “nope”" in await refused(bot, c.CreateParty("T", "in 1 hour", "nope"), HOST)
    assert "A title needs 1 to 100" in await refused(bot, c.CreateParty("x" * 101, "in 1h"), HOST)


async def test_link_needs_approval_by_host_or_home_moderator(bot: Bot) -> None:
    code = await create(bot)
    assert "Only moderators" in await refused(bot, c.LinkChat(code), GUEST, OTHER)
    await bot.do(c.LinkChat(code), actor=OTHER_MOD, chat=OTHER)
    request = bot.gateway.posts(HOME, "asks to link")[0]
    approve, decline = request.message.buttons[0]
    assert (approve.label, decline.label) == ("Approve", "Decline")
    assert "already asked" in await refused(bot, c.LinkChat(code), OTHER_MOD, OTHER)
    # The moderator of the asking chat cannot approve their own request; nor can a guest.
    assert "the party's home chat" in await refused(bot, buttons.parse(approve.data),
                                                    OTHER_MOD, OTHER)
    assert "the party's home chat" in await refused(bot, buttons.parse(approve.data), GUEST)
    # Before approval the other chat is not part of the party.
    assert "doesn't take part in this chat" in await refused(bot, c.SetRsvp(code, "going"),
                                                             GUEST, OTHER)
    await bot.do(buttons.parse(approve.data), actor=MOD)
    party = await bot.store.get_party_by_code(code)
    assert party is not None
    assert [(pc.chat, pc.status) for pc in party.chats if not pc.is_home] == [
        (OTHER, LinkStatus.APPROVED)]
    assert bot.gateway.posts(OTHER, "Rules Night")  # the announcement reached the linked chat
    assert "already decided" in await refused(bot, buttons.parse(approve.data), MOD)
    await bot.do(c.SetRsvp(code, "going"), actor=GUEST, chat=OTHER)
    # GO reaches both chats.
    await bot.advance(3600)
    assert [p.chat for p in bot.gateway.posts(containing="▶ GO")] == [HOME, OTHER]


async def test_export_only_from_a_linked_chat(bot: Bot) -> None:
    code = await create(bot)
    await bot.do(c.SetRsvp(code, "going"), actor=GUEST)
    text = await refused(bot, c.Export(code), OTHER_MOD, ELSEWHERE)
    assert text == f"Party {code} isn't linked to this chat, so it can't be exported from here."
    assert "isn't an export format" in await refused(bot, c.Export(code, "pdf"), MOD)
    reply = await bot.do(c.Export(code, "json", anonymize=True), actor=MOD)
    assert reply is not None and reply.private and reply.attachment is not None
    doc = json.loads(reply.attachment.data)
    assert doc["schema"] == "watchparty.export" and doc["version"] == 1
    assert doc["records"][0]["kind"] == "rsvp"
    assert "Gus" not in str(doc)
    assert "u-guest" not in str(doc) and "Hana" not in str(doc)


async def test_forget_me_removes_records_from_later_exports(bot: Bot) -> None:
    code = await create(bot)
    await bot.do(c.SetRsvp(code, "going"), actor=GUEST)
    await bot.do(c.SetRsvp(code, "maybe"), actor=MOD)
    reply = await bot.do(c.ForgetMe(), actor=GUEST)
    assert reply is not None and reply.message.plain().startswith("Done: 1 record of yours")
    export = await bot.do(c.Export(code), actor=MOD)
    assert export is not None and export.attachment is not None
    doc = json.loads(export.attachment.data)
    assert [r["display_name"] for r in doc["records"]] == ["Mo"]


async def test_settings_validation(bot: Bot) -> None:
    assert "isn't a reminder" in await refused(bot, c.ChangeSettings(reminders="soon"), MOD)
    assert "isn't a creators setting" in await refused(bot, c.ChangeSettings(creators="x"), MOD)
    assert "isn't a retention" in await refused(bot, c.ChangeSettings(retention_days="-1"), MOD)
    reply = await bot.do(c.ChangeSettings(timezone="europe/berlin", reminders="30m,5m"),
                         actor=MOD)
    assert reply is not None
    assert "timezone: Europe/Berlin" in reply.message.plain()
    assert "reminders: 30m, 5m" in reply.message.plain()


async def test_guide_upload(bot: Bot) -> None:
    good = (b'title = "Mine"\nruntime = "0:20:00"\n[[chapters]]\ntitle = "A"\n'
            b'ends_at = "0:10:00"\nquestions = ["Why?"]\n')
    reply = await bot.do(c.UploadGuide("my-guide.toml", good), actor=MOD)
    assert reply is not None and "Guide my-guide saved" in reply.message.plain()
    listing = await bot.do(c.ListGuides())
    assert listing is not None and "my-guide (uploaded)" in listing.message.plain()
    assert "social-dilemma" in listing.message.plain()
    await bot.do(c.CreateParty("Mine", "in 1 hour", "my-guide"))
    bad = good.replace(b'ends_at = "0:10:00"', b'ends_at = "0:30:00"')
    text = await refused(bot, c.UploadGuide("my-guide.toml", bad), MOD)
    assert text.startswith("The guide “my-guide” has problems:") and "chapters[1].ends_at" in text
    assert "isn't a .toml file" in await refused(bot, c.UploadGuide("g.txt", good), MOD)


async def test_moderator_role_and_reminder_pings(bot: Bot) -> None:
    reply = await bot.do(c.ChangeSettings(moderator_role="@film-club", ping_reminders="yes"),
                         actor=MOD)
    assert reply is not None
    assert "moderator_role: film-club" in reply.message.plain()
    assert "ping_reminders: yes" in reply.message.plain()
    settings = await bot.runtime.core.settings_for(HOME)
    assert settings.moderator_role == "film-club" and settings.ping_reminders
    assert "isn't yes or no" in await refused(bot, c.ChangeSettings(ping_reminders="loud"), MOD)
    code = await create(bot, "in 20 minutes")
    await bot.do(c.SetRsvp(code, "going"), actor=GUEST)
    await bot.do(c.SetRsvp(code, "maybe"), actor=MOD)
    await bot.advance(5 * 60)
    reminder = bot.gateway.posts(containing="🔔")
    assert [r.message.mentions for r in reminder] == [("u-guest",)]
    await bot.do(c.ChangeSettings(moderator_role="none", ping_reminders="no"), actor=MOD)
    settings = await bot.runtime.core.settings_for(HOME)
    assert settings.moderator_role is None and not settings.ping_reminders
