"""Button data: the action a button stands for, in at most 64 bytes, so it works after a restart."""

from __future__ import annotations

from bot import commands as c
from bot.chats import ChatRef
from bot.errors import UserError
from bot.records import Rsvp

PREFIX = "wp"


def rsvp(party_id: int, status: Rsvp) -> str:
    """Return the data of an RSVP button."""
    return f"{PREFIX}:rsvp:{party_id}:{status.value}"


def ready(party_id: int) -> str:
    """Return the data of a Ready button."""
    return f"{PREFIX}:ready:{party_id}"


def link(party_id: int, chat: ChatRef, approve: bool) -> str:
    """Return the data of an Approve or Decline button of a link request."""
    return f"{PREFIX}:link:{party_id}:{'a' if approve else 'd'}:{chat.platform}:{chat.chat_id}"


def answer(party_id: int, prompt: str) -> str:
    """Return the data of a prompt's Answer button (Discord opens a modal with it)."""
    return f"{PREFIX}:answer:{party_id}:{prompt}"


def parse(data: str) -> c.Command:
    """Turn button data back into a command; stale or foreign data is a clear error."""
    parts = data.split(":")
    try:
        if parts[0] != PREFIX:
            raise ValueError(data)
        verb, party = parts[1], parts[2]
        if not (party.isascii() and party.isdigit()):  # int() also reads " 1", "-1", "١"
            raise ValueError(party)
        if verb == "rsvp" and len(parts) == 4:
            return c.SetRsvp("#" + party, Rsvp(parts[3]).value)
        if verb == "ready" and len(parts) == 3:
            return c.MarkReady("#" + party)
        if verb == "link" and len(parts) >= 6 and parts[3] in {"a", "d"} and parts[4] \
                and parts[5:] != [""]:
            return c.DecideLink("#" + party, ChatRef(parts[4], ":".join(parts[5:])),
                                parts[3] == "a")
    except (IndexError, ValueError):
        pass
    raise UserError("button_unknown")
