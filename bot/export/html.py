"""The HTML export: one self-contained page, escaped by Jinja2's autoescape, no scripts at all.

The page (template `templates/transcript.html`) holds its CSS inline, draws the reaction
timeline as inline SVG, loads nothing from anywhere, and forbids scripts and remote content with
a Content-Security-Policy of its own. It is rendered by `transcript.write_transcript`, whose
docstring says how memory stays bounded.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from bot.export.json import VERSION
from bot.export.stream import Write
from bot.export.transcript import Timeline, Transcript, write_transcript
from bot.guide import Guide
from bot.party import Party
from bot.ports import Store
from bot.timeparse import format_position

TEMPLATES = Path(__file__).parent / "templates"
RSVP_WORDS = {"going": "going", "maybe": "maybe", "not_going": "not going"}

WIDTH = 960
HEIGHT = 200
LEFT, RIGHT = 44, 16  # room for the scale on the left, and for the last minute label
TOP = 26  # room for the chapter numbers above the bars
BOTTOM = 22  # room for the minute labels
TICK_STEPS = (1, 2, 5, 10, 15, 20, 30, 60, 120, 180, 240)


@cache
def environment() -> jinja2.Environment:
    """The Jinja2 environment of the HTML export (autoescape on), its templates compiled."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                             trim_blocks=True, lstrip_blocks=True,
                             undefined=jinja2.StrictUndefined)
    for name in ("transcript.html", "answers.html"):
        env.get_template(name)
    return env


# Compiled when the bot starts: compiling holds the interpreter for ~15 ms, too long for a
# loop that is answering commands when the first export comes.
environment()


def svg_geometry(timeline: Timeline) -> dict[str, Any]:
    """Where the timeline's bars, chapter ends and minute labels go, in SVG units."""
    minutes = max(len(timeline.minutes), 1)
    base = HEIGHT - BOTTOM
    plot = base - TOP
    step = (WIDTH - LEFT - RIGHT) / minutes
    peak = timeline.peak
    bars = []
    for minute, count in enumerate(timeline.minutes):
        if count:
            height = max(1.0, plot * count / peak)
            label = f"{format_position(minute * 60)}–{format_position((minute + 1) * 60)}"
            bars.append((round(LEFT + minute * step, 2), round(base - height, 2),
                         round(max(step * 0.85, 0.5), 2), round(height, 2), count, label))
    ends = []
    previous = float(LEFT)
    for number, end_seconds, title in timeline.ends:
        x = LEFT + min(minutes, end_seconds / 60) * step
        ends.append((round(x, 2), round((previous + x) / 2, 2), number, title))
        previous = x
    every = next((s for s in TICK_STEPS if minutes / s <= 12), TICK_STEPS[-1])
    ticks = [(round(LEFT + m * step, 2), format_position(m * 60)[:-3])
             for m in range(0, minutes + 1, every)]
    return {"width": WIDTH, "height": HEIGHT, "left": LEFT, "right": WIDTH - RIGHT, "top": TOP,
            "base": base,
            "bars": bars, "ends": ends, "ticks": ticks, "peak": peak, "total": timeline.total,
            "before_film": timeline.before_film}


def _extra(transcript: Transcript) -> dict[str, Any]:
    guide = transcript.guide
    return {"svg": svg_geometry(transcript.timeline()), "rsvp_words": RSVP_WORDS,
            "version": VERSION,
            "runtime": format_position(guide.runtime_seconds) if guide else ""}


async def write_html(store: Store, party: Party, guide: Guide | None, write: Write, *,
                     anonymize: bool, now: datetime) -> int:
    """Write the HTML export; return the record count."""
    return await write_transcript(store, party, guide, write, anonymize=anonymize, now=now,
                                  env=environment(), document="transcript.html",
                                  answers="answers.html", wrap=Markup, extra=_extra)
