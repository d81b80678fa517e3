"""What the core needs from outside: a clock, chat gateways, and a store."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from bot.actions import Action, ActionKind, Outcome
from bot.chats import ChatRef, ChatSettings
from bot.party import LinkStatus, Party, PartyChat, PartyState
from bot.records import Record
from bot.richtext import Message


class Clock(Protocol):
    """The source of 'now' and of waiting."""

    def now(self) -> datetime:
        """Return the current instant, aware, in UTC."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait `seconds` of this clock's time."""
        ...


class RetryAfter(Exception):
    """A platform asked us to wait; `chat_wide` False means the whole bot must wait."""

    def __init__(self, seconds: float, *, chat_wide: bool = True) -> None:
        super().__init__(f"retry after {seconds:.3f}s")
        self.seconds = seconds
        self.chat_wide = chat_wide


class DeliveryFailed(Exception):
    """A send that will never succeed (the bot was removed, the chat is gone): not retried."""


class ChatGone(DeliveryFailed):
    """The chat (a party's thread, say) was deleted or closed: posting there will not work."""


class ThreadRefused(DeliveryFailed):
    """A thread could not be opened in a chat; `reason` says why.

    `permission`: the bot may not create threads there; `not_forum`: a Telegram group that is
    not a forum has no topics; `unsupported`: the platform has no threads (the console).
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(detail or reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class OpenedThread:
    """A party's new thread: its own chat, and a link to it when the platform shows none."""

    chat: ChatRef
    link: str | None = None


class ChatGateway(Protocol):
    """How the outbox reaches one platform; raise RetryAfter on a 429."""

    platform: str

    async def send(self, chat: ChatRef, message: Message) -> str:
        """Post `message`; return the platform's message id."""
        ...

    async def edit(self, chat: ChatRef, message_id: str, message: Message) -> None:
        """Replace the text and buttons of a message the bot posted."""
        ...

    async def send_file(self, chat: ChatRef, filename: str, data: bytes,
                        caption: Message | None) -> str:
        """Upload a file; return the message id."""
        ...


@dataclass(eq=False)
class SendProgress:
    """How far one queued send got, kept by the outbox across its retries; the gateway fills it.

    A message the platform shows as several pieces may meet a 429 half-way: `posted` holds the
    ids of the pieces already out (by index), so the retry posts only the rest; `keys` the
    idempotency key sent with each piece; `plan` what the gateway decided on its first attempt
    (how it cut the message), so the retry resumes the same pieces.

    `name`, when the core gives one, names the send itself (a scheduled action's post to one
    chat): every worker that ever makes it derives the same keys from it, so a worker that
    fires it again after another died between the platform's answer and storing the post
    repeats the first one's keys, and a platform that honours them posts it once.
    """

    posted: dict[int, str] = field(default_factory=dict)
    keys: dict[int, str] = field(default_factory=dict)
    plan: object = None
    name: str | None = None

    def key(self, index: int, new: Callable[[], str]) -> str:
        """Return the idempotency key of piece `index`: from `name` when the send has one,
        else made by `new` on its first attempt."""
        if index not in self.keys:
            self.keys[index] = new() if self.name is None else f"{self.name}#{index}"
        return self.keys[index]


@runtime_checkable
class ResumingGateway(Protocol):
    """A gateway that posts a message in several pieces and resumes it from the outbox's job."""

    async def send_resuming(self, chat: ChatRef, message: Message,
                            progress: SendProgress) -> str:
        """Post the pieces of `message` not yet in `progress`, noting each; return the last id."""
        ...


@runtime_checkable
class ThreadingGateway(Protocol):
    """A gateway that can open a thread for a party (a Discord thread, a Telegram topic)."""

    async def open_thread(self, chat: ChatRef, message_id: str, name: str) -> OpenedThread:
        """Open a thread named `name` off message `message_id` of `chat` (where the platform
        starts threads from a message); raise ThreadRefused when it cannot be done there."""
        ...


class SentKind(StrEnum):
    """What a message the bot posted was for."""

    ANNOUNCEMENT = "announcement"
    REMINDER = "reminder"
    READY_CHECK = "ready_check"
    COUNTDOWN = "countdown"
    GO = "go"
    PROMPT = "prompt"
    POLL = "poll"
    SUMMARY = "summary"
    LINK_REQUEST = "link_request"
    NOTICE = "notice"


