"""What the chats are told about the film clock: a seek, and a party following a real player."""

from __future__ import annotations

from bot.party import Party
from bot.richtext import Bold, Message, Span, Text
from bot.timeparse import format_position


def _msg(*spans: Span) -> Message:
    return Message(tuple(spans))


def sought(party: Party, at: float, by: str | None, source: str | None = None) -> Message:
    """The one line every linked chat gets when the film clock is set (a seek)."""
    return _msg(Text("⏩ "), Bold(party.title), Text(f": clock set to {format_position(at)} by "),
                Bold(feed_by(by, source)), Text(". Seek your film there too."))


def feed_by(by: str | None, source: str | None) -> str:
    """Who moved the clock: a person, a person in a player ("ana in Syncplay"), or the player."""
    if source is None:
        return by or "someone"
    return f"{by} in {source}" if by else source


def followed(party: Party, kind: str, target: str, where: str) -> Message:
    """The line every linked chat gets when a party starts following a player."""
    what = f"the Syncplay room “{target}”" if kind == "syncplay" else (
        f"{target}'s Jellyfin session")
    return _msg(Text("📡 "), Bold(party.title), Text(f" now follows {what} on {where}: pause, "
                                                     "play and seek there move the party's "
                                                     "clock."))


def unfollowed(party: Party, at: float | None, by: str) -> Message:
    """The line every linked chat gets after `unfollow`."""
    where = f" from {format_position(at)}" if at is not None else ""
    return _msg(Text("📡 "), Bold(party.title), Text(" no longer follows a player (unfollowed by "),
                Bold(by), Text(f"): back on the bot's own clock{where}."))


def feed_resumed(party: Party, at: float, by: str | None, source: str) -> Message:
    """A player played again: the party plays on at once from where the player is."""
    return _msg(Text("▶ "), Bold(party.title), Text(f" plays again from {format_position(at)} ("),
                Bold(feed_by(by, source)), Text("). Press play."))


def feed_lost(party: Party, at: float | None, source: str, seconds: int) -> Message:
    """Told once when a followed player has been silent too long."""
    where = f" from {format_position(at)}" if at is not None else ""
    return _msg(Text("📡 "), Bold(party.title), Text(
        f": no news from {source} for {seconds} s, so the party goes on on its own "
        f"clock{where}. It follows {source} again as soon as it answers."))


def feed_back(party: Party, at: float, source: str) -> Message:
    """Told once when a lost player answers again."""
    return _msg(Text("📡 "), Bold(party.title),
                Text(f": {source} answers again; following it (at {format_position(at)})."))


def feed_refused(party: Party, source: str, reason: str) -> Message:
    """Told once when a player turns the bot away for good (a wrong password or key)."""
    return _msg(Text("📡 "), Bold(party.title), Text(
        f": {source} refused the bot ({reason}), so the party is on its own clock. The "
        "bot's operator sets the password or API key."))


def feed_status(kind: str, target: str, where: str, at: float | None,
                age: float | None, lost: bool) -> Message:
    """The source line of `now` for a followed party: which player, its last position."""
    what = f"the Syncplay room “{target}”" if kind == "syncplay" else (
        f"{target}'s Jellyfin session")
    spans: list[Span] = [Text(f"📡 Following {what} on {where}")]
    if at is None:
        spans.append(Text(" — no news from it yet"))
    else:
        spans.append(Text(f" — last at {format_position(at)}"))
        if age is not None:
            spans.append(Text(f", {int(age)} s ago"))
        if lost:
            spans.append(Text(" (lost: on the bot's own clock until it answers)"))
    return _msg(*spans)

