"""The Markdown export: a readable transcript by chapter, with attendance at the top.

Rendered by `transcript.write_transcript` (its docstring says how memory stays bounded) from
`templates/transcript.md`. Markdown has no autoescape, so this module gives the templates one:
every value printed with `{{ }}` passes through `escape` (one line, every character that could
start emphasis, a link, HTML, a table cell or a mention backslash-escaped), except text already
rendered (`MarkdownText`), such as multi-line answers from the `lines` filter.
"""

from __future__ import annotations

import re
from datetime import datetime
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import jinja2

from bot.export.stream import Write
from bot.export.transcript import Transcript, write_transcript
from bot.guide import Guide
from bot.party import Party
from bot.ports import Store
from bot.timeparse import format_position

TEMPLATES = Path(__file__).parent / "templates"
RSVP_WORDS = {"going": "going", "maybe": "maybe", "not_going": "not going"}

# Inline: emphasis, code, links and images, HTML and entities, tables, strikethrough, math,
# mentions, headings. At a line's start also: lists, block quotes and setext underlines.
_INLINE = re.compile(r"([\\`*_\[\]<>&|~$@#])")
_LINE_START = re.compile(r"^([-+=>]|\d+(?=[.)]))")
_BREAKS = re.compile(r"\s*(?:\r\n|\r|\n|\u2028|\u2029)\s*")
_NEEDS_ESCAPE = re.compile(r"[\\`*_\[\]<>&|~$@#\r\n\u2028\u2029]|^\s*(?:[-+=>]|\d+[.)])")


class MarkdownText(str):
    """Text that is already Markdown: the templates print it as it is."""


def escape(value: object) -> str:
    """Return a value as one line of Markdown that shows exactly its text."""
    if isinstance(value, MarkdownText):
        return value
    if value is None:
        return ""
    return _escape_line(str(value))


@lru_cache(maxsize=16_384)  # names, platforms, film times: the same few thousand, over and over
def _escape_line(text: str) -> str:
    text = _BREAKS.sub(" ", text)
    return _LINE_START.sub(r"\\\1", _INLINE.sub(r"\\\1", text))


def lines(value: object) -> MarkdownText:
    """Return text as escaped Markdown lines that stay inside a list item (hard line breaks)."""
    text = str(value)
    if not _NEEDS_ESCAPE.search(text):
        return MarkdownText(text.strip())
    parts = [part for part in _BREAKS.split(text.strip()) if part]
    escaped = [_LINE_START.sub(r"\\\1", _INLINE.sub(r"\\\1", part)) for part in parts]
    return MarkdownText("\\\n  ".join(escaped))


@cache
def environment() -> jinja2.Environment:
    """The Jinja2 environment of the Markdown export (`escape` on every `{{ }}`), compiled."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=False,
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
                             finalize=escape, undefined=jinja2.StrictUndefined)
    env.filters["lines"] = lines
    env.filters["raw"] = MarkdownText
    for name in ("transcript.md", "answers.md"):
        env.get_template(name)
    return env


environment()  # compiled when the bot starts, not when the first export holds up the loop


def _extra(transcript: Transcript) -> dict[str, Any]:
    guide = transcript.guide
    return {"rsvp_words": RSVP_WORDS,
            "runtime": format_position(guide.runtime_seconds) if guide else ""}


async def write_markdown(store: Store, party: Party, guide: Guide | None, write: Write, *,
                         anonymize: bool, now: datetime) -> int:
    """Write the Markdown export; return the record count."""
    return await write_transcript(store, party, guide, write, anonymize=anonymize, now=now,
                                  env=environment(), document="transcript.md",
                                  answers="answers.md", wrap=MarkdownText, extra=_extra)
