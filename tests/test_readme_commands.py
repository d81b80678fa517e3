"""Every `/watchparty …` command the README shows in a sentence parses as printed."""

from __future__ import annotations

import re
from pathlib import Path

from bot import commands as c
from bot.arguments import parse_command_text

README = Path(__file__).resolve().parents[1] / "README.md"
INLINE = re.compile(r"`/watchparty ([^`]+)`")


def test_the_readme_commands_parse() -> None:
    text = README.read_text("utf-8").replace("\n  ", " ")
    shown = [m.replace("\\|", "|") for m in INLINE.findall(text)]
    examples = [s for s in shown if not any(mark in s for mark in "…·[<")
                and "guide upload" not in s]
    parsed = [parse_command_text(s) for s in examples]
    kinds = {type(p) for p in parsed}
    assert {c.EditParty, c.ShowHistory, c.CalendarFile, c.CreateParty, c.CancelParty} <= kinds
    assert c.CreateParty("Anime night", "tomorrow 20:00", repeat="weekly",
                         episodes="10") in parsed
    assert c.CancelParty(None, all=True) in parsed
