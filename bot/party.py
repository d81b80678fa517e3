"""The party and its state machine."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from bot.chats import ChatRef
from bot.errors import UserError

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # A–Z and 2–9 without I and O
CODE_LENGTH = 6


def new_join_code() -> str:
    """Return a random join code such as `K7Q2MX`."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normalize_code(text: str) -> str | None:
    """Return `text` as a join code if it can be one (case-insensitive), else None."""
    code = text.strip().upper()
    if len(code) == CODE_LENGTH and all(ch in CODE_ALPHABET for ch in code):
        return code
    return None


class PartyState(StrEnum):
    """Where a party is in its life."""

    SCHEDULED = "scheduled"
    COUNTING_DOWN = "counting_down"
    PLAYING = "playing"
    PAUSED = "paused"
    FINISHED = "finished"
    CANCELLED = "cancelled"


ALLOWED: dict[PartyState, frozenset[PartyState]] = {
    PartyState.SCHEDULED: frozenset({PartyState.COUNTING_DOWN, PartyState.CANCELLED}),
    PartyState.COUNTING_DOWN: frozenset({PartyState.PLAYING, PartyState.CANCELLED}),
    PartyState.PLAYING: frozenset({PartyState.PAUSED, PartyState.FINISHED, PartyState.CANCELLED}),
    PartyState.PAUSED: frozenset({PartyState.PLAYING, PartyState.FINISHED, PartyState.CANCELLED}),
    PartyState.FINISHED: frozenset(),
    PartyState.CANCELLED: frozenset(),
}

ACTIVE_STATES = frozenset(
    {PartyState.SCHEDULED, PartyState.COUNTING_DOWN, PartyState.PLAYING, PartyState.PAUSED}
)


class LinkStatus(StrEnum):
    """Whether a chat linked to a party has been approved."""

    PENDING = "pending"
    APPROVED = "approved"
    DECLINED = "declined"


@dataclass(slots=True)
class PartyChat:
    """A chat that takes part in a party; the home chat is approved from the start.

    `thread` is the party's own thread in this chat (setting `threads`), where its prompts,
    polls and summary go; what people do there counts as done in `chat`.
    """

    party_id: int
    chat: ChatRef
    status: LinkStatus
    is_home: bool = False
    requested_by: str | None = None
    thread: ChatRef | None = None


@dataclass(frozen=True, slots=True)
class Series:
    """Where an episode stands in a series: every `repeat_days`, at one local time.

    `series_id` is the id of the first episode; `anchor` the local wall-clock start of episode 1
    in the party's zone (`2026-03-20T20:00:00`), so later episodes keep that time across DST;
    `episodes` None runs until the series is cancelled with `all=yes`.
    """

    series_id: int
    episode: int
    repeat_days: int
    anchor: str
    episodes: int | None = None

    @property
    def is_last(self) -> bool:
        """Whether no episode follows this one."""
        return self.episodes is not None and self.episode >= self.episodes


@dataclass(slots=True)
class Party:
    """One screening."""

    id: int
    code: str
    title: str
    host_platform: str
    host_user_id: str
    host_name: str
    home: ChatRef
    starts_at: datetime
    timezone: str
    guide_name: str | None
    state: PartyState
    created_at: datetime
    go_at: datetime | None = None
    paused_at: datetime | None = None
    paused_seconds: float = 0.0
    seek_seconds: float = 0.0
    resume_at: datetime | None = None
    ready_target: int | None = None
    finished_at: datetime | None = None
    follow_source: str | None = None
    chats: list[PartyChat] = field(default_factory=list)
    # How often the party changed after it was announced: a calendar file's SEQUENCE.
    sequence: int = 0
    series: Series | None = None

    def is_host(self, platform: str, user_id: str) -> bool:
        """Return whether this user created the party."""
        return self.host_platform == platform and self.host_user_id == user_id

    def transition(self, to: PartyState) -> None:
        """Move to state `to`, or raise a UserError naming the current state."""
        if to not in ALLOWED[self.state]:
            raise UserError("invalid_transition", title=self.title, state=self.state.value,
                            target=to.value)
        self.state = to

    def thread_of(self, chat: ChatRef) -> ChatRef | None:
        """The party's own thread in a linked chat, if it has one."""
        for link in self.chats:
            if link.chat == chat:
                return link.thread
        return None

    def approved_chats(self) -> list[ChatRef]:
        """Return every chat the party's messages go to, home chat first."""
        ordered = sorted(self.chats, key=lambda c: (not c.is_home, str(c.chat)))
        return [c.chat for c in ordered if c.status is LinkStatus.APPROVED]
