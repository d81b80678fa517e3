"""Who moderates a Telegram chat: its creator and administrators, asked of Telegram, cached."""

from __future__ import annotations

import time

from telegram import Bot, ChatMember

MODERATOR_STATUSES = frozenset({ChatMember.OWNER, ChatMember.ADMINISTRATOR})


class Members:
    """Answers "is this user (or the bot) a moderator here?" with a short-lived cache.

    Promotions show up within `ttl` seconds; `forget` drops a chat at once (the bot's own
    status arrives as a my_chat_member update).
    """

    def __init__(self, bot: Bot, ttl: float = 60.0) -> None:
        self._bot = bot
        self._ttl = ttl
        self._cache: dict[tuple[int, int], tuple[float, bool]] = {}

    async def is_moderator(self, chat_id: int, user_id: int) -> bool:
        """Return whether the user is the chat's creator or one of its administrators."""
        key = (chat_id, user_id)
        now = time.monotonic()
        cached = self._cache.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        member = await self._bot.get_chat_member(chat_id, user_id)
        answer = member.status in MODERATOR_STATUSES
        if len(self._cache) > 10_000:
            self._cache = {k: v for k, v in self._cache.items() if v[0] > now}
        self._cache[key] = (now + self._ttl, answer)
        return answer

    async def bot_is_admin(self, chat_id: int) -> bool:
        """Return whether the bot administers the chat (Telegram sends reactions only then)."""
        return await self.is_moderator(chat_id, self._bot.id)

    def remember(self, chat_id: int, user_id: int, status: str) -> None:
        """Take a status Telegram told us about (a chat member update) without asking."""
        self._cache[(chat_id, user_id)] = (time.monotonic() + self._ttl,
                                           status in MODERATOR_STATUSES)

    def forget(self, chat_id: int) -> None:
        """Drop what is cached about a chat."""
        self._cache = {k: v for k, v in self._cache.items() if k[0] != chat_id}
