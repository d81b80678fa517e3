"""Actions: the durable scheduled things of a party."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class ActionKind(StrEnum):
    """What an action does when it falls due."""

    REMINDER = "reminder"
    READY_CHECK = "ready_check"
    COUNTDOWN = "countdown"
    GO = "go"
    PROMPT = "prompt"
    RESUME_GO = "resume_go"
    SUMMARY = "summary"
    RETENTION = "retention"
    NEXT_EPISODE = "next_episode"
    FOLLOW = "follow"  # held under its lease for as long as its worker follows the player


# Kinds whose firing lasts as long as their work (following a player): they take no firing slot.
HELD_KINDS = frozenset({ActionKind.FOLLOW})


class ActionStatus(StrEnum):
    """Where an action is in its life."""

    PENDING = "pending"
    DONE = "done"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"


@dataclass(slots=True)
class Action:
    """One stored scheduled thing; `payload` holds what the handler needs (JSON-safe)."""

    party_id: int | None
    kind: ActionKind
    due_at: datetime
    payload: dict[str, Any] = field(default_factory=dict)
    id: int | None = None
    status: ActionStatus = ActionStatus.PENDING
    acquired_by: str | None = None
    acquired_until: datetime | None = None
    fence: int = 0


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a fired action ended, written only under the lease (`owner`, `fence`) that fired it."""

    action_id: int
    fence: int
    status: ActionStatus
