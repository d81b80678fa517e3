"""Every export format on one party held across Discord and Telegram, with hostile answers.

The party is run by the whole core on a fake clock with one recording gateway per platform: a
Discord home chat, a Telegram group linked to it and approved, RSVPs, ready marks, answers,
reactions and poll votes from both sides, one answer to chapter 1 arriving after chapter 2's
prompt. Every answer below is written to break something: a CSV cell, a spreadsheet formula,
Markdown, HTML, a mention.
"""

from __future__ import annotations

import asyncio
import csv
import html
import io
import json
import re
import zipfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from bot import app, buttons, render
from bot import commands as c
from bot.chats import Actor, ChatRef
from bot.clock import ManualClock
from bot.errors import UserError
from bot.export import FORMATS, export_bytes, write_export
from bot.export.attachment import fit_attachment, fit_reply
from bot.export.csv import COLUMNS as CSV_COLUMNS
from bot.export.csv import neutralize
from bot.export.json import chats_doc, guide_doc, party_doc
from bot.export.markdown import escape as md_escape
from bot.export.people import Identities, Scrubber
from bot.export.stream import YIELD_EVERY
from bot.outbox import UNLIMITED
from bot.party import Party, PartyState
from bot.ports import Store
from bot.records import Record, RecordKind
from storage.memory import MemoryStore
from storage.sqlite import SqliteStore
from tests.fakes import START, Bot, RecordingGateway
from tests.fakes import test_settings as settings_for_tests
from tests.people import moderator
from tests.reads import count_records

SCHEMA = json.loads((Path(__file__).parents[2] / "docs" / "export-schema.json").read_text())

DISCORD = ChatRef("discord", "900100200300400500")
TELEGRAM = ChatRef("telegram", "-1001234567890")
HOST = moderator("discord", "111111111111111111", "Hana Hostington")
GUEST = Actor("discord", "222222222222222222", "Gustavo Guestman")
TG_MOD = moderator("telegram", "333333333", "Moritz Modders")
TG_GUEST = Actor("telegram", "444444444", "Tatiana <b>Telegrova</b> =1+1")
PEOPLE = (HOST, GUEST, TG_MOD, TG_GUEST)

HOSTILE = (
    'He said "wait, what?", then left',
    "line one\nline two\r\nline three",
    "🎬🍿 loved it 😂",
    "=cmd|' /C calc'!A0",
    "<script>alert(1)</script>",
    "@everyone look at this",
    "+1 agreed",
    "-2 points, sorry",
    "@SUM(A1:A9)",
    "\tstarts with a tab",
    "\rstarts with a carriage return",
    "# Heading\n- item\n| a | b |\n**bold** [link](http://x) ![img](http://y) `code` 1. one",
    '<img src=x onerror="alert(2)"> & &amp; </ol></section>',
)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass
class Party2:
    """The two-platform party, its code and its id."""

    bot: Bot
    telegram: RecordingGateway
    code: str
    party: Party


