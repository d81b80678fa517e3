"""Who the test platform reports as a moderator: one registry, however conftest is imported."""

from __future__ import annotations

from bot.chats import Actor

_MODERATORS: set[tuple[str, str]] = set()


def moderator(platform: str, user_id: str, name: str) -> Actor:
    """A person whom the test platform reports as a moderator of every chat."""
    _MODERATORS.add((platform, user_id))
    return Actor(platform, user_id, name)


def moderates(actor: Actor) -> bool:
    """Whether the test platform reports this person as a moderator."""
    return (actor.platform, actor.user_id) in _MODERATORS
