"""The README's first console example, piped into `python -m bot console` exactly as printed.

The lines are read from README.md itself, so the example and this test cannot drift apart.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from .botproc import ROOT, USER, StartConsole, bot_env

BLOCK = re.compile(r"^```text\n(.*?)^```", re.DOTALL | re.MULTILINE)


def readme_example() -> list[str]:
    """The lines of the README's first ```text block."""
    found = BLOCK.search((ROOT / "README.md").read_text("utf-8"))
    assert found, "README.md has no ```text block"
    return found[1].splitlines()


@pytest.mark.timeout(240)
def test_readme_first_example_works_as_printed(tmp_path: Path,
                                               start_console: StartConsole) -> None:
    lines = readme_example()
    reply = next(line for line in lines if line.startswith("reply 1 "))
    assert "react 1 😂" in lines and "/watchparty start now" in lines

    # As `make run` with no token: speed 1, the default SQLite file in the current folder.
    bot = start_console(tmp_path, bot_env(), label="readme")
    for line in lines:
        bot.send(line)
    bot.close_stdin()
    assert bot.wait_exit(timeout=200) == 0, bot.transcript()

    out = bot.stdout_text()
    warnings = [line for line in bot.lines if line.startswith("⚠")]
    assert warnings == [], bot.transcript()
    assert not re.search(r"\b(WARNING|ERROR|CRITICAL)\b|Traceback", bot.stderr_text()), \
        bot.transcript()
    # What the example promises happened: the answer and the reaction landed on prompt 1.
    assert f"→ 📝 {USER} answered Q1.1: {reply.removeprefix('reply 1 ')}" in out, out
    assert "→ 😂 added to prompt 1" in out, out
    code = re.search(r"Join code `([A-Z2-9]{6})`", out)
    assert code, out
    export = json.loads((tmp_path / f"watchparty-{code[1]}.json").read_text("utf-8"))
    kinds = {(r["kind"], r["value"]) for r in export["records"]}
    assert {("answer", reply.removeprefix("reply 1 ")), ("reaction_added", "😂"),
            ("rsvp", "going")} <= kinds, kinds
    # The example ends the demo, so nothing is left to go on at the next run.
    assert "is still playing" not in out and bot.lines[-1] == "Bye.", bot.transcript()