async def run_party(bot: Bot, telegram: RecordingGateway) -> Party2:
    """Create on Discord, link and approve Telegram, and run the whole film with records."""
    await bot.do(c.CreateParty("Friday <Film> Night, \"quoted\"", "in 1 hour", "short-film"),
                 actor=HOST, chat=DISCORD)
    party = (await bot.store.parties_for_chat(DISCORD, frozenset(PartyState)))[-1]
    await bot.do(c.LinkChat(party.code), actor=TG_MOD, chat=TELEGRAM)
    request = bot.gateway.posts(DISCORD, "asks to link")[0]
    await bot.do(buttons.parse(request.message.buttons[0][0].data), actor=HOST, chat=DISCORD)
    for actor, chat, status in ((HOST, DISCORD, "going"), (GUEST, DISCORD, "maybe"),
                                (GUEST, DISCORD, "going"), (TG_MOD, TELEGRAM, "going"),
                                (TG_GUEST, TELEGRAM, "not_going")):
        await bot.do(c.SetRsvp(party.code, status), actor=actor, chat=chat)
    await bot.advance(58 * 60)
    await bot.do(c.MarkReady(party.code), actor=GUEST, chat=DISCORD)
    await bot.do(c.MarkReady(party.code), actor=TG_MOD, chat=TELEGRAM)
    await bot.advance(2 * 60 + 10 * 60 + 30)  # GO, then chapter 1's prompt (film 0:10:00)

    def prompt(gateway: RecordingGateway, chat: ChatRef, text: str) -> str:
        return gateway.posts(chat, text)[-1].message_id

    d1 = prompt(bot.gateway, DISCORD, "Chapter 1 of 3")
    t1 = prompt(telegram, TELEGRAM, "Chapter 1 of 3")
    say = [(GUEST, DISCORD, d1), (TG_GUEST, TELEGRAM, t1), (TG_MOD, TELEGRAM, t1),
           (HOST, DISCORD, d1)]
    for index, text in enumerate(HOSTILE):
        actor, chat, message = say[index % len(say)]
        await bot.do(c.RecordAnswer(text, message_id=message), actor=actor, chat=chat)
    await bot.do(c.RecordAnswer("I agree with Gustavo Guestman and <@222222222222222222>, "
                                "ask @tatiana_tg", message_id=t1), actor=TG_MOD, chat=TELEGRAM)
    await bot.do(c.RecordReaction(d1, "😂"), actor=GUEST, chat=DISCORD)
    await bot.do(c.RecordReaction(d1, "👍"), actor=HOST, chat=DISCORD)
    await bot.do(c.RecordReaction(t1, "😂"), actor=TG_GUEST, chat=TELEGRAM)
    await bot.do(c.RecordReaction(t1, "🔥"), actor=TG_MOD, chat=TELEGRAM)
    await bot.do(c.RecordReaction(t1, "🔥", added=False), actor=TG_MOD, chat=TELEGRAM)
    await bot.advance(10 * 60)  # chapter 2's prompt and poll (film 0:20:00)
    d2 = prompt(bot.gateway, DISCORD, "Chapter 2 of 3")
    poll_d = [s for s in bot.gateway.sent if s.message.poll and s.chat == DISCORD][-1]
    poll_t = [s for s in telegram.sent if s.message.poll and s.chat == TELEGRAM][-1]
    await bot.do(c.RecordAnswer("Chapter two, from Discord", message_id=d2), actor=GUEST,
                 chat=DISCORD)
    # A late answer to chapter 1, after chapter 2's prompt: it still belongs to chapter 1.
    await bot.do(c.RecordAnswer("Late thought on chapter one", message_id=t1), actor=TG_GUEST,
                 chat=TELEGRAM)
    await bot.do(c.RecordPollVote(poll_d.message_id, (0,)), actor=GUEST, chat=DISCORD)
    await bot.do(c.RecordPollVote(poll_t.message_id, (1,)), actor=TG_GUEST, chat=TELEGRAM)
    await bot.do(c.RecordPollVote(poll_t.message_id, (0,)), actor=TG_MOD, chat=TELEGRAM)
    await bot.do(c.RecordReaction(d2, "🎉"), actor=GUEST, chat=DISCORD)
    await bot.advance(15 * 60)  # to the end: the summary
    party_now = await bot.store.get_party_by_code(party.code)
    assert party_now is not None and party_now.state is PartyState.FINISHED
    return Party2(bot, telegram, party.code, party_now)


@pytest.fixture
async def two() -> AsyncIterator[Party2]:
    """The two-platform party, finished."""
    async with finished_party(MemoryStore()) as party:
        yield party


@asynccontextmanager
async def finished_party(store: Store) -> AsyncIterator[Party2]:
    """The two-platform party, finished, on this store."""
    clock = ManualClock(START)
    discord = RecordingGateway("discord", clock)
    telegram = RecordingGateway("telegram", clock)
    runtime = await app.build(settings_for_tests(), store, clock,
                              {"discord": (discord, UNLIMITED), "telegram": (telegram, UNLIMITED)})
    await runtime.start()
    try:
        yield await run_party(Bot(runtime, clock, discord, store), telegram)
    finally:
        await runtime.stop()


async def export(two: Party2, fmt: str, anonymize: bool = False,
                 actor: Actor = HOST, chat: ChatRef = DISCORD) -> c.Reply:
    """Export through the core, as `/watchparty export` does."""
    reply = await two.bot.do(c.Export(two.code, fmt, anonymize), actor=actor, chat=chat)
    assert reply is not None and reply.private and reply.attachment is not None
    return reply


def answers_in(rows: list[dict[str, Any]]) -> list[str]:
    """The values of the answer records, in order."""
    return [r["value"] for r in rows if r["kind"] == "answer"]