@dataclass(frozen=True, slots=True)
class SentMessage:
    """A message the bot posted for a party, so replies and reactions find their party."""

    party_id: int
    chat: ChatRef
    message_id: str
    kind: SentKind
    prompt: str | None = None
    action_id: int | None = None


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One line of a party's own log (skipped actions, late posts)."""

    party_id: int
    at: datetime
    key: str
    params: dict[str, Any]


class PartyWork(Protocol):
    """One unit of work on one party: a transaction that holds the party until it ends.

    `async with store.party(party_id) as tx:` begins it, takes the party for this worker and
    reads it into `tx.party`; the block applies its transitions and calls the writes below,
    which all land in the same transaction; leaving the block commits, an exception rolls
    everything back. Two units of work on one party, in one process or in two, run one after
    the other, so neither loses the other's update. SQLite takes the database's write lock
    (`BEGIN IMMEDIATE`); the memory store a lock per party; PostgreSQL reads the party row
    with `SELECT … FOR UPDATE`, which holds it until COMMIT. Keep a unit of work short and
    free of network calls: others wait for it.
    """

    party: Party | None

    async def save(self) -> None:
        """Write the party's own fields that changed since they were read (not its chats)."""
        ...

    async def add_actions(self, actions: list[Action]) -> list[Action]:
        """Store pending actions of this party; return them with ids."""
        ...

    async def cancel_actions(self, kinds: frozenset[ActionKind]) -> int:
        """Cancel this party's pending actions of these kinds; return how many."""
        ...

    async def pending_actions(self) -> list[Action]:
        """Return this party's pending actions by due time."""
        ...

    async def upsert_chat(self, link: PartyChat) -> None:
        """Add a chat to this party or change its link (or thread); `party.chats` follows."""
        ...

    async def set_link_status(self, chat: ChatRef, status: LinkStatus) -> None:
        """Change the status of a linked chat; `party.chats` follows."""
        ...

    async def add_sent_message(self, sent: SentMessage) -> None:
        """Remember a message posted for this party."""
        ...

    async def add_log(self, entry: LogEntry) -> None:
        """Append to this party's log."""
        ...

class UpdateClaim(StrEnum):
    """What `Store.claim_update` found for an inbound platform update."""

    CLAIMED = "claimed"  # this worker handles it now
    DONE = "done"  # some worker handled it already: skip it
    BUSY = "busy"  # another worker is handling it right now


# A send-budget scope: its name ('telegram:bot', a chat), its windows, and how many requests of
# each window must stay free for more urgent ones (GO).
SendScope = tuple[str, tuple[tuple[int, float], ...], int]

# A record as exports read it, a plain tuple (a million of them are read, and building a
# `Record` each costs more than writing its line): (id, kind, platform, chat_id, user_id,
# display_name, at in microseconds since 1970-01-01 UTC, position, value, prompt, message_id).
RecordRow = tuple[int, str, str, str, str, str, int, float | None, str, str | None, str | None]


@runtime_checkable
class SharedActions(Protocol):
    """A store whose actions several workers share (PostgreSQL): it hears when any of them
    adds actions, and says how far ahead of due time its claims should be made.

    `wake` is called on each notice (LISTEN/NOTIFY), every few seconds as a fallback, and after
    a lost connection comes back, so an earlier action another worker added is not slept past.
    """

    claim_ahead: timedelta

    def on_actions_added(self, wake: Callable[[], None]) -> None:
        """Call `wake` whenever actions may have been added by any worker."""
        ...


