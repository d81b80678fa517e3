"""Button data: the action a button stands for, in at most 64 bytes, so it works after a restart.

This module is the one codec of button data: every adapter encodes and reads buttons through it
(Telegram's `callback_data` is at most 64 bytes, Discord's `custom_id` at most 100 characters).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bot import commands as c
from bot.chats import ChatRef
from bot.errors import UserError
from bot.records import Rsvp

PREFIX = "wp"


class Verb(StrEnum):
    """What kind of button it is."""

    RSVP = "rsvp"
    READY = "ready"
    LINK = "link"
    ANSWER = "answer"
    CALENDAR = "calendar"


@dataclass(frozen=True, slots=True)
class Decoded:
    """What well-formed button data stands for; fields beyond the party depend on the verb."""

    verb: Verb
    party: str  # "#<id>", as commands name a party
    rsvp: Rsvp | None = None
    approve: bool | None = None
    chat: ChatRef | None = None
    prompt: str | None = None


def _encode(*parts: str) -> str:
    # The 64-byte limit is checked where the data is put on a `Button`.
    return ":".join((PREFIX, *parts))


def rsvp(party_id: int, status: Rsvp) -> str:
    """Return the data of an RSVP button."""
    return _encode(Verb.RSVP, str(party_id), status.value)


def ready(party_id: int) -> str:
    """Return the data of a Ready button."""
    return _encode(Verb.READY, str(party_id))


def link(party_id: int, chat: ChatRef, approve: bool) -> str:
    """Return the data of an Approve or Decline button of a link request."""
    return _encode(Verb.LINK, str(party_id), "a" if approve else "d", chat.platform, chat.chat_id)


def answer(party_id: int, prompt: str) -> str:
    """Return the data of a prompt's Answer button (Discord opens a modal with it)."""
    return _encode(Verb.ANSWER, str(party_id), prompt)


def calendar(party_id: int) -> str:
    """Return the data of an announcement's Add to calendar button."""
    return _encode(Verb.CALENDAR, str(party_id))


def is_ours(data: str) -> bool:
    """Return whether the data was written by this codec (it may still be stale or mangled)."""
    return data.startswith(f"{PREFIX}:")


def verb_of(data: str) -> str | None:
    """Return the verb named by data of ours, well-formed or not (for logs and reply privacy)."""
    if not is_ours(data):
        return None
    return data.split(":")[1]


def is_answer(data: str) -> bool:
    """Return whether the data names a prompt's Answer (a button, or the form it opens)."""
    return data.startswith(f"{PREFIX}:{Verb.ANSWER}:")


def decode(data: str) -> Decoded | None:
    """Return what the data stands for, or None when it is stale, foreign or mangled."""
    parts = data.split(":")
    if len(parts) < 3 or parts[0] != PREFIX:
        return None
    verb, party = parts[1], parts[2]
    if not (party.isascii() and party.isdigit()):  # int() also reads " 1", "-1", "١"
        return None
    party = "#" + party
    if verb == Verb.RSVP and len(parts) == 4:
        try:
            return Decoded(Verb.RSVP, party, rsvp=Rsvp(parts[3]))
        except ValueError:
            return None
    if verb == Verb.READY and len(parts) == 3:
        return Decoded(Verb.READY, party)
    if verb == Verb.LINK and len(parts) >= 6 and parts[3] in {"a", "d"} and parts[4] \
            and parts[5:] != [""]:
        return Decoded(Verb.LINK, party, approve=parts[3] == "a",
                       chat=ChatRef(parts[4], ":".join(parts[5:])))
    if verb == Verb.CALENDAR and len(parts) == 3:
        return Decoded(Verb.CALENDAR, party)
    if verb == Verb.ANSWER:
        prompt = ":".join(parts[3:])
        if prompt:
            return Decoded(Verb.ANSWER, party, prompt=prompt)
    return None


def answer_target(data: str) -> tuple[str, str] | None:
    """Return (`#party_id`, prompt ref) from an Answer button's or form's data."""
    decoded = decode(data)
    if decoded is None or decoded.verb is not Verb.ANSWER or decoded.prompt is None:
        return None
    return decoded.party, decoded.prompt


def parse(data: str) -> c.Command:
    """Turn button data back into a command; stale or foreign data is a clear error."""
    decoded = decode(data)
    if decoded is not None:
        if decoded.verb is Verb.RSVP and decoded.rsvp is not None:
            return c.SetRsvp(decoded.party, decoded.rsvp.value)
        if decoded.verb is Verb.READY:
            return c.MarkReady(decoded.party)
        if decoded.verb is Verb.CALENDAR:
            return c.CalendarFile(decoded.party)
        if decoded.verb is Verb.LINK and decoded.chat is not None:
            return c.DecideLink(decoded.party, decoded.chat, bool(decoded.approve))
    raise UserError("button_unknown")