def neutralized(text: str) -> str:
    """What the CSV shows for a cell."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def private_strings(two: Party2) -> list[str]:
    """Every id and name of a participant or chat, as they might appear escaped in a file."""
    found: list[str] = []
    for actor in PEOPLE:
        for text in (actor.user_id, actor.display_name):
            found += [text, html.escape(text), md_escape(text), json.dumps(text)[1:-1]]
        found += [w for w in re.findall(r"\w+", actor.display_name) if len(w) > 3]
    for chat in (DISCORD, TELEGRAM):
        found += [chat.chat_id, chat.chat_id.lstrip("-")]
    found.append("tatiana_tg")
    return found


# ---- json ------------------------------------------------------------------------------------


async def test_json_has_both_platforms_and_validates_against_the_schema(two: Party2) -> None:
    reply = await export(two, "json", actor=TG_MOD, chat=TELEGRAM)
    assert reply.attachment is not None
    assert reply.attachment.filename == f"watchparty-{two.code}.json"
    doc = json.loads(reply.attachment.data)
    jsonschema.validate(doc, SCHEMA)
    assert {r["platform"] for r in doc["records"]} == {"discord", "telegram"}
    assert {(c["platform"], c["chat_id"], c["status"]) for c in doc["chats"]} == {
        ("discord", DISCORD.chat_id, "approved"), ("telegram", TELEGRAM.chat_id, "approved")}
    assert answers_in(doc["records"])[:len(HOSTILE)] == [text.strip() for text in HOSTILE]
    ats = [r["at"] for r in doc["records"]]
    assert ats == sorted(ats) and all(at.endswith("Z") for at in ats)
    assert doc["participants"][0] == {"participant": 1, "platform": "discord",
                                      "display_name": HOST.display_name, "user_id": HOST.user_id}
    assert doc["party"]["host"] == 1 and doc["guide"]["chapters"][1]["poll"] is not None


async def test_json_lines_validate_line_by_line(two: Party2) -> None:
    chunks: list[str] = []

    async def write(text: str) -> None:
        chunks.append(text)

    count = await write_export(two.bot.store, two.party, await two.bot.runtime.core.guide_of(
        two.party), "jsonl", write, anonymize=False, now=START)
    lines = "".join(chunks).splitlines()
    validator = jsonschema.Draft202012Validator({"$ref": "#/$defs/line", "$defs": SCHEMA["$defs"]})
    for line in lines:
        validator.validate(json.loads(line))
    kinds = [json.loads(line)["type"] for line in lines]
    assert kinds[:3] == ["header", "party", "guide"] and kinds.count("chat") == 2
    assert kinds.count("record") == count and kinds.count("participant") == 4


# ---- csv -------------------------------------------------------------------------------------


async def test_csv_parses_back_with_formulas_neutralised(two: Party2) -> None:
    # The core strips answers, so tabs and carriage returns at the start come from elsewhere:
    # a record stored by another version, say. They are neutralised all the same.
    await two.bot.store.add_record(Record(
        two.party.id, RecordKind.ANSWER, "telegram", TELEGRAM.chat_id, "666", "\r=HYPERLINK()",
        START + timedelta(hours=2), 1900.0, "\t=1+2", prompt="3.1"))
    reply = await export(two, "csv")
    assert reply.attachment is not None and reply.attachment.filename.endswith(".csv")
    text = reply.attachment.data.decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    doc = json.loads((await export(two, "json")).attachment.data)
    assert len(rows) == len(doc["records"])
    assert [r["value"] for r in rows if r["kind"] == "answer"] == [
        neutralized(r["value"]) for r in doc["records"] if r["kind"] == "answer"]
    for row in rows:
        for cell in row.values():
            assert not cell.startswith(FORMULA_STARTS), cell
    assert "'=cmd|' /C calc'!A0" in [r["value"] for r in rows]
    assert ("'\r=HYPERLINK()", "'\t=1+2") in [(r["display_name"], r["value"]) for r in rows]
    assert "'@everyone look at this" in [r["value"] for r in rows]
    # Telegram's negative chat ids are cells a spreadsheet would compute: they are quoted too.
    assert {r["chat_id"] for r in rows} == {DISCORD.chat_id, "'" + TELEGRAM.chat_id}
    assert {r["platform"] for r in rows} == {"discord", "telegram"}
    multi = next(r for r in rows if r["value"].startswith("line one"))
    assert multi["value"] == "line one\nline two\r\nline three"
    # Every record's other cells match the JSON export's.
    for row, rec in zip(rows, doc["records"], strict=True):
        assert int(row["id"]) == rec["id"] and row["at"] == rec["at"]
        assert row["participant"] == str(rec["participant"]) and row["kind"] == rec["kind"]
        assert row["display_name"] == neutralized(rec["display_name"])


# ---- markdown --------------------------------------------------------------------------------


async def test_markdown_is_a_transcript_by_chapter(two: Party2) -> None:
    reply = await export(two, "md")
    assert reply.attachment is not None and reply.attachment.filename.endswith(".md")
    text = reply.attachment.data.decode()
    headings = [line for line in text.splitlines() if line.startswith("#")]
    assert headings[0] == r"# Friday \<Film\> Night, \"quoted\"".replace('\\"', '"')
    assert headings[1:3] == ["## Attendance", "## Chapter 1: Opening (0:00:00–0:10:00)"]
    assert "## Chapter 2: Middle (0:10:00–0:20:00)" in headings
    assert "### Poll: Best scene so far?" in headings
    # Attendance first, then per chapter: questions, answers, reactions, poll.
    order = [text.index(s) for s in ("## Attendance", "## Chapter 1", "### Questions",
                                     "### Answers (15)", "### Reactions", "## Chapter 2",
                                     "### Poll: Best scene so far?", "## Chapter 3")]
    assert order == sorted(order)
    chapter1 = text[text.index("## Chapter 1"):text.index("## Chapter 2")]
    assert "Late thought on chapter one" in chapter1
    assert "😂 2 · 👍 1" in chapter1 and "🔥" not in chapter1  # added then removed
    assert "| The call | 2 |" in text and "| The walk | 1 |" in text
    assert "3 going · 0 maybe · 1 not going · 2 ready · 4 answered · 16 answers" in text
    # User text is escaped: no heading, list, table, link, HTML or emphasis comes from it.
    assert r"\<script\>alert(1)\</script\>" in text
    assert "\\# Heading\\\n  \\- item\\\n  \\| a \\| b \\|\\\n  \\*\\*bold" in text
    assert "[link]" not in text and "<script>" not in text and "**bold**" not in text
    assert r"\@everyone" in text
    answer_lines = [line for line in chapter1.splitlines() if line.startswith(("- ", "  "))]
    assert all(not line.startswith(("  #", "  -", "  |", "  >")) for line in answer_lines)


# ---- html ------------------------------------------------------------------------------------


class Page(HTMLParser):
    """Collects the tags, attributes and text nodes of a page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str | None]] = []
        self.texts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes += attrs

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_data(self, data: str) -> None:
        self.texts.append(data)