class Store(Protocol):
    """Everything the core stores; every method is atomic and durable when it returns."""

    async def close(self) -> None:
        """Flush pending writes and release the database."""
        ...

    # units of work
    def party(self, party_id: int) -> AbstractAsyncContextManager[PartyWork]:
        """Begin a unit of work on a party; `tx.party` is None when there is no such party."""
        ...

    def new_party(self, party: Party) -> AbstractAsyncContextManager[PartyWork]:
        """Begin a unit of work that inserts a party with its home chat (approved).

        `tx.party` is the party with its id; its first actions added in the block are stored
        in the same transaction, so a party never exists without them. A taken join code
        raises StoreConflict on entry.
        """
        ...

    # parties
    async def create_party(self, party: Party) -> Party:
        """Insert a party with its home chat (approved); return it with its id."""
        ...

    async def update_party(self, party: Party) -> None:
        """Save the party's own fields (not its chats)."""
        ...

    async def get_party(self, party_id: int) -> Party | None:
        """Return a party with its chats."""
        ...

    async def get_party_by_code(self, code: str) -> Party | None:
        """Return the party with this join code."""
        ...

    async def parties_for_chat(self, chat: ChatRef,
                               states: frozenset[PartyState]) -> list[Party]:
        """Return the parties in these states that this chat takes part in (approved), by start."""
        ...

    async def party_history(self, chat: ChatRef, offset: int,
                            limit: int) -> tuple[list[Party], int]:
        """Return a page of this chat's finished and cancelled parties (approved links), newest
        end first (`finished_at`, then id, descending), and how many there are in all."""
        ...

    async def series_episode(self, series_id: int, episode: int) -> Party | None:
        """Return episode number `episode` of a series (`Party.series`), if it was created."""
        ...

    async def upsert_party_chat(self, link: PartyChat) -> None:
        """Add a chat to a party or change its link status (and its thread)."""
        ...

    async def thread_parent(self, thread: ChatRef) -> ChatRef | None:
        """Return the linked chat a party's thread belongs to; None for any other chat."""
        ...

    async def set_link_status(self, party_id: int, chat: ChatRef, status: LinkStatus) -> None:
        """Change the status of a linked chat."""
        ...

    # records
    async def add_record(self, record: Record) -> Record:
        """Store a record; return only once it is durable (group commit), with its id.

        A record whose `event` is set and already stored for the same party is not stored
        again: the stored record's id is returned (a redelivered platform event).
        """
        ...

    def iter_records(self, party_id: int) -> AsyncIterator[Record]:
        """Stream a party's records in time order, never holding them all."""
        ...

    def iter_record_rows(self, party_id: int) -> AsyncIterator[list[RecordRow]]:
        """Stream a party's records as `RecordRow` pages, in the order of `iter_records`."""
        ...

    async def delete_user_records(self, chat: ChatRef, user_id: str) -> int:
        """Delete every record of this user in this chat; return how many."""
        ...

    async def delete_party_records(self, party_id: int, chat: ChatRef | None = None) -> int:
        """Delete every record of a party (only those made in `chat`, if given); return how many."""
        ...

    async def add_forgotten(self, chat: ChatRef, user_id: str, at: datetime) -> None:
        """Remember that this user asked to be forgotten in this chat."""
        ...

    async def forgotten(self, chats: list[ChatRef]) -> set[tuple[str, str, str]]:
        """Return (platform, chat_id, user_id) of users forgotten in these chats."""
        ...

    # messages the bot posted
    async def add_sent_message(self, sent: SentMessage) -> None:
        """Remember a message posted for a party."""
        ...

    async def find_sent_message(self, chat: ChatRef, message_id: str) -> SentMessage | None:
        """Return what a posted message was for."""
        ...

    async def sent_messages(self, party_id: int, kind: SentKind | None = None) -> list[SentMessage]:
        """Return a party's posted messages, optionally of one kind, in posting order."""
        ...

    async def sent_for_action(self, action_id: int) -> list[SentMessage]:
        """Return the messages posted for one action (so a re-fired action skips those chats)."""
        ...

    # platform names for posted messages
    async def save_message_ref(self, platform: str, ref: str, chat: ChatRef,
                               message_id: str) -> None:
        """Remember a platform's own name for a posted message (a Telegram poll id, say)."""
        ...

    async def find_message_ref(self, platform: str, ref: str) -> tuple[ChatRef, str] | None:
        """Return the chat and message id a platform name was saved for."""
        ...

    async def move_chat(self, old: ChatRef, new: ChatRef) -> None:
        """Give everything stored under chat `old` to chat `new` (a group that changed its id).

        Party links and home chats, settings, posted messages and their platform names, records,
        forget-me requests and the guides uploaded with `old` as their scope all follow; where
        `new` already has an entry of its own (a settings row, say), that one is kept.
        """
        ...

    # actions
    async def add_actions(self, actions: list[Action]) -> list[Action]:
        """Store pending actions; return them with ids."""
        ...

    async def next_wakeup(self) -> datetime | None:
        """Return the earliest instant a pending action can be claimed (due, or lease expiry)."""
        ...

    async def claim_due(self, now: datetime, owner: str, lease_until: datetime,
                        limit: int) -> list[Action]:
        """Lease up to `limit` pending actions due by `now`, earliest first, to `owner`.

        An action is claimable when it has no lease or its lease ran out (`acquired_until` is
        not after `now`); every claim bumps its `fence`, so the previous holder's writes fail.
        """
        ...

    async def renew_leases(self, owner: str, leases: list[tuple[int, int]],
                           lease_until: datetime) -> list[int]:
        """Extend the leases (action id, fence) `owner` still holds; return the ids extended."""
        ...

    async def finish_actions(self, owner: str, outcomes: list[Outcome]) -> list[Outcome]:
        """Write the outcomes of actions `owner` still holds under their fence; return those.

        An outcome whose lease was claimed by another since (a higher fence) is not written:
        a worker that lost its lease cannot mark the action done.
        """
        ...

    async def reap_leases(self, now: datetime, owner: str) -> int:
        """Drop leases that ran out by `now` or are held under `owner`; return how many.

        Called at start-up: leases under this worker's own name were left by a previous run of
        it that died (WORKER_ID names one live worker); another worker's live leases stay.
        """
        ...

    async def cancel_actions(self, party_id: int, kinds: frozenset[ActionKind]) -> int:
        """Cancel a party's pending actions of these kinds; return how many."""
        ...

    # many workers on one database (PRODUCT §9)
    async def ping(self) -> None:
        """Return once the database answers a trivial query; raise if it does not."""
        ...

    async def hold_lease(self, name: str, owner: str, now: datetime, until: datetime) -> bool:
        """Take or extend the named lease (one Telegram poller, say) for `owner` until `until`.

        True when `owner` holds it now: it was free, had run out by `now`, or was `owner`'s.
        """
        ...

    async def release_lease(self, name: str, owner: str) -> None:
        """Give up a lease `owner` holds (a clean stop), so another worker takes it at once."""
        ...

    async def claim_update(self, source: str, update_id: int, owner: str, now: datetime,
                           until: datetime) -> UpdateClaim:
        """Claim an inbound update (`source` names the bot) for handling until `until`.

        DONE when any worker finished it before; BUSY while another worker's claim runs;
        otherwise (new, a claim that ran out, or `owner`'s own) CLAIMED.
        """
        ...

    async def finish_update(self, source: str, update_id: int, now: datetime) -> None:
        """Mark an inbound update handled: every later claim of it is DONE."""
        ...

    async def prune_updates(self, before: datetime) -> int:
        """Forget updates finished before `before` (Telegram repeats none that old)."""
        ...

    async def take_send(self, scopes: list[SendScope], now_ms: int) -> tuple[int, str | None]:
        """Count one outbound request against every scope's windows, for all workers together.

        Returns (0, None) when it fits each scope (and is counted in each), else the
        milliseconds until it would fit and the name of the scope that is full (nothing
        counted). `now_ms` is the wall clock in milliseconds, the same for every worker.
        """
        ...

    # chat settings and uploaded guides
    async def get_chat_settings(self, chat: ChatRef) -> ChatSettings:
        """Return a chat's settings, defaults when it has none stored."""
        ...

    async def save_chat_settings(self, settings: ChatSettings) -> None:
        """Store a chat's settings."""
        ...

    async def save_guide(self, scope: str, name: str, source: str) -> None:
        """Store an uploaded guide's TOML under its owner (a chat or a server)."""
        ...

    async def get_guide_source(self, scope: str, name: str) -> str | None:
        """Return an uploaded guide's TOML."""
        ...

    async def list_guides(self, scope: str) -> list[str]:
        """Return the names of guides uploaded by this owner."""
        ...

    # party log
    async def add_log(self, entry: LogEntry) -> None:
        """Append to a party's log."""
        ...

    async def party_log(self, party_id: int) -> list[LogEntry]:
        """Return a party's log in order."""
        ...
