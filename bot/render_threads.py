"""What the chats are told about a party's thread (setting `threads`)."""

from __future__ import annotations

from bot.party import Party
from bot.richtext import Bold, Code, Message, Span, Text

THREAD_NAME_LIMIT = 100  # Discord's and Telegram's limit on a thread's or topic's name


def _msg(*spans: Span) -> Message:
    return Message(tuple(spans))


def thread_name(party: Party) -> str:
    """The name of a party's thread: its title and join code ("The Social Dilemma · K7Q2MX")."""
    tail = f" · {party.code}"
    title = party.title
    if len(title) + len(tail) > THREAD_NAME_LIMIT:
        title = title[:THREAD_NAME_LIMIT - len(tail) - 1].rstrip() + "…"
    return title + tail


def thread_opened(party: Party, link: str) -> Message:
    """Where a party's discussion is, when the platform does not show its thread by itself."""
    return _msg(Text("💬 The questions and answers of "), Bold(party.title),
                Text(f" ({party.code}) are in its topic: {link}"))


_REFUSED = {
    "permission": "I may not create threads here, so ",
    "not_forum": "This group is not a forum (no topics), so ",
}


def thread_refused(party: Party, reason: str) -> Message:
    """Said once per party in a chat whose setting `threads` is yes but that gets no thread."""
    head = _REFUSED.get(reason, "This chat has no threads, so ")
    spans: list[Span] = [Text("🧵 " + head + "the questions and answers of "), Bold(party.title),
                         Text(f" ({party.code}) will be posted in this chat.")]
    if reason == "permission":
        spans += [Text(" To have a thread per party, let the bot create threads (Discord: "
                       "Create Public Threads and Send Messages in Threads; Telegram: an "
                       "administrator who may manage topics), or turn it off with "),
                  Code("/watchparty settings threads=no"), Text(".")]
    return _msg(*spans)