ALLOWED_TAGS = {"html", "head", "meta", "title", "style", "body", "main", "header", "h1", "h2",
                "h3", "p", "dl", "dt", "dd", "span", "nav", "ol", "ul", "li", "a", "section",
                "div", "table", "thead", "tbody", "tr", "th", "td", "svg", "line", "text",
                "rect", "small", "b", "footer"}


async def test_html_is_self_contained_and_escapes_every_user_text(two: Party2) -> None:
    reply = await export(two, "html")
    assert reply.attachment is not None and reply.attachment.filename.endswith(".html")
    page_text = reply.attachment.data.decode()
    page = Page()
    page.feed(page_text)
    page.close()
    assert "script" not in page.tags and set(page.tags) <= ALLOWED_TAGS
    assert "<script" not in page_text.lower()
    # Nothing loads from anywhere: no src, no link, no url(), no remote address.
    names = {name for name, _ in page.attributes}
    assert names <= {"lang", "charset", "name", "content", "http-equiv", "class", "id", "href",
                     "viewbox", "role", "aria-labelledby", "x", "y", "x1", "y1", "x2", "y2",
                     "width", "height", "text-anchor", "style"}
    assert all(value is None or not value.startswith(("http", "//"))
               for name, value in page.attributes if name != "content")
    assert all(value.startswith("#") for name, value in page.attributes
               if name == "href" and value)
    assert "url(" not in page_text and "@import" not in page_text
    # Every hostile answer appears as one text node, exactly as written.
    texts = page.texts
    for answer in HOSTILE:
        assert answer.strip().replace("\r\n", "\n") in [t.replace("\r\n", "\n") for t in texts], \
            answer
    # No attribute value carries user text.
    for answer in HOSTILE:
        assert all(answer.strip() not in (value or "") for _, value in page.attributes)
    # The timeline marks every chapter end and draws bars for the minutes with reactions.
    assert page_text.count('class="end"') == 3
    assert page_text.count('<rect class="bar"') == 2
    assert "Chapter 1: Opening" in texts and "Attendance" in texts


async def test_html_attendance_table(two: Party2) -> None:
    page = Page()
    page.feed((await export(two, "html")).attachment.data.decode())
    text = " ".join(t.strip() for t in page.texts if t.strip())
    assert "1 Hana Hostington discord going — 3 1" in text  # the host never said ready
    assert "2 Gustavo Guestman discord going ready 5 2" in text  # maybe, then going
    assert "3 Moritz Modders telegram going ready 4 1" in text
    assert "4 Tatiana <b>Telegrova</b> =1+1 telegram not going — 4 1" in text
    assert "3 going" in text and "4 answered" in text


# ---- anonymized ------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "csv", "md", "html"])
async def test_anonymized_export_holds_no_id_or_name(two: Party2, fmt: str) -> None:
    reply = await export(two, fmt, anonymize=True)
    assert reply.attachment is not None
    text = reply.attachment.data.decode("utf-8-sig")
    for secret in private_strings(two):
        assert secret not in text, (fmt, secret)
    for number in (1, 2, 3, 4):
        assert f"Participant {number}" in text
    assert "Participant 5" not in text
    assert "I agree with Participant 2 and @Participant 2, ask @someone" in text.replace("\\", "")


