"""What only the Telegram adapter says (everything else comes from bot/render.py)."""

from __future__ import annotations

from bot.richtext import Code, Italic, Message, Span, Text


def not_admin_note() -> tuple[Span, ...]:
    """Said once per group, in help and the first announcement, while the bot is no admin."""
    return (Text("\n"), Italic(
        "ℹ️ I'm not an administrator of this group, so Telegram doesn't tell me about "
        "reactions and they can't be recorded. An admin can promote me (no rights are "
        "needed) to fix that."),)


def export_sent_privately(filename: str) -> Message:
    """The group's note when an export went to the moderator's private chat."""
    return Message((Text("📎 I sent "), Code(filename), Text(" to you in a private chat."),))


def export_here_note(username: str) -> tuple[Span, ...]:
    """Added to an export's caption when it could not go to a private chat."""
    return (Text("\n"), Italic(
        f"I couldn't send it privately: open a chat with @{username} and press Start "
        "to get exports there."),)
