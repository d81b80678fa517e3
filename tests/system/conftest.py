"""Fixtures of the system tests: console processes that are always cleaned up."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .botproc import Console, StartConsole


@pytest.fixture
def start_console() -> Iterator[StartConsole]:
    """Start `python -m bot console` processes; whatever is still running at the end is killed."""
    started: list[Console] = []

    def start(cwd: Path, env: dict[str, str], speed: float | None = None,
              label: str = "bot") -> Console:
        console = Console(cwd, env, speed, label=f"{label}#{len(started) + 1}")
        started.append(console)
        return console

    yield start
    for console in started:
        console.cleanup()