async def test_anonymized_numbers_are_the_same_in_every_format(two: Party2) -> None:
    doc = json.loads((await export(two, "json", anonymize=True)).attachment.data)
    rows = list(csv.DictReader(io.StringIO(
        (await export(two, "csv", anonymize=True)).attachment.data.decode("utf-8-sig"),
        newline="")))
    assert [(r["participant"], r["display_name"]) for r in rows] == [
        (str(r["participant"]), r["display_name"]) for r in doc["records"]]
    assert {(p["participant"], p["platform"]) for p in doc["participants"]} == {
        (1, "discord"), (2, "discord"), (3, "telegram"), (4, "telegram")}
    assert {r["chat_id"] for r in doc["records"]} == {"chat-1", "chat-2"}
    assert all(r["message_id"] is None for r in doc["records"])
    assert all(p["user_id"] is None for p in doc["participants"])
    jsonschema.validate(doc, SCHEMA)


def test_scrubber_replaces_whole_words_only() -> None:
    scrub = Scrubber()
    scrub.add("Mo", "Participant 2")
    scrub.add("Anna-Lena Berg", "Participant 3")
    scrub.add("🦊", "Participant 4")
    assert scrub("Mo said hi to anna lena berg; momentum 🦊!") == (
        "Participant 2 said hi to Participant 3; momentum Participant 4!")
    scrub.add("123", "Participant 2")
    assert scrub("mail me at a@b.example, @everyone <@123> <@!5> <@&9> <#7> @mo") == (
        "mail me at a@b.example, @someone @Participant 2 @someone @role #channel "
        "@Participant 2")


def test_poll_votes_are_split_into_their_options() -> None:
    from bot.export.transcript import _split_vote

    options = ("Yes", "No | not really", "Maybe")
    assert _split_vote("Yes", options) == ["Yes"]
    assert _split_vote("Yes | No | not really", options) == ["Yes", "No | not really"]
    assert _split_vote("Other", options) == ["Other"]


# ---- rules, forgotten people, the event loop -------------------------------------------------


async def test_forgotten_people_are_left_out_of_every_format(two: Party2) -> None:
    await two.bot.do(c.ForgetMe(), actor=TG_GUEST, chat=TELEGRAM)
    for fmt in ("json", "csv", "md", "html"):
        data = (await export(two, fmt)).attachment.data.decode("utf-8-sig")
        assert "Telegrova" not in data and TG_GUEST.user_id not in data, fmt


async def test_every_format_refused_outside_the_party(two: Party2) -> None:
    stranger = ChatRef("telegram", "-100999")
    mod = moderator("telegram", "555", "Stranger Mod")
    for fmt in ("json", "csv", "md", "html"):
        with pytest.raises(UserError) as caught:
            await two.bot.do(c.Export(two.code, fmt), actor=mod, chat=stranger)
        assert caught.value.key == "export_not_linked"
    with pytest.raises(UserError) as caught:
        await two.bot.do(c.Export(two.code, "pdf"), actor=HOST, chat=DISCORD)
    assert render.error(caught.value).plain() == (
        "“pdf” isn't an export format here. Available: json, csv, md, html.")


async def test_exports_give_the_event_loop_back_regularly() -> None:
    store = MemoryStore()
    party = await store.create_party(Party(
        id=0, code="LOOPY1", title="Loop", host_platform="discord", host_user_id="1",
        host_name="H", home=DISCORD, starts_at=START, timezone="UTC", guide_name=None,
        state=PartyState.FINISHED, created_at=START, go_at=START))
    records = 20 * YIELD_EVERY
    for i in range(records):
        await store.add_record(Record(
            party.id, RecordKind.ANSWER if i % 3 else RecordKind.REACTION_ADDED, "discord",
            DISCORD.chat_id, str(i % 50), f"user {i % 50}", START + timedelta(seconds=i),
            float(i), "an answer" if i % 3 else "👍", prompt=f"{1 + i % 4}.1"))
    for fmt in FORMATS:
        ticks = 0
        stop = asyncio.Event()

        async def ticker(stop: asyncio.Event) -> None:
            nonlocal ticks
            while not stop.is_set():
                ticks += 1
                await asyncio.sleep(0)

        task = asyncio.create_task(ticker(stop))
        await export_bytes(store, party, None, fmt, anonymize=fmt == "csv", now=START)
        stop.set()
        await task
        # The ticker ran at least once per YIELD_EVERY records.
        assert ticks >= records // YIELD_EVERY, (fmt, ticks)


# ---- rows, not records: the same bytes -------------------------------------------------------

