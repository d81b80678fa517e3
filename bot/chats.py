"""Chats, the people in them, and each chat's preferences."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum


@dataclass(frozen=True, slots=True)
class ChatRef:
    """One chat on one platform; `chat_id` is the adapter's own string (it may name a topic)."""

    platform: str
    chat_id: str

    def __str__(self) -> str:
        return f"{self.platform}:{self.chat_id}"


@dataclass(frozen=True, slots=True)
class Actor:
    """Who asked: a platform's user, with the name they have there now."""

    platform: str
    user_id: str
    display_name: str


class Creators(StrEnum):
    """Who may create parties in a chat."""

    ANYONE = "anyone"
    MODERATORS = "moderators"


DEFAULT_REMINDERS: tuple[timedelta, ...] = (timedelta(minutes=15), timedelta(minutes=1))
DEFAULT_RETENTION_DAYS = 365


@dataclass(slots=True)
class ChatSettings:
    """A chat's preferences, stored in the database; `timezone` None means the default zone."""

    chat: ChatRef
    timezone: str | None = None
    reminders: tuple[timedelta, ...] = field(default=DEFAULT_REMINDERS)
    creators: Creators = Creators.ANYONE
    retention_days: int = DEFAULT_RETENTION_DAYS
    moderator_role: str | None = None
    ping_reminders: bool = False
    # A thread (a Discord thread, a Telegram forum topic) per party for its discussion.
    threads: bool = False
