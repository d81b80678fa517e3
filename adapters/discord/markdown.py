"""Rich text to Discord markdown: user text escaped, timestamps as `<t:UNIX:STYLE>`, split to fit.

User text can neither format nor mention: every Text/Bold/Italic span is escaped with
discord.py's `escape_markdown` and `escape_mentions` (and requests carry empty
`allowed_mentions` besides). Markers never span a line break, so a long text can be cut at any
line without leaving a `**` open.
"""

from __future__ import annotations

import re

from discord.utils import escape_markdown, escape_mentions

from bot.richtext import Bold, Code, Italic, Message, Span, Text, Timestamp

MESSAGE_LIMIT = 2000  # characters of a message's content
EMBED_DESCRIPTION_LIMIT = 4096
EMBED_TITLE_LIMIT = 256
ELLIPSIS = "…"

_SNOWFLAKE = re.compile(r"^\d{17,20}$")


def escape(text: str) -> str:
    """Return user text that shows literally: no markdown, no mention."""
    return escape_mentions(escape_markdown(text))


def _wrapped(text: str, marker: str) -> str:
    """Wrap every line of `text` in `marker`, keeping white space outside the markers."""
    lines = []
    for line in text.split("\n"):
        core = line.strip()
        if not core:
            lines.append(line)
            continue
        lead = line[: len(line) - len(line.lstrip())]
        tail = line[len(line.rstrip()):]
        lines.append(f"{lead}{marker}{escape(core)}{marker}{tail}")
    return "\n".join(lines)


def _code(text: str) -> str:
    lines = []
    for line in text.split("\n"):
        if not line.strip():
            lines.append(line)
        elif "`" in line:
            # Double backticks with padding show a single backtick inside inline code.
            lines.append(f"`` {line.replace('``', '` `')} ``")
        else:
            lines.append(f"`{line}`")
    return "\n".join(lines)


def span_markdown(span: Span) -> str:
    """Return one span as Discord markdown."""
    if isinstance(span, Timestamp):
        return f"<t:{int(span.at.timestamp())}:{span.style.value}>"
    if isinstance(span, Bold):
        return _wrapped(span.text, "**")
    if isinstance(span, Italic):
        return _wrapped(span.text, "*")
    if isinstance(span, Code):
        return _code(span.text)
    assert isinstance(span, Text)
    return escape(span.text)


def to_markdown(spans: tuple[Span, ...] | list[Span]) -> str:
    """Return a message's spans as one Discord markdown text."""
    return "".join(span_markdown(span) for span in spans)


def mention_line(user_ids: tuple[str, ...]) -> tuple[str, list[int]]:
    """Return the pings of a reminder and the ids allowed to be pinged (Discord ids only).

    A party may span platforms, so the core's list can hold ids of other platforms; only
    snowflakes are Discord users. Discord allows at most 100 users in `allowed_mentions`.
    """
    ids = [int(uid) for uid in user_ids if _SNOWFLAKE.match(uid)][:100]
    return " ".join(f"<@{uid}>" for uid in ids), ids


def split(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Cut a text into pieces of at most `limit` characters, at line breaks where possible.

    A line longer than the limit is cut at a space, and only as a last resort anywhere.
    """
    if len(text) <= limit:
        return [text]
    pieces: list[str] = []
    current = ""
    for line in text.split("\n"):
        while len(line) > limit:
            cut = line.rfind(" ", 0, limit)
            if cut <= 0:
                cut = limit
            head, line = line[:cut], line[cut:].lstrip(" ")
            if current:
                pieces.append(current)
                current = ""
            pieces.append(head)
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) <= limit:
            current = candidate
        else:
            pieces.append(current)
            current = line
    if current:
        pieces.append(current)
    return [piece for piece in pieces if piece.strip()] or [text[:limit]]


def truncate(text: str, limit: int) -> str:
    """Shorten a text to `limit` characters with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + ELLIPSIS


def title_text(message: Message) -> str | None:
    """Return a message's title for an embed, escaped and within Discord's limit."""
    if message.title is None:
        return None
    return truncate(escape(message.title), EMBED_TITLE_LIMIT)