# Records the bot would rarely write but a store holds: a name with a comma, quotes and an
# emoji, a name that is only an emoji, no position, no prompt, no message, a lone carriage
# return, an instant without microseconds and one with.
AWKWARD = (
    ("discord", DISCORD.chat_id, "777", 'Zoë "Z", the 2nd 🦊', RecordKind.ANSWER,
     "Zoë says: \"quote\", comma\rreturn", None, None, 0),
    ("discord", DISCORD.chat_id, "778", "🦊", RecordKind.REACTION_ADDED, "🦊", "1.1", "", 1),
    ("telegram", TELEGRAM.chat_id, "779", "-dash =eq", RecordKind.POLL_VOTE,
     "-1 @SUM(1) ask 🦊 and Zoë", "2.poll", "=m", 250_001),
    ("discord", DISCORD.chat_id, "777", 'Zoë "Z", the 2nd 🦊', RecordKind.ANSWER,
     "a lone\rreturn", "1.2", "m2", 999_999),
    ("discord", DISCORD.chat_id, "778", "🦊", RecordKind.ANSWER, "a lone\nnew line", "1.2",
     "m2, 3", 1_000),
)


@asynccontextmanager
async def awkward_party(two: Party2, path: Path) -> AsyncIterator[tuple[SqliteStore, Party]]:
    """The two-platform party copied to a real SQLite file, awkward records added, one hidden."""
    store = await SqliteStore.open(path)
    try:
        old = two.party
        party = await store.create_party(replace(old, id=0, chats=[]))
        await store.update_party(replace(old, id=party.id, chats=[]))
        for link in old.chats:
            await store.upsert_party_chat(replace(link, party_id=party.id))
        async for rec in two.bot.store.iter_records(old.id):
            await store.add_record(replace(rec, party_id=party.id, id=None))
        for entry in await two.bot.store.party_log(old.id):
            await store.add_log(replace(entry, party_id=party.id))
        for index, (platform, chat_id, user, name, kind, value, prompt, message,
                    us) in enumerate(AWKWARD):
            await store.add_record(Record(
                party.id, kind, platform, chat_id, user, name,
                START + timedelta(minutes=75 + index, microseconds=us),
                None if index == 0 else 61.23456, value, prompt=prompt, message_id=message))
        # Hidden (forget-me) without their records deleted: another worker may still have been
        # writing one; the export leaves them out all the same.
        await store.add_forgotten(TELEGRAM, TG_GUEST.user_id, START)
        copied = await store.get_party(party.id)
        assert copied is not None
        yield store, copied
    finally:
        await store.close()


async def reference(store: Store, party: Party, guide: Any, fmt: str, *,
                    anonymize: bool) -> bytes:
    """The export written the plain way, from `Record`s, with the `csv` and `json` modules."""
    ids = Identities.for_party(party, anonymize)
    forgotten = await store.forgotten([pc.chat for pc in party.chats])
    kept = [rec async for rec in store.iter_records(party.id)
            if (rec.platform, rec.chat_id, rec.user_id) not in forgotten]
    if anonymize:
        host = ids.person(party.host_platform, party.host_user_id, party.host_name)
        ids.scrubber.add(party.host_name, host.display_name)
        ids.scrubber.add(party.host_user_id, host.display_name)
        for rec in kept:
            shown = ids.person(rec.platform, rec.user_id, rec.display_name).display_name
            ids.scrubber.add(rec.display_name, shown)
            ids.scrubber.add(rec.user_id, shown)
            ids.chat(rec.platform, rec.chat_id)
        for (_, chat_id), shown in ids.chats.items():
            ids.scrubber.add(chat_id, shown)
    rows = []
    for rec in kept:
        person = ids.person(rec.platform, rec.user_id, rec.display_name)
        free = anonymize and rec.kind in (RecordKind.ANSWER, RecordKind.POLL_VOTE)
        rows.append({
            "id": rec.id, "kind": rec.kind.value, "platform": rec.platform,
            "chat_id": ids.chat(rec.platform, rec.chat_id), "user_id": rec.user_id,
            "participant": person.number,
            "display_name": person.display_name if anonymize else rec.display_name,
            "at": rec.at.isoformat().replace("+00:00", "Z"),
            "position_seconds": None if rec.position is None else round(rec.position, 3),
            "prompt": rec.prompt, "value": ids.text(rec.value) if free else rec.value,
            "message_id": None if anonymize else rec.message_id})
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(CSV_COLUMNS)
        for row in rows:
            writer.writerow([
                row["id"], row["at"], "" if row["position_seconds"] is None
                else row["position_seconds"], neutralize(row["platform"]),
                neutralize(row["chat_id"]), "" if anonymize else neutralize(row["user_id"]),
                row["participant"], neutralize(row["display_name"]), row["kind"],
                neutralize(row["prompt"] or ""), neutralize(row["value"]),
                neutralize(row["message_id"] or "")])
        return ("\ufeff" + out.getvalue()).encode()

    def line(doc: dict[str, Any]) -> str:
        return json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n"

    lines = [line({"type": "header", "schema": "watchparty.export", "version": 1,
                   "exported_at": START.isoformat().replace("+00:00", "Z"),
                   "anonymized": anonymize}),
             line({"type": "party", **party_doc(party, ids)}),
             line({"type": "guide", "guide": guide_doc(guide)})]
    lines += [line({"type": "chat", **chat}) for chat in chats_doc(party, ids)]
    for row in rows:
        del row["user_id"]
        lines.append(line({"type": "record", **row}))
    lines += [line({"type": "participant", **p.as_json()}) for p in ids.people.values()]
    lines += [line({"type": "log", "at": entry.at.isoformat().replace("+00:00", "Z"),
                    "event": entry.key, **entry.params})
              for entry in await store.party_log(party.id)]
    return "".join(lines).encode()


