"""The transcript shared by the Markdown and HTML exports: one streaming pass, bounded memory.

The transcript is grouped by chapter, with attendance at the top, but records come from the
store in time order and an answer to chapter 1 can come after chapter 3's prompt. So `read`
makes one pass over the records and keeps only what is small:

- aggregates: per person (RSVP, ready, answer and reaction counts), per chapter (net reaction
  counts per emoji, the latest poll vote of each person), and reactions per film minute, capped
  at `MAX_MINUTES` bars. These grow with people, chapters and film minutes, never with records.
- answers: each is rendered (by the format's own template) in small batches and appended to a
  temporary file of its chapter (at most one per guide chapter, plus one for answers outside
  them). At most `BATCH` answers or `BATCH_CHARS` characters wait per chapter.

The document is then written front to back: attendance and the timeline from the aggregates,
then each chapter's questions, its answers read back from its file in `CHUNK`-sized pieces, and
its reaction counts and poll results. Peak memory is the aggregates plus a few buffers, whatever
the number of records; the temporary files are deleted when the transcript is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any

import jinja2

from bot.export.people import Identities
from bot.export.stream import CHUNK, YIELD_EVERY, Sink, Write, records
from bot.guide import MAX_CHAPTERS, Guide
from bot.party import LinkStatus, Party
from bot.ports import Store
from bot.records import RecordKind
from bot.render import STATE_WORDS
from bot.render import local_time as render_local_time
from bot.tally import Fold
from bot.timeparse import format_position

BATCH = 256
BATCH_CHARS = 64 * 1024
MAX_MINUTES = 24 * 60

# One answer as a transcript shows it: (name, platform, film time, question number, text).
# A plain tuple of strings, which the garbage collector stops tracking: answers wait in
# batches, and tracked objects surviving there would set off full collections (10-20 ms
# pauses of the loop with a bot's worth of live objects) every few tens of thousands.
Answer = tuple[str, str, str, int | None, str]


RenderAnswers = Callable[[list[Answer]], str]


@dataclass(slots=True)
class Attendee:
    """One row of the attendance table."""

    number: int
    name: str
    platform: str
    rsvp: str | None = None
    ready: bool = False
    answers: int = 0
    reactions: int = 0


@dataclass(slots=True)
class PollResult:
    """A chapter's poll: the question, and each option with its count of (latest) votes."""

    question: str
    options: list[tuple[str, int]]
    voters: int


@dataclass(slots=True)
class ChapterLog:
    """What one chapter gathered; `number` 0 holds answers to no chapter of the guide."""

    number: int
    title: str | None = None
    starts_at: str | None = None
    ends_at: str | None = None
    questions: tuple[str, ...] = ()
    poll_question: str | None = None
    poll_options: tuple[str, ...] = ()
    answer_count: int = 0
    reactions: Counter[str] = field(default_factory=Counter)
    votes: dict[int, str] = field(default_factory=dict)
    _pending: list[Answer] = field(default_factory=list)
    _pending_chars: int = 0
    _spill: IO[str] | None = None

    @property
    def reaction_counts(self) -> list[tuple[str, int]]:
        """Net reactions (added minus removed) per emoji, most first; none below one."""
        return [(emoji, n) for emoji, n in self.reactions.most_common() if n > 0]

    @property
    def poll(self) -> PollResult | None:
        """The poll's results, counting each person's latest vote (a retraction counts none)."""
        if self.poll_question is None and not self.votes:
            return None
        counts: Counter[str] = Counter()
        voters = 0
        for value in self.votes.values():
            if not value:
                continue
            voters += 1
            for option in _split_vote(value, self.poll_options):
                counts[option] += 1
        options = [(option, counts.pop(option, 0)) for option in self.poll_options]
        options += sorted(counts.items())
        return PollResult(self.poll_question or "", options, voters)

    def answers(self, wrap: Callable[[str], str]) -> Iterator[str]:
        """The chapter's rendered answers, read back from its file a chunk at a time."""
        if self._spill is None:
            return
        self._spill.seek(0)
        while chunk := self._spill.read(CHUNK):
            yield wrap(chunk)


def _split_vote(value: str, options: tuple[str, ...]) -> list[str]:
    """The options of a vote stored as `A | B`; an option that itself holds ` | ` still counts."""
    if value in options:
        return [value]
    padded = f" | {value} | "
    chosen = [option for option in options if f" | {option} | " in padded]
    return chosen or value.split(" | ")


