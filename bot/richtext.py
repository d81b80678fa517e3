"""Platform-neutral rich text: what the renderer produces and each adapter maps to its format."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


@dataclass(frozen=True, slots=True)
class Text:
    """Plain text, shown literally (adapters escape it)."""

    text: str


@dataclass(frozen=True, slots=True)
class Bold:
    """Emphasised text."""

    text: str


@dataclass(frozen=True, slots=True)
class Italic:
    """Quieter text."""

    text: str


@dataclass(frozen=True, slots=True)
class Code:
    """Text to copy exactly, such as a join code or a command."""

    text: str


class TimeStyle(StrEnum):
    """How an instant is shown: full date and time, relative, or time only."""

    FULL = "F"
    RELATIVE = "R"
    TIME = "T"


@dataclass(frozen=True, slots=True)
class Timestamp:
    """An instant each viewer sees in their own zone; `fallback` is written in the chat zone."""

    at: datetime
    style: TimeStyle
    fallback: str


Span = Text | Bold | Italic | Code | Timestamp


@dataclass(frozen=True, slots=True)
class Button:
    """A button; `data` is the restart-proof action it stands for (at most 64 bytes)."""

    label: str
    data: str

    def __post_init__(self) -> None:
        if len(self.data.encode()) > 64:
            raise ValueError(f"button data over 64 bytes: {self.data!r}")


@dataclass(frozen=True, slots=True)
class Poll:
    """A question with fixed options, posted as a native poll where the platform has them."""

    question: str
    options: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PartyFacts:
    """What an announcement announces, for a platform that mirrors it elsewhere (Discord keeps a
    scheduled event in step with it): typed, so no gateway parses the message's text."""

    code: str
    title: str
    state: str
    starts_at: datetime
    runtime_seconds: int | None = None


@dataclass(frozen=True, slots=True)
class Message:
    """One outbound message: spans (line breaks are '\\n' inside Text), buttons in rows, a poll.

    `mentions` lists user ids a reminder may ping (only where the chat enabled it); user text in
    spans never pings anyone.
    """

    spans: tuple[Span, ...]
    buttons: tuple[tuple[Button, ...], ...] = ()
    poll: Poll | None = None
    mentions: tuple[str, ...] = ()
    reply_to: str | None = None
    title: str | None = None
    extra: dict[str, str] = field(default_factory=dict, compare=False)
    about: PartyFacts | None = field(default=None, compare=False)

    def plain(self) -> str:
        """Return the message as plain text (fallbacks for timestamps)."""
        return "".join(span.fallback if isinstance(span, Timestamp) else span.text
                       for span in self.spans)