@pytest.mark.parametrize("anonymize", [False, True], ids=["plain", "anonymized"])
async def test_exports_from_rows_equal_the_record_path_byte_for_byte(
        two: Party2, tmp_path: Path, anonymize: bool) -> None:
    guide = await two.bot.runtime.core.guide_of(two.party)
    async with awkward_party(two, tmp_path / "export.db") as (store, party):
        assert await count_records(store, party.id) > len(AWKWARD) and party.code == two.code
        hidden = [rec async for rec in store.iter_records(party.id)
                  if rec.user_id == TG_GUEST.user_id]
        for fmt in ("csv", "jsonl"):
            fast = await export_bytes(store, party, guide, fmt, anonymize=anonymize, now=START)
            assert fast == await reference(store, party, guide, fmt, anonymize=anonymize), fmt
            # What the equality stands on: the awkward records are in, the hidden person is not.
            text = fast.decode("utf-8-sig")
            assert hidden and TG_GUEST.user_id not in text and "Telegrova" not in text
            assert ("Zoë says" in text) and ('Zoë \\"Z\\"' in text or anonymize or fmt == "csv")
        rows = list(csv.DictReader(io.StringIO(text_csv := (await export_bytes(
            store, party, guide, "csv", anonymize=anonymize, now=START)).decode("utf-8-sig"))))
        assert len(rows) == await count_records(store, party.id) - len(hidden)
        zoe = next(row for row in rows if row["value"].startswith("Zoë says"))
        assert zoe["value"] == 'Zoë says: "quote", comma\rreturn' and zoe["position_seconds"] == ""
        assert zoe["display_name"] == ("Participant 4" if anonymize else 'Zoë "Z", the 2nd 🦊')
        assert "\r\n" in text_csv


async def test_an_export_that_fails_midway_leaves_no_read_running(two: Party2,
                                                                   tmp_path: Path) -> None:
    async with awkward_party(two, tmp_path / "export.db") as (store, party):
        await asyncio.gather(*(  # three of the store's pages
            store.add_record(Record(party.id, RecordKind.REACTION_ADDED, "discord",
                                    DISCORD.chat_id, str(i), f"viewer {i}",
                                    START + timedelta(hours=2, seconds=i), None, "👍"))
            for i in range(3 * 1_000)))
        running = asyncio.all_tasks()

        async def full_disk(text: str) -> None:
            raise OSError("No space left on device")

        for fmt in ("csv", "jsonl"):
            with pytest.raises(OSError, match="No space"):
                await write_export(store, party, None, fmt, full_disk, anonymize=False,
                                   now=START)
            # The page being read ahead was dropped and the stream closed, not left behind.
            assert asyncio.all_tasks() == running, fmt


# ---- fitting an upload limit -----------------------------------------------------------------


async def test_fit_attachment_zips_or_refuses() -> None:
    data = ("a line of an export, much like the one before it\n" * 20_000).encode()
    small = c.Attachment("watchparty-K7Q2MX.html", b"<p>hi</p>")
    assert await fit_attachment(small, 1000) is small
    fitted = await fit_attachment(c.Attachment("watchparty-K7Q2MX.html", data), 100_000)
    assert isinstance(fitted, c.Attachment) and fitted.filename == "watchparty-K7Q2MX.html.zip"
    assert len(fitted.data) <= 100_000
    with zipfile.ZipFile(io.BytesIO(fitted.data)) as archive:
        assert archive.namelist() == ["watchparty-K7Q2MX.html"]
        assert archive.read("watchparty-K7Q2MX.html") == data
    refused = await fit_attachment(c.Attachment("watchparty-K7Q2MX.html", data), 500)
    assert isinstance(refused, UserError) and refused.key == "export_too_large"
    assert render.error(refused).plain().startswith(
        "The export watchparty-K7Q2MX.html is 957 KB, and still ")


async def test_fit_reply_says_what_happened(two: Party2) -> None:
    reply = await export(two, "html")
    assert reply.attachment is not None
    size = len(reply.attachment.data)
    assert await fit_reply(reply, size) is reply
    zipped = await fit_reply(reply, size - 1)
    assert zipped.attachment is not None and zipped.attachment.filename.endswith(".html.zip")
    assert zipped.private and zipped.message.plain().startswith("Discussion log of ")
    assert "more than the" in zipped.message.plain() and "so it is zipped" in zipped.message.plain()
    too_big = await fit_reply(reply, 100)
    assert too_big.attachment is None and "this chat accepts" in too_big.message.plain()