@dataclass(slots=True)
class Timeline:
    """Reactions per film minute, with the guide's chapter ends, ready to draw."""

    minutes: list[int]
    ends: list[tuple[int, int, str]]  # (chapter number, end in seconds, title)
    before_film: int

    @property
    def total(self) -> int:
        """All reactions on the timeline."""
        return sum(self.minutes)

    @property
    def peak(self) -> int:
        """The most reactions in one minute."""
        return max(self.minutes, default=0)


class Transcript:
    """A party read once for a transcript; see the module docstring for how memory stays small."""

    def __init__(self, party: Party, guide: Guide | None, ids: Identities,
                 render_answers: RenderAnswers) -> None:
        self.party = party
        self.guide = guide
        self.ids = ids
        self._render = render_answers
        self.attendees: dict[int, Attendee] = {}
        self.chapters: dict[int, ChapterLog] = {}
        self.minutes: list[int] = []
        self.before_film = 0
        self.records = 0
        self.answers = 0
        self.reactions = 0
        self.votes = 0
        self.attendance = Fold(reactions=False)
        self._files = contextlib.ExitStack()
        if guide is not None:
            for index, chapter in enumerate(guide.chapters, start=1):
                self.chapters[index] = ChapterLog(
                    index, chapter.title, format_position(guide.chapter_starts_at(index - 1)),
                    format_position(chapter.ends_at_seconds), chapter.questions,
                    chapter.poll.question if chapter.poll else None,
                    chapter.poll.options if chapter.poll else ())
        person = ids.person(party.host_platform, party.host_user_id, party.host_name)
        self.attendees[person.number] = Attendee(
            person.number, person.display_name if ids.anonymize else party.host_name,
            party.host_platform)

    async def read(self, store: Store, forgotten: set[tuple[str, str, str]]) -> None:
        """Make the one pass over the party's records."""
        ids, guide = self.ids, self.guide
        attendees, minutes = self.attendees, self.minutes
        anonymize = ids.anonymize
        count = self.attendance.add
        async for rec in records(store, self.party.id, forgotten):
            self.records += 1
            count(rec)
            who = ids.person(rec.platform, rec.user_id, rec.display_name)
            attendee = attendees.get(who.number)
            name = who.display_name if anonymize else rec.display_name
            if attendee is None:
                attendee = attendees[who.number] = Attendee(who.number, name, rec.platform)
            else:
                attendee.name = name
            kind = rec.kind
            if kind is RecordKind.REACTION_ADDED or kind is RecordKind.REACTION_REMOVED:
                added = kind is RecordKind.REACTION_ADDED
                chapter = self._chapter_of(rec.prompt, rec.position)
                if chapter is not None:
                    chapter.reactions[rec.value] += 1 if added else -1
                if added:
                    self.reactions += 1
                    attendee.reactions += 1
                    if rec.position is None:
                        self.before_film += 1
                    else:
                        minute = min(int(rec.position // 60), MAX_MINUTES - 1)
                        if minute >= len(minutes):
                            minutes.extend([0] * (minute + 1 - len(minutes)))
                        minutes[minute] += 1
            elif kind is RecordKind.ANSWER:
                self.answers += 1
                attendee.answers += 1
                chapter = self._chapter_of(rec.prompt, None) or self._chapter(0)
                question = _question_of(rec.prompt)
                text = ids.text(rec.value) if anonymize else rec.value
                film = "—" if rec.position is None else format_position(rec.position)
                self._add_answer(chapter, (name, rec.platform, film, question, text))
            elif kind is RecordKind.POLL_VOTE:
                self.votes += 1
                chapter = self._chapter_of(rec.prompt, None)
                if chapter is not None:
                    value = ids.text(rec.value) if anonymize else rec.value
                    chapter.votes[who.number] = value
            elif kind is RecordKind.RSVP:
                attendee.rsvp = rec.value
            elif kind is RecordKind.READY:
                attendee.ready = True
        for chapter in self.chapters.values():
            self._spill(chapter)
        if guide is not None and not minutes:
            minutes.append(0)

    def _chapter(self, number: int) -> ChapterLog:
        chapter = self.chapters.get(number)
        if chapter is None:
            chapter = self.chapters[number] = ChapterLog(number)
        return chapter

    def _chapter_of(self, prompt: str | None, position: float | None) -> ChapterLog | None:
        """A record's chapter: the one its prompt names, else the one playing at its position."""
        if prompt:
            head = prompt.split(".", 1)[0]
            if head.isdigit() and 1 <= int(head) <= MAX_CHAPTERS:
                number = int(head)
                if self.guide is None or number <= len(self.guide.chapters):
                    return self._chapter(number)
        if position is not None and self.guide is not None:
            index = self.guide.chapter_index_at(position)
            return self._chapter(len(self.guide.chapters) if index is None else index + 1)
        return None

    def _add_answer(self, chapter: ChapterLog, answer: Answer) -> None:
        chapter.answer_count += 1
        chapter._pending.append(answer)
        chapter._pending_chars += len(answer[4])
        if len(chapter._pending) >= BATCH or chapter._pending_chars >= BATCH_CHARS:
            self._spill(chapter)

    def _spill(self, chapter: ChapterLog) -> None:
        if not chapter._pending:
            return
        if chapter._spill is None:
            chapter._spill = self._files.enter_context(
                tempfile.TemporaryFile("w+", encoding="utf-8", prefix="wp-export-"))  # noqa: SIM115 (the ExitStack closes it)
        chapter._spill.write(self._render(chapter._pending))
        chapter._pending.clear()
        chapter._pending_chars = 0

    # ---- what the templates show ----------------------------------------------------------

    def ordered_chapters(self) -> list[ChapterLog]:
        """The guide's chapters in order, then answers outside them (when there are any)."""
        return [self.chapters[n] for n in sorted(self.chapters)
                if n != 0 or self.chapters[n].answer_count]

    def ordered_attendees(self) -> list[Attendee]:
        """Everybody, by participant number (the host first)."""
        return [self.attendees[n] for n in sorted(self.attendees)]

    def timeline(self) -> Timeline:
        """Reactions per film minute, with chapter ends."""
        ends = [] if self.guide is None else [
            (i, ch.ends_at_seconds, ch.title) for i, ch in enumerate(self.guide.chapters, 1)]
        minutes = list(self.minutes)
        if self.guide is not None:
            runtime_minutes = min(MAX_MINUTES, -(-self.guide.runtime_seconds // 60))
            minutes.extend([0] * (runtime_minutes - len(minutes)))
        return Timeline(minutes, ends, self.before_film)

    def tally(self) -> dict[str, int]:
        """Attendance totals: going, maybe, not going, ready, answered."""
        return self.attendance.attendance()

    def close(self) -> None:
        """Delete every temporary file."""
        for chapter in self.chapters.values():
            chapter._spill = None
        self._files.close()


def _question_of(prompt: str | None) -> int | None:
    if prompt is None:
        return None
    tail = prompt.partition(".")[2]
    return int(tail) if tail.isdigit() else None


def local_time(at: datetime | None, zone: str) -> str:
    """An instant in the party's zone, or a dash."""
    return "—" if at is None else render_local_time(at, zone)


async def write_transcript(store: Store, party: Party, guide: Guide | None, write: Write, *,
                           anonymize: bool, now: datetime, env: jinja2.Environment,
                           document: str, answers: str, wrap: Callable[[str], str],
                           extra: Callable[[Transcript], dict[str, Any]]) -> int:
    """Read the party once, then render template `document`; return the record count.

    `answers` names the template whose `answer_items(batch)` macro renders answers as they
    are read; `wrap` marks text read back from the temporary files as already rendered.
    """
    ids = Identities.for_party(party, anonymize)
    forgotten = await store.forgotten([pc.chat for pc in party.chats])
    if anonymize:
        await ids.learn(store, party, forgotten)
    macros = env.get_template(answers).module
    render_batch: RenderAnswers = lambda batch: str(macros.answer_items(batch))  # type: ignore[attr-defined]  # noqa: E731
    transcript = Transcript(party, guide, ids, render_batch)
    try:
        await transcript.read(store, forgotten)
        chats = Counter(pc.chat.platform for pc in party.chats
                        if pc.status is LinkStatus.APPROVED)
        context: dict[str, Any] = {
            "party": party, "guide": guide, "anonymized": anonymize,
            "title": ids.text(party.title),
            "host": transcript.attendees[1].name if transcript.attendees else "",
            "starts_at": local_time(party.starts_at, party.timezone),
            "go_at": local_time(party.go_at, party.timezone),
            "finished_at": local_time(party.finished_at, party.timezone),
            "exported_at": local_time(now, "UTC"),
            "chats": sorted(chats.items()),
            "tally": transcript.tally(),
            "totals": {"records": transcript.records, "answers": transcript.answers,
                       "reactions": transcript.reactions, "votes": transcript.votes},
            "attendees": transcript.ordered_attendees(),
            "chapters": transcript.ordered_chapters(),
            "answers_of": lambda chapter: chapter.answers(wrap),
            "state": STATE_WORDS.get(party.state, party.state.value),
        }
        context.update(extra(transcript))
        out = Sink(write)
        for count, chunk in enumerate(env.get_template(document).generate(context), start=1):
            out.add(chunk)
            await out.pump()
            if count % YIELD_EVERY == 0:
                await asyncio.sleep(0)
        await out.flush()
    finally:
        transcript.close()
    return transcript.records
