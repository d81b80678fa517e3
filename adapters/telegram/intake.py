"""Updates in flight: handled concurrently, in order for each person in each chat.

Telegram confirms every update below the `offset` a bot asks getUpdates with, so the offset may
pass an update only once it is fully handled. The intake therefore gives back a watermark: the
lowest update not yet finished (or one past the last one seen). A crash repeats the unfinished
updates, and only those, and every record carries its update's name, so nothing is stored twice.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from telegram import Update


def lane_of(update: Update) -> tuple[str, str | None]:
    """Where an update waits: its chat, and the person it comes from (None: the whole chat).

    One person's updates in one chat keep their order (Going, then Not going, ends as Not
    going); different people's run side by side, since neither waits for the other in a real
    group either. An update from nobody in particular (a migration note, the bot's own
    membership, anonymous reaction counts) waits for everything before it in its chat, and
    everything after it waits for it. A button press is in its message's chat. A poll answer
    names no chat: the votes of one poll are a chat of their own. A group's migration notes are
    in the old group's lane, so the move is done once, in order.
    """
    if update.poll_answer is not None:
        voter = update.poll_answer.user or update.poll_answer.voter_chat
        return f"poll:{update.poll_answer.poll_id}", None if voter is None else str(voter.id)
    message = update.message
    if message is not None and message.migrate_from_chat_id is not None:
        return f"chat:{message.migrate_from_chat_id}", None
    chat = update.effective_chat
    lane = f"chat:{chat.id}" if chat is not None else "other"
    if (message is not None and (message.migrate_to_chat_id is not None
                                 or message.new_chat_members or message.left_chat_member)):
        return lane, None
    if update.my_chat_member is not None or update.message_reaction_count is not None:
        return lane, None
    sender = update.effective_sender
    return lane, None if sender is None else str(sender.id)


@dataclass(slots=True)
class _Entry:
    """One admitted update, waiting or running, in its chat's arrival order."""

    update: Update
    person: str | None
    task: asyncio.Task[None] | None = None


class Intake:
    """Admitted updates by chat and person, each person's worked through in order."""

    def __init__(self, handle: Callable[[Update], Awaitable[None]]) -> None:
        self._handle = handle
        self._pending: set[int] = set()  # admitted, not yet finished
        self._seen: int | None = None  # the highest update id admitted or skipped
        self._chats: dict[str, list[_Entry]] = {}
        self._workers: set[asyncio.Task[None]] = set()
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def watermark(self) -> int | None:
        """The offset to confirm with: every update below it is finished."""
        if self._pending:
            return min(self._pending)
        return None if self._seen is None else self._seen + 1

    @property
    def busy(self) -> bool:
        """Whether any admitted update is not finished yet."""
        return bool(self._pending)

    def is_new(self, update_id: int) -> bool:
        """False for an update seen already (getUpdates repeats what is not confirmed)."""
        return self._seen is None or update_id > self._seen

    def skip(self, update_id: int) -> None:
        """Count an update as finished without handling it (one that cannot be decoded)."""
        if self.is_new(update_id):
            self._seen = update_id

    def admit(self, update: Update) -> None:
        """Queue a new update; it runs once nothing it must follow is still unfinished."""
        if not self.is_new(update.update_id):
            return
        self._seen = update.update_id
        self._pending.add(update.update_id)
        self._idle.clear()
        chat, person = lane_of(update)
        self._chats.setdefault(chat, []).append(_Entry(update, person))
        self._start_ready(chat)

    def _start_ready(self, chat: str) -> None:
        """Start every update of the chat that follows nothing unfinished."""
        entries = self._chats[chat]
        ahead: set[str] = set()  # people with an earlier update still unfinished
        for index, entry in enumerate(entries):
            if entry.person is None:
                # A chat-wide update waits for all before it; all after it wait for it.
                if index == 0 and entry.task is None:
                    self._start(chat, entry)
                return
            if entry.person not in ahead:
                ahead.add(entry.person)
                if entry.task is None:
                    self._start(chat, entry)

    def _start(self, chat: str, entry: _Entry) -> None:
        entry.task = asyncio.create_task(self._work(chat, entry),
                                         name=f"telegram-intake:{chat}")
        self._workers.add(entry.task)
        entry.task.add_done_callback(self._workers.discard)

    async def _work(self, chat: str, entry: _Entry) -> None:
        await self._handle(entry.update)
        # Not in a `finally`: an update cut off by cancellation is not finished.
        entries = self._chats[chat]
        entries.remove(entry)
        self._pending.discard(entry.update.update_id)
        if not self._pending:
            self._idle.set()
        if entries:
            self._start_ready(chat)
        else:
            del self._chats[chat]

    async def settle(self, within: float) -> None:
        """Wait until nothing is in flight, or `within` seconds at most."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), within)

    async def drain(self, within: float) -> None:
        """Let the updates in flight finish, for at most `within` seconds; cut off the rest."""
        workers = list(self._workers)
        if not workers:
            return
        _, late = await asyncio.wait(workers, timeout=within)
        for worker in late:
            worker.cancel()
        for worker in late:
            with contextlib.suppress(asyncio.CancelledError):
                await worker
