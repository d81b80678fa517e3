"""The rules every store keeps, written once: what a record needs, which actions may be added,
and what follows a chat that changes its id."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from bot.actions import Action, ActionStatus
from bot.party import Party, PartyChat, Series
from bot.records import Record

K = TypeVar("K")
V = TypeVar("V")

RECORD_NEEDS = "a record needs party, kind, platform, chat, user, name and value"
ADDABLE = "only pending, unleased actions can be added"


def check_record(record: Record) -> None:
    """Refuse a record that lacks a required field, so it fails its caller, not a batch."""
    if (record.party_id is None or record.kind is None or record.platform is None
            or record.chat_id is None or record.user_id is None or record.display_name is None
            or record.at is None or record.value is None):
        raise ValueError(RECORD_NEEDS)


def check_addable(actions: Iterable[Action]) -> None:
    """Refuse actions that are not new: only pending, unleased, never-claimed ones are added."""
    for a in actions:
        if a.status != ActionStatus.PENDING or a.acquired_until or a.acquired_by or a.fence:
            raise ValueError(ADDABLE)


def work_party_id(party_id: int | None, party: Party | None) -> int:
    """Return the party a unit of work is on: the one asked for, or the one it created."""
    if party_id is not None:
        return party_id
    assert party is not None, "a new party's unit of work has its party"
    return party.id


class WorkOnParty:
    """What every store's unit of work shares: the party it holds, and the check that a write
    is for that party."""

    party_id: int
    party: Party | None

    def _party_id(self) -> int:
        if self.party is None:
            raise LookupError("this unit of work has no party")
        return self.party.id

    def _own(self, party_id: int | None) -> None:
        if party_id != self.party_id:
            raise ValueError(f"party {party_id} is not this unit of work's party "
                             f"{self.party_id}")


@dataclass
class PartyLocks:
    """One asyncio lock per party, held by the units of work of this process in turn (FIFO).

    The memory store's only guard. On a database a saving, never the guard: a unit of work
    waiting here holds no connection and, in one process, units on one party begin in the
    order they were asked for; the database's own lock is what keeps workers apart. Equal to
    another when both hold the same locks (none, between units of work), as a store's state
    is compared.
    """

    # A party's lock and how many units of work hold or wait for it; dropped when none do.
    _locks: dict[int, tuple[asyncio.Lock, int]] = field(default_factory=dict)

    @asynccontextmanager
    async def hold(self, party_id: int | None) -> AsyncIterator[None]:
        """Hold the lock of `party_id` (none for a party being created, nobody has its id)."""
        if not party_id:
            yield
            return
        lock, users = self._locks.get(party_id, (asyncio.Lock(), 0))
        self._locks[party_id] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[party_id]
            if users > 1:
                self._locks[party_id] = (lock, users - 1)
            else:
                del self._locks[party_id]


@dataclass(frozen=True, slots=True)
class Follower:
    """One kind of thing stored under a chat that goes with it to the chat's new id.

    `keep_new`: where the new chat already has an entry of its own (a settings row, say), that
    one is kept and the old chat's is dropped; otherwise entries simply move.
    """

    name: str
    keep_new: bool


FOLLOWERS: tuple[Follower, ...] = (
    Follower("party_chats", keep_new=True),
    Follower("sent_messages", keep_new=True),
    Follower("forgotten", keep_new=True),
    Follower("chat_settings", keep_new=True),
    Follower("home_chats", keep_new=False),
    Follower("records", keep_new=False),
    Follower("message_refs", keep_new=False),
    Follower("guides", keep_new=True),
)


def follow(entries: dict[K, V], rekey: Callable[[K, V], tuple[K, V] | None],
           keep_new: bool) -> dict[K, V]:
    """Return `entries` with each one `rekey` moves under its new key, in their order.

    `rekey` gives the moved (key, value), or None for an entry that stays. With `keep_new`, a
    moved entry whose new key is taken already is dropped.
    """
    moved: dict[K, V] = {}
    for key, value in entries.items():
        target = rekey(key, value)
        if target is None:
            moved.setdefault(key, value)
            continue
        new_key, new_value = target
        if keep_new and (new_key in entries or new_key in moved):
            continue
        moved[new_key] = new_value
    return moved


def series_values(series: Series | None) -> tuple[Any, ...]:
    """A party's series as its five columns: series_id, episode, episodes, repeat_days,
    series_anchor (all NULL for a party that is no episode)."""
    if series is None:
        return (None, None, None, None, None)
    return (series.series_id, series.episode, series.episodes, series.repeat_days,
            series.anchor)


def series_of(row: Sequence[Any]) -> Series | None:
    """The series of a party from its five series columns, as `series_values` writes them."""
    series_id, episode, episodes, repeat_days, anchor = row
    if series_id is None:
        return None
    return Series(series_id, episode, repeat_days, anchor, episodes)


def thread_id(link: PartyChat) -> str | None:
    """The `thread_id` column of a party's link: its thread's chat id, on the link's platform."""
    if link.thread is None:
        return None
    if link.thread.platform != link.chat.platform:
        raise ValueError(f"the thread {link.thread} of {link.chat} is on another platform")
    return link.thread.chat_id
