"""Records: the stored facts of a discussion."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class RecordKind(StrEnum):
    """What a record says happened."""

    RSVP = "rsvp"
    READY = "ready"
    REACTION_ADDED = "reaction_added"
    REACTION_REMOVED = "reaction_removed"
    ANSWER = "answer"
    POLL_VOTE = "poll_vote"


class Rsvp(StrEnum):
    """An RSVP answer."""

    GOING = "going"
    MAYBE = "maybe"
    NOT_GOING = "not_going"


@dataclass(frozen=True, slots=True)
class Record:
    """One fact: who, where, when (UTC and film position), what, and about which message.

    `prompt` names the prompt it concerns as `chapter.question` (1-based), when it concerns one;
    `message_id` is the platform message it concerns (a reaction's target), when there is one;
    `event` names the inbound event that produced it, when the platform may deliver that event
    again: a store keeps one record per party and event.
    """

    party_id: int
    kind: RecordKind
    platform: str
    chat_id: str
    user_id: str
    display_name: str
    at: datetime
    position: float | None
    value: str
    prompt: str | None = None
    message_id: str | None = None
    id: int | None = None
    event: str | None = None
