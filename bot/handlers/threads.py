"""A thread per party (setting `threads`): opened off its first announcement in a chat.

The thread is a chat of its own (a Discord thread, a Telegram forum topic), remembered on the
party's link to its parent chat (`PartyChat.thread`). The party's prompts, polls and summary go
there; what people do there counts as done in the parent chat (`thread_parent`), so exports,
forget-me and retention treat the thread as part of it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable

from bot import commands as c
from bot.chats import ChatRef
from bot.handlers.deps import Deps
from bot.outbox import Priority
from bot.party import Party
from bot.ports import SentKind, ThreadRefused
from bot.render_threads import thread_name, thread_opened, thread_refused

log = logging.getLogger(__name__)

# What goes to a party's thread; the announcement, reminders, countdown and GO stay in the chat.
THREAD_KINDS = frozenset({SentKind.PROMPT, SentKind.POLL, SentKind.SUMMARY})
PARENTS_CACHED = 10_000


async def announce(d: Deps, party: Party, chat: ChatRef) -> None:
    """Queue a party's announcement in a chat; once it is posted, open the party's thread
    there if the chat wants one (in the background: `d.drain` waits for it)."""
    posted = d.queue_post(party, chat, await d.announcement(party, chat),
                          SentKind.ANNOUNCEMENT, Priority.NORMAL)
    d.spawn(_open_thread(d, party, chat, posted))


async def _open_thread(d: Deps, party: Party, chat: ChatRef,
                       posted: Awaitable[str | None]) -> None:
    """Open the party's thread off its announcement, if the chat's setting `threads` says so.

    A chat that gets no thread (no permission, not a forum, no threads at all) is told so
    once, here, and the party posts in the chat itself.
    """
    message_id = await posted
    if message_id is None or not (await d.store.get_chat_settings(chat)).threads:
        return
    try:
        opened = await d.outbox.open_thread(chat, message_id, thread_name(party))
    except ThreadRefused as refused:
        # A platform without threads (the console) is no news to its operator.
        log.log(logging.DEBUG if refused.reason == "unsupported" else logging.INFO,
                "no thread for party %s in %s: %s", party.id, chat, refused)
        await d.post(party, chat, thread_refused(party, refused.reason), SentKind.NOTICE,
                     Priority.NORMAL)
        return
    except Exception:
        log.warning("could not open a thread for party %s in %s", party.id, chat, exc_info=True)
        return
    async with d.store.party(party.id) as tx:
        link = next((link for link in (tx.party.chats if tx.party else [])
                     if link.chat == chat), None)
        if link is None:
            return
        link.thread = opened.chat
        await tx.upsert_chat(link)
    remember_parent(d, opened.chat, chat)
    if opened.link is not None:
        await d.post(party, chat, thread_opened(party, opened.link), SentKind.NOTICE,
                     Priority.NORMAL)


def remember_parent(d: Deps, thread: ChatRef, parent: ChatRef) -> None:
    """Note a thread's parent chat in this process (it never changes once opened)."""
    if len(d.thread_parents) >= PARENTS_CACHED:
        d.thread_parents.clear()
    d.thread_parents[thread] = parent


async def parent_of(d: Deps, chat: ChatRef) -> ChatRef | None:
    """The linked chat a party's thread belongs to; None when `chat` is no party's thread."""
    parent = d.thread_parents.get(chat)
    if parent is None:
        parent = await d.store.thread_parent(chat)
        if parent is not None:
            remember_parent(d, chat, parent)
    return parent


async def in_parent(d: Deps, ctx: c.Context) -> c.Context:
    """A command from a party's thread counts as given in its parent chat (`ctx.thread` set)."""
    if ctx.thread is not None:
        return ctx
    parent = await parent_of(d, ctx.chat)
    if parent is None:
        return ctx
    return c.Context(parent, ctx.actor, ctx.scope, ctx.event, ctx.is_moderator, thread=ctx.chat)


def target(party: Party, chat: ChatRef, kind: SentKind) -> ChatRef:
    """Where a party's message of this kind for a linked chat goes: its thread, or the chat."""
    if kind in THREAD_KINDS:
        return party.thread_of(chat) or chat
    return chat