# ---- the command line ------------------------------------------------------------------------


def test_cli_writes_every_format(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    from bot import cli
    from storage.sqlite import SqliteStore

    db = tmp_path / "wp.db"

    async def make() -> str:
        """Run the party on the memory store, then copy it into a SQLite file."""
        clock = ManualClock(START)
        memory = MemoryStore()
        discord = RecordingGateway("discord", clock)
        telegram = RecordingGateway("telegram", clock)
        runtime = await app.build(settings_for_tests(), memory, clock, {
            "discord": (discord, UNLIMITED), "telegram": (telegram, UNLIMITED)})
        await runtime.start()
        try:
            two = await run_party(Bot(runtime, clock, discord, memory), telegram)
        finally:
            await runtime.stop()
        store = await SqliteStore.open(db)
        try:
            party = two.party
            copy = await store.create_party(replace(party, id=0, chats=[
                pc for pc in party.chats if pc.is_home]))
            await store.update_party(replace(party, id=copy.id))
            for pc in party.chats:
                if not pc.is_home:
                    await store.upsert_party_chat(replace(pc, party_id=copy.id))
            assert party.guide_name is not None
            source = await memory.get_guide_source(f"party:{party.id}", party.guide_name)
            assert source is not None
            await store.save_guide(f"party:{copy.id}", party.guide_name, source)
            async for rec in memory.iter_records(party.id):
                await store.add_record(replace(rec, id=None, party_id=copy.id))
        finally:
            await store.close()
        return two.code

    code = asyncio.run(make())
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{db}")
    for name, fmt in (("log.json", None), ("log.jsonl", None), ("log.csv", None),
                      ("log.md", None), ("log.html", None), ("anon.htm", None),
                      ("data.txt", "csv")):
        args = ["export", code, "-o", str(tmp_path / name)]
        if fmt:
            args += ["--format", fmt]
        if name.startswith("anon"):
            args.append("--anonymize")
        assert cli.main(args) == 0, name
        assert "records to" in capsys.readouterr().err
    doc = json.loads((tmp_path / "log.json").read_text("utf-8"))
    jsonschema.validate(doc, SCHEMA)
    lines = (tmp_path / "log.jsonl").read_text("utf-8").splitlines()
    assert [json.loads(line)["type"] for line in lines][:2] == ["header", "party"]
    raw_csv = (tmp_path / "log.csv").read_bytes()
    assert raw_csv.startswith(b"\xef\xbb\xbfid,at,") and b"\r\n" in raw_csv
    rows = list(csv.DictReader(io.StringIO(raw_csv.decode("utf-8-sig"), newline="")))
    assert len(rows) == len(doc["records"])
    assert (tmp_path / "data.txt").read_bytes() == raw_csv
    assert (tmp_path / "log.md").read_text("utf-8").startswith("# Friday")
    assert "<svg" in (tmp_path / "log.html").read_text("utf-8")
    anonymous = (tmp_path / "anon.htm").read_text("utf-8")
    assert "Participant 4" in anonymous and "Telegrova" not in anonymous
    # Compared with the core's export of the same party, only exported_at differs.
    assert doc["records"][0]["platform"] == "discord"
    assert datetime.fromisoformat(doc["exported_at"]).tzinfo is not None
    assert datetime.fromisoformat(doc["exported_at"]) > START.replace(tzinfo=UTC)


# ---- the sample in docs/ ---------------------------------------------------------------------


async def write_sample(path: Path) -> None:
    """Write the HTML export of this module's test party (docs/export-sample.html)."""
    clock = ManualClock(START)
    store = MemoryStore()
    discord = RecordingGateway("discord", clock)
    telegram = RecordingGateway("telegram", clock)
    runtime = await app.build(settings_for_tests(), store, clock,
                              {"discord": (discord, UNLIMITED), "telegram": (telegram, UNLIMITED)})
    await runtime.start()
    try:
        two = await run_party(Bot(runtime, clock, discord, store), telegram)
        data = (await export(two, "html")).attachment.data
    finally:
        await runtime.stop()
    path.write_bytes(data)  # noqa: ASYNC240 (a script: nothing else runs)


if __name__ == "__main__":
    # .venv/bin/python -m tests.core.test_export, then the screenshot:
    # chromium --headless=new --no-sandbox --hide-scrollbars --window-size=1000,3160 \
    #   --screenshot=docs/export-sample.png file://$PWD/docs/export-sample.html
    asyncio.run(write_sample(Path(__file__).parents[2] / "docs" / "export-sample.html"))
