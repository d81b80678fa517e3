"""Rich text to Telegram HTML: every piece of text escaped, long texts cut at line boundaries.

Telegram turns `<tg-time unix=… format=…>` into a `date_time` entity, which each viewer sees in
their own time zone; its text is the fallback, written in the chat's zone. Limits count what is
left after the tags are parsed, in UTF-16 code units, as Telegram counts them.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot import buttons as button_data
from bot.richtext import Bold, Button, Code, Italic, Span, Timestamp, TimeStyle

MESSAGE_LIMIT = 4096
CAPTION_LIMIT = 1024
POLL_QUESTION_LIMIT = 300
POLL_OPTION_LIMIT = 100
CALLBACK_ANSWER_LIMIT = 200

# How a date_time entity shows its instant (Bot API "date-time entity formatting").
DATE_TIME_FORMATS = {
    TimeStyle.FULL: "wDt",  # weekday, long date, short time
    TimeStyle.RELATIVE: "r",  # "in 5 minutes"
    TimeStyle.TIME: "T",  # time with seconds: the countdown's GO instant
}
_TAGS = {Bold: "b", Italic: "i", Code: "code"}

Piece = tuple[Span, str]  # a span, and the part of its text that falls on one line
Line = list[Piece]


def utf16_len(text: str) -> int:
    """The length Telegram counts: UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def _text(span: Span) -> str:
    return span.fallback if isinstance(span, Timestamp) else span.text


def _piece_html(span: Span, text: str) -> str:
    escaped = html.escape(text, quote=False)
    if isinstance(span, Timestamp):
        unix = int(span.at.timestamp())
        return (f'<tg-time unix="{unix}" format="{DATE_TIME_FORMATS[span.style]}">'
                f"{escaped}</tg-time>")
    tag = _TAGS.get(type(span))
    return f"<{tag}>{escaped}</{tag}>" if tag else escaped


def _lines(spans: Iterable[Span]) -> list[Line]:
    lines: list[Line] = [[]]
    for span in spans:
        if isinstance(span, Timestamp):
            lines[-1].append((span, span.fallback))
            continue
        for number, part in enumerate(span.text.split("\n")):
            if number:
                lines.append([])
            if part:
                lines[-1].append((span, part))
    return lines


def _line_len(line: Line) -> int:
    return sum(utf16_len(text) for _, text in line)


def _cut(text: str, room: int) -> int:
    """Index to cut `text` so its head fits in `room` UTF-16 units, at a space if one is near."""
    used = 0
    end = 0
    for index, char in enumerate(text):
        width = 2 if ord(char) > 0xFFFF else 1
        if used + width > room:
            break
        used += width
        end = index + 1
    space = text.rfind(" ", 0, end)
    return space + 1 if space > end // 2 else max(end, 1)


def _wrap(line: Line, limit: int) -> list[Line]:
    """Split a line longer than `limit` into lines that fit, at spaces where possible."""
    out: list[Line] = [[]]
    used = 0
    queue = list(line)
    while queue:
        span, text = queue.pop(0)
        size = utf16_len(text)
        if used + size <= limit:
            out[-1].append((span, text))
            used += size
            continue
        if (isinstance(span, Timestamp) or limit - used < 8) and out[-1]:
            # A timestamp is never cut; nor is a word started in a nearly full line.
            out.append([])
            used = 0
            queue.insert(0, (span, text))
            continue
        at = _cut(text, limit - used)
        out[-1].append((span, text[:at]))
        out.append([])
        used = 0
        if text[at:]:
            queue.insert(0, (span, text[at:]))
    return [line for line in out if line]


def chunks(spans: Sequence[Span], limit: int = MESSAGE_LIMIT) -> list[str]:
    """Render spans as HTML messages, each under `limit` once parsed, cut between lines."""
    lines: list[Line] = []
    for line in _lines(spans):
        lines.extend(_wrap(line, limit) if _line_len(line) > limit else [line])
    out: list[list[Line]] = [[]]
    used = 0
    for line in lines:
        size = _line_len(line) + (1 if out[-1] else 0)
        if out[-1] and used + size > limit:
            out.append([])
            size -= 1
            used = 0
        out[-1].append(line)
        used += size
    rendered = ["\n".join("".join(_piece_html(span, text) for span, text in line)
                          for line in chunk) for chunk in out]
    # Telegram refuses an empty text; trailing line breaks alone would be trimmed to nothing.
    return [text for text in rendered if text.strip()] or ["\u2063"]


def to_html(spans: Sequence[Span], limit: int = MESSAGE_LIMIT) -> str:
    """Render spans as one HTML text; what does not fit in `limit` is cut off with an ellipsis."""
    parts = chunks(spans, limit - 2)
    return parts[0] if len(parts) == 1 else parts[0] + "\n…"


def plain(spans: Sequence[Span]) -> str:
    """The text of spans, as Telegram would show it once parsed."""
    return "".join(_text(span) for span in spans)


def keyboard(rows: Sequence[Sequence[Button]]) -> InlineKeyboardMarkup | None:
    """Inline keyboard rows; a prompt's Answer button is Discord's, so it is left out here.

    On Telegram a reply to the prompt is the answer, which also works with privacy mode on.
    """
    kept = [[InlineKeyboardButton(button.label, callback_data=button.data) for button in row
             if not button_data.is_answer(button.data)] for row in rows]
    kept = [row for row in kept if row]
    return InlineKeyboardMarkup(kept) if kept else None


def clip(text: str, limit: int) -> str:
    """Shorten plain text to `limit` UTF-16 units, marking the cut with an ellipsis."""
    if utf16_len(text) <= limit:
        return text
    return text[:_cut(text, limit - 1)].rstrip() + "…"

