"""A chat that changed its id on PostgreSQL: everything stored under it follows, in the
caller's transaction (storage.rules.FOLLOWERS says what, and where the new chat keeps its own)."""

from __future__ import annotations

import asyncpg

from bot.chats import ChatRef
from storage.rules import FOLLOWERS

# Where each thing that follows a moved chat (storage.rules.FOLLOWERS) is stored: its table,
# the columns naming the chat, and, for those whose new chat keeps its own, the rest of the key.
_FOLLOW: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "party_chats": ("party_chats", ("platform", "chat_id"), ("party_id",)),
    "sent_messages": ("sent_messages", ("platform", "chat_id"), ("message_id",)),
    "forgotten": ("forgotten", ("platform", "chat_id"), ("user_id",)),
    "chat_settings": ("chat_settings", ("platform", "chat_id"), ()),
    "home_chats": ("parties", ("home_platform", "home_chat_id"), ()),
    "records": ("records", ("platform", "chat_id"), ()),
    "message_refs": ("message_refs", ("chat_platform", "chat_id"), ()),
    "guides": ("guides", ("scope",), ("name",)),
}


def _follow_sql(name: str, keep_new: bool) -> list[str]:
    """The statements that move one follower from the old chat ($1..) to the new one."""
    table, chat, rest = _FOLLOW[name]
    width = len(chat)
    assign = ", ".join(f"{c} = ${i + width + 1}" for i, c in enumerate(chat))
    old = " AND ".join(f"{table}.{c} = ${i + 1}" for i, c in enumerate(chat))
    if not keep_new:
        return [f"UPDATE {table} SET {assign} WHERE {old}"]
    taken = " AND ".join([f"t.{c} = ${i + width + 1}" for i, c in enumerate(chat)]
                         + [f"t.{c} = {table}.{c}" for c in rest])
    return [f"UPDATE {table} SET {assign} WHERE {old}"
            f" AND NOT EXISTS (SELECT 1 FROM {table} AS t WHERE {taken})",
            f"DELETE FROM {table} WHERE {old}"]


_MOVES = [(f.name, _follow_sql(f.name, f.keep_new)) for f in FOLLOWERS]


async def move(conn: asyncpg.Connection, old: ChatRef, new: ChatRef) -> None:
    """Give everything stored under `old` to `new`; where `new` has its own, that one stays."""
    pairs = {2: (old.platform, old.chat_id, new.platform, new.chat_id),
             1: (str(old), str(new))}
    for name, statements in _MOVES:
        args = pairs[len(_FOLLOW[name][1])]
        for sql in statements:
            used = args if sql.startswith("UPDATE") else args[:len(args) // 2]
            await conn.execute(sql, *used)
