"""The one fold of a party's records into counts: RSVP and ready tallies, and the summary."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from bot.chats import ChatRef
from bot.guide import Guide
from bot.records import Record, RecordKind, Rsvp

Who = tuple[str, str]


@dataclass(frozen=True, slots=True)
class Tally:
    """RSVP and ready counts across every linked chat (latest answer per person counts)."""

    going: int
    maybe: int
    not_going: int
    ready: int
    # (platform, chat id, user id) of everyone going, in the chat where they said so.
    going_people: tuple[tuple[str, str, str], ...] = ()

    def going_in(self, chat: ChatRef) -> tuple[str, ...]:
        """The user ids of the people going who said so in `chat` (a ping there names them:
        people of another chat, or platform, may not be in it)."""
        return tuple(user for platform, chat_id, user in self.going_people
                     if platform == chat.platform and chat_id == chat.chat_id)


@dataclass(frozen=True, slots=True)
class Summary:
    """What the closing summary says."""

    going: int
    ready: int
    answered: int
    answers_per_chapter: dict[int, int]
    top_moments: list[tuple[int, int, str]]
    guide: Guide | None = field(default=None)


class Fold:
    """One pass over a party's records, in time order; `add` each, then read the counts.

    `reactions=False` skips the reactions (a caller that counts them its own way).
    """

    def __init__(self, *, reactions: bool = True) -> None:
        self.reactions = reactions
        self.rsvp: dict[Who, str] = {}
        self.rsvp_chat: dict[Who, str] = {}  # where each person last answered
        self.ready: set[Who] = set()
        self.answered: set[Who] = set()
        self.answers: Counter[int] = Counter()
        # The film positions of the reactions that still stand, per person, message and emoji:
        # a removal takes back that person's latest one (the anonymous totals stand for many).
        self.standing: dict[tuple[str, str, str, str | None, str], list[float | None]] = {}

    def add(self, rec: Record) -> None:
        """Count one record."""
        kind = rec.kind
        if kind is RecordKind.RSVP:
            self.rsvp[(rec.platform, rec.user_id)] = rec.value
            self.rsvp_chat[(rec.platform, rec.user_id)] = rec.chat_id
        elif kind is RecordKind.READY:
            self.ready.add((rec.platform, rec.user_id))
        elif kind is RecordKind.ANSWER:
            self.answered.add((rec.platform, rec.user_id))
            if rec.prompt:
                self.answers[int(rec.prompt.split(".")[0])] += 1
        elif self.reactions and (kind is RecordKind.REACTION_ADDED
                                 or kind is RecordKind.REACTION_REMOVED):
            stack = self.standing.setdefault(
                (rec.platform, rec.chat_id, rec.user_id, rec.message_id, rec.value), [])
            if kind is RecordKind.REACTION_ADDED:
                stack.append(rec.position)
            elif stack:
                stack.pop()

    def tally(self) -> Tally:
        """RSVP and ready counts, latest answer per person."""
        counts = Counter(self.rsvp.values())
        going = tuple((platform, self.rsvp_chat[(platform, uid)], uid)
                      for (platform, uid), v in self.rsvp.items() if v == Rsvp.GOING.value)
        return Tally(counts[Rsvp.GOING.value], counts[Rsvp.MAYBE.value],
                     counts[Rsvp.NOT_GOING.value], len(self.ready), going)

    def attendance(self) -> dict[str, int]:
        """Attendance totals by name: going, maybe, not going, ready, answered."""
        t = self.tally()
        return {"going": t.going, "maybe": t.maybe, "not_going": t.not_going,
                "ready": t.ready, "answered": len(self.answered)}

    def top_moments(self) -> list[tuple[int, int, str]]:
        """The three film minutes with most standing reactions: (second, count, top emoji)."""
        minutes: Counter[int] = Counter()
        emoji: dict[int, Counter[str]] = {}
        for key, positions in self.standing.items():
            for at in positions:
                if at is None:
                    continue  # before GO: no film minute
                minute = int(at // 60)
                minutes[minute] += 1
                emoji.setdefault(minute, Counter())[key[-1]] += 1
        return [(m * 60, n, emoji[m].most_common(1)[0][0]) for m, n in minutes.most_common(3)]

    def summary(self, guide: Guide | None) -> Summary:
        """What the closing summary says."""
        return Summary(going=self.tally().going, ready=len(self.ready),
                       answered=len(self.answered), answers_per_chapter=dict(self.answers),
                       top_moments=self.top_moments(), guide=guide)


async def fold(records: AsyncIterator[Record]) -> Fold:
    """Fold a stream of records."""
    result = Fold()
    async for rec in records:
        result.add(rec)
    return result
