"""The renderer's texts of a party's life: edits, series, history and calendar files."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.formats import local_time, relative
from bot.guide import Guide
from bot.party import Party, PartyState
from bot.richtext import Bold, Code, Italic, Message, Span, Text, Timestamp, TimeStyle
from bot.series import next_start, repeat_words

HISTORY_PAGE = 10


@dataclass(frozen=True, slots=True)
class Change:
    """What an edit changed: the old and new title, start or guide (None: unchanged)."""

    title: tuple[str, str] | None = None
    starts_at: tuple[datetime, datetime] | None = None
    guide: tuple[str | None, str | None] | None = None


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One line of `history`: a finished or cancelled party and its counts."""

    party: Party
    going: int
    ready: int
    answers: int


def _guide_name(name: str | None) -> str:
    return name if name else "no guide"


def edited(party: Party, change: Change, zone: str, now: datetime) -> Message:
    """The one line each linked chat gets about an edit, its times in that chat's zone."""
    spans: list[Span] = [Text("✏️ "), Bold(party.title), Text(": ")]
    parts: list[list[Span]] = []
    if change.starts_at is not None:
        old, new = change.starts_at
        parts.append([Text("moved to "), Timestamp(new, TimeStyle.FULL, local_time(new, zone)),
                      Text(" ("), Timestamp(new, TimeStyle.RELATIVE, relative(new, now)),
                      Text("; was "), Timestamp(old, TimeStyle.FULL, local_time(old, zone)),
                      Text(")")])
    if change.title is not None:
        parts.append([Text("renamed from "), Bold(change.title[0])])
    if change.guide is not None:
        parts.append([Text("guide now "), Code(_guide_name(change.guide[1])),
                      Text(f" (was {_guide_name(change.guide[0])})")])
    for index, part in enumerate(parts):
        if index:
            spans.append(Text("; "))
        spans += part
    spans.append(Text(". RSVPs and the join code stay."))
    return Message(tuple(spans))


def edit_done(party: Party, change: Change, zone: str, now: datetime) -> Message:
    """The reply to the host or moderator who edited."""
    line = edited(party, change, zone, now)
    return Message((Text("Saved. "), *line.spans))


def series_line(party: Party, zone: str, now: datetime) -> list[Span]:
    """`Episode 3 of 10 · weekly · next …` for an episode of a series; nothing otherwise."""
    series = party.series
    if series is None:
        return []
    total = f" of {series.episodes}" if series.episodes is not None else ""
    spans: list[Span] = [Text(f"📺 Episode {series.episode}{total} · "
                              f"{repeat_words(series.repeat_days)}")]
    upcoming = next_start(party)
    if upcoming is not None and party.state is not PartyState.CANCELLED:
        spans += [Text(" · next episode "), Timestamp(upcoming, TimeStyle.FULL,
                                                      local_time(upcoming, zone))]
    elif series.is_last:
        spans.append(Text(" · the last one"))
    spans.append(Text("\n"))
    return spans


def series_ended(party: Party, by: str) -> Message:
    """Said with a cancellation that ends the whole series (`all=yes`)."""
    return Message((Text("🚫 The series of "), Bold(party.title), Text(" is over: no more "
                    "episodes (ended by "), Bold(by), Text(").")))


def next_episode_note(party: Party, at: datetime, zone: str) -> Message:
    """Said with a cancellation of one episode: the series goes on."""
    return Message((Text("The series goes on: the next episode of "), Bold(party.title),
                    Text(" is "), Timestamp(at, TimeStyle.FULL, local_time(at, zone)),
                    Text(". To end the series, use "),
                    Code(f"/watchparty cancel {party.code} all=yes"), Text(".")))


def history(entries: list[HistoryEntry], page: int, total: int, zone: str) -> Message:
    """`/watchparty history`: ten finished and cancelled parties a page, newest first."""
    if total == 0:
        return Message((Text("No finished or cancelled parties in this chat yet."),))
    pages = (total + HISTORY_PAGE - 1) // HISTORY_PAGE
    spans: list[Span] = [Bold("Past parties in this chat"),
                         Text(f" (page {page} of {pages}, {total} in all)\n")]
    for entry in entries:
        party = entry.party
        when = party.go_at or party.starts_at
        spans += [Text("• "), Code(party.code), Text(" "), Bold(party.title),
                  Text(f" — {local_time(when, zone)}")]
        if party.state is PartyState.CANCELLED:
            spans.append(Text(" · cancelled"))
        else:
            answers = f"{entry.answers} answer{'s' if entry.answers != 1 else ''}"
            spans.append(Text(f" · {entry.going} going, {entry.ready} ready · {answers}"))
        if party.series is not None:
            spans.append(Text(f" · episode {party.series.episode}"))
        spans.append(Text("\n"))
    if page < pages:
        spans += [Text("Older: "), Code(f"/watchparty history {page + 1}"), Text("\n")]
    spans += [Italic("Export one with /watchparty export CODE; get its calendar file with "
                     "/watchparty calendar CODE.")]
    return Message(tuple(spans))


def calendar_ready(party: Party, guide: Guide | None) -> Message:
    """The caption of a calendar file."""
    series = party.series if party.state is not PartyState.CANCELLED else None
    extra = ""
    if series is not None and not series.is_last:
        left = f"{series.episodes - series.episode + 1} episodes" if series.episodes \
            else "every episode"
        extra = f" It repeats {repeat_words(series.repeat_days)} ({left})."
    return Message((Text("📅 "), Bold(party.title), Text(" for your calendar: open the file "
                    f"to add it, with a reminder.{extra} Join code "), Code(party.code),
                    Text(".")))
