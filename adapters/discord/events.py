"""A Discord scheduled event per party and server, kept in step with the party's announcement.

Where the bot has Manage Events, the first announcement of a party in a server creates an
external event (its start, and an end after the guide's runtime); later versions of the
announcement move it (an early start), start it (GO), end it (finished) or cancel it. The
event's location carries the join code, so after a restart the bot finds its events again by
listing the server's events: nothing about them is kept in the database.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import timedelta

import discord

from bot.chats import ChatRef
from bot.richtext import PartyFacts

log = logging.getLogger(__name__)

DEFAULT_RUNTIME = timedelta(hours=2)  # the core's length of a party without a guide
RETRY_DENIED_AFTER = 600.0  # seconds before asking again where Manage Events was missing
_LIVE = ("scheduled", "counting_down")
_RUNNING = ("playing", "paused")


def location_for(code: str) -> str:
    """The event's location: what people see, and how the bot finds the event again."""
    return f"Watch party · join code {code}"


class ScheduledEvents:
    """Mirrors parties into Discord scheduled events, best effort (a failure is only logged)."""

    def __init__(self, client: discord.Client) -> None:
        self._client = client
        self._events: dict[tuple[int, str], discord.ScheduledEvent] = {}
        self._locks: dict[tuple[int, str], asyncio.Lock] = {}
        self._denied: dict[int, float] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def announcement_changed(self, chat: ChatRef, facts: PartyFacts) -> None:
        """Bring the party's event in this chat's server in step, in the background."""
        task = asyncio.create_task(self._sync(chat, facts))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait for pending updates."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def _guild(self, chat: ChatRef) -> discord.Guild | None:
        if not chat.chat_id.isdigit():
            return None
        channel = self._client.get_channel(int(chat.chat_id))
        guild = getattr(channel, "guild", None)
        return guild if isinstance(guild, discord.Guild) else None

    async def _sync(self, chat: ChatRef, facts: PartyFacts) -> None:
        guild = self._guild(chat)
        if guild is None:
            return
        denied_at = self._denied.get(guild.id)
        if denied_at is not None and time.monotonic() - denied_at < RETRY_DENIED_AFTER:
            return
        key = (guild.id, facts.code)
        async with self._locks.setdefault(key, asyncio.Lock()):
            try:
                await self._apply(guild, key, facts)
            except discord.Forbidden:
                log.info("no Manage Events in server %s: parties there get no scheduled event",
                         guild.id)
                self._denied[guild.id] = time.monotonic()
            except (discord.HTTPException, discord.RateLimited, ValueError) as exc:
                log.warning("could not update the scheduled event of party %s in server %s: %s",
                            key[1], guild.id, exc)

    async def _find(self, guild: discord.Guild, code: str) -> discord.ScheduledEvent | None:
        wanted = location_for(code)
        for event in await guild.fetch_scheduled_events(with_counts=False):
            if event.location == wanted and event.creator_id == (self._client.user
                                                                 and self._client.user.id):
                return event
        return None

    async def _apply(self, guild: discord.Guild, key: tuple[int, str],
                     facts: PartyFacts) -> None:
        code, state, start = key[1], facts.state, facts.starts_at
        runtime = timedelta(seconds=facts.runtime_seconds or 0) or DEFAULT_RUNTIME
        event = self._events.get(key)
        if event is None:
            event = await self._find(guild, code)
        if event is None:
            if state not in _LIVE:
                return
            title = facts.title or f"Watch party {code}"
            event = await guild.create_scheduled_event(
                name=title[:100], start_time=start, end_time=start + runtime,
                entity_type=discord.EntityType.external,
                privacy_level=discord.PrivacyLevel.guild_only, location=location_for(code),
                description=f"Press play together. RSVP with /watchparty join {code}.")
            log.info("created scheduled event %s for party %s in server %s", event.id, code,
                     guild.id)
        elif event.status is discord.EventStatus.scheduled:
            name = (facts.title or event.name)[:100]
            if state in _LIVE and (event.start_time != start or event.name != name
                                   or event.end_time != start + runtime):
                # Moved (an early start, an edit), renamed, or a new guide's runtime.
                event = await event.edit(name=name, start_time=start, end_time=start + runtime)
            elif state in _RUNNING:
                event = await event.start()
            elif state == "cancelled":
                event = await event.cancel()
            elif state == "finished":
                event = await event.cancel()  # it never started here
        elif event.status is discord.EventStatus.active and state in ("finished", "cancelled"):
            event = await event.end()
        self._events[key] = event
