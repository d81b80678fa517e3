"""Reading a `seek` target: an absolute position, a step forward or back, or a chapter's start."""

from __future__ import annotations

import re

from bot.errors import UserError
from bot.guide import Guide
from bot.timeparse import duration_seconds, format_position, parse_position_or_none

SEEK_SHAPES = ("0:41:30", "41:30", "+30s", "-2m", "+1m30s", "chapter 3")
_STEP = re.compile(r"^([+-])\s*(.+)$")
_CHAPTER = re.compile(r"^(?:chapter|ch\.?|chap\.?)\s*(\d{1,4})$", re.IGNORECASE)


def _step_seconds(text: str) -> int | None:
    """Seconds of "30s", "2m", "1m30s", or "1:30" (a position written as a step), or None."""
    as_position = parse_position_or_none(text)
    return as_position if as_position is not None else duration_seconds(text)


def seek_target(text: str, current: float, guide: Guide | None, end: float) -> float:
    """Return the film position (seconds) a `seek` asks for, from the position `current`.

    `end` is the last position one may seek to (the guide's runtime). A step back past the
    start lands on 0:00:00. Raises UserError: seek_position_invalid (unreadable),
    seek_chapter_unknown (no such chapter), seek_no_guide (a chapter without a guide),
    seek_beyond_end (past `end`).
    """
    cleaned = " ".join(text.split())
    chapter = _CHAPTER.match(cleaned)
    if chapter is not None:
        number = int(chapter.group(1))
        if guide is None:
            raise UserError("seek_no_guide", text=cleaned)
        if not 1 <= number <= len(guide.chapters):
            raise UserError("seek_chapter_unknown", number=number, count=len(guide.chapters))
        return float(guide.chapter_starts_at(number - 1))
    step = _STEP.match(cleaned)
    if step is not None:
        seconds = _step_seconds(step.group(2).strip())
        if seconds is None:
            raise UserError("seek_position_invalid", text=cleaned, accepted=list(SEEK_SHAPES))
        target = current + seconds if step.group(1) == "+" else max(0.0, current - seconds)
    else:
        absolute = parse_position_or_none(cleaned)
        if absolute is None:
            raise UserError("seek_position_invalid", text=cleaned, accepted=list(SEEK_SHAPES))
        target = float(absolute)
    if target > end:
        raise UserError("seek_beyond_end", text=cleaned, target=format_position(target),
                        end=format_position(end))
    return target
