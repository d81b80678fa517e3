"""The environment of a bot process a test or a benchmark starts: none of the developer's
settings leak in, this checkout is importable, output is UTF-8 and unbuffered, loopback is
never proxied."""

from __future__ import annotations

import os
from pathlib import Path

from bot.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
# Every variable the bot reads, from its settings themselves.
SETTINGS = tuple(name.upper() for name in Settings.model_fields)


def child_env(**settings: str | int | float) -> dict[str, str]:
    """This environment without any of the bot's settings, plus `settings` (NAME=value)."""
    env = {k: v for k, v in os.environ.items() if k.upper() not in SETTINGS}
    env.update({"PYTHONPATH": str(ROOT), "PYTHONUTF8": "1", "PYTHONUNBUFFERED": "1",
                "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"})
    env.update({name: str(value) for name, value in settings.items()})
    return env
