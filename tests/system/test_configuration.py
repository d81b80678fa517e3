"""Configuration as an operator writes it: `.env.example` as it is, empty values, bad values.

Every test runs `python -m bot` as a real process with a timeout: bad configuration must end
it at once, with one line and a non-zero status, before anything is opened.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bot.settings import Settings

from .botproc import ROOT, bot_env

EXAMPLE = ROOT / ".env.example"


def run_bot(cwd: Path, env: dict[str, str], *args: str,
            stdin: str = "") -> subprocess.CompletedProcess[str]:
    """Run `python -m bot ARGS`; a hang is a failure, not a stuck test run."""
    try:
        return subprocess.run([sys.executable, "-m", "bot", *args], cwd=cwd, env=env,
                              input=stdin, capture_output=True, text=True, encoding="utf-8",
                              timeout=60, check=False)
    except subprocess.TimeoutExpired as err:
        raise AssertionError(f"`python -m bot {' '.join(args)}` did not exit within 60 s:\n"
                             f"{err.stdout!r}\n{err.stderr!r}") from None


def example_keys() -> dict[str, str]:
    """The variables `.env.example` sets, each with the comment line above it."""
    keys: dict[str, str] = {}
    previous = ""
    for line in EXAMPLE.read_text("utf-8").splitlines():
        match = re.match(r"^([A-Z_]+)=", line)
        if match:
            keys[match[1]] = previous
        previous = line
    return keys


def test_env_example_lists_every_setting_with_a_comment() -> None:
    keys = example_keys()
    fields = {name.upper() for name in Settings.model_fields}
    assert fields - keys.keys() == set(), "settings missing from .env.example"
    assert keys.keys() - fields == set(), "variables in .env.example that the bot does not read"
    for key, comment in keys.items():
        assert comment.startswith("# ") and len(comment) > 10, f"{key} has no comment above it"


@pytest.mark.timeout(90)
def test_env_example_copied_as_is_starts_the_console(tmp_path: Path) -> None:
    shutil.copy(EXAMPLE, tmp_path / ".env")
    # An empty GUIDES_DIR= must not mean this folder: a stray TOML here is no guide.
    (tmp_path / "notes.toml").write_text("this is not a guide\n", "utf-8")
    env = {k: v for k, v in bot_env().items() if k not in ("DEFAULT_TIMEZONE", "LOG_LEVEL")}
    result = run_bot(tmp_path, env, stdin="/watchparty guide list\n")
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", result.stderr
    assert "watchparty console — you are" in result.stdout, result.stdout
    guides = next(line for line in result.stdout.splitlines() if "social-dilemma" in line)
    assert "notes" not in guides, result.stdout
    assert (tmp_path / "watchparty.db").exists(), "DATABASE_URL from .env.example was not used"


def test_empty_values_mean_unset(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    for field in Settings.model_fields:
        monkeypatch.setenv(field.upper(), "")
    settings = Settings()
    for name, field in Settings.model_fields.items():
        default = field.default_factory() if field.default_factory else field.default  # type: ignore[call-arg]
        assert getattr(settings, name) == default, name


BAD = [
    ("GUIDES_DIR", "/nonexistent", "GUIDES_DIR: /nonexistent is not a folder"),
    ("DEFAULT_TIMEZONE", "Mars/Base", "DEFAULT_TIMEZONE: “Mars/Base” isn't a time zone I know"),
    ("DISCORD_DEV_GUILD_ID", "my-server",
     "DISCORD_DEV_GUILD_ID: Input should be a valid integer, unable to parse string as an "
     "integer; got “my-server”"),
    ("COUNTDOWN_SECONDS", "1",
     "COUNTDOWN_SECONDS: Input should be greater than or equal to 3; got “1”"),
    ("TELEGRAM_RATE_LIMITS", "fast", "TELEGRAM_RATE_LIMITS: 'fast' has no '='"),
    ("LOG_LEVEL", "loud", "LOG_LEVEL: LOG_LEVEL must be DEBUG, INFO"),
    ("DATABASE_URL", "mysql://localhost/x", "DATABASE_URL scheme 'mysql' is not supported"),
]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("args", [(), ("console",)], ids=["run", "console"])
@pytest.mark.parametrize(("name", "value", "says"), BAD, ids=[b[0] for b in BAD])
def test_bad_configuration_exits_with_one_line(tmp_path: Path, args: tuple[str, ...], name: str,
                                               value: str, says: str) -> None:
    db = tmp_path / "wp.db"
    env = bot_env(database_url=f"sqlite:///{db}")
    env[name] = value
    result = run_bot(tmp_path, env, *args, stdin="/watchparty list\n")
    assert result.returncode != 0
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("watchparty: "), result.stderr
    assert says in lines[0], lines[0]
    assert "Traceback" not in result.stderr and result.stdout == "", result.stdout
    # Checked before anything was opened: no database file was created.
    assert not db.exists()


@pytest.mark.timeout(60)
def test_guides_dir_that_is_a_file(tmp_path: Path) -> None:
    plain = tmp_path / "guide.toml"
    plain.write_text('title = "x"\n', "utf-8")
    result = run_bot(tmp_path, bot_env(guides_dir=plain, database_url="memory://"), "console")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"watchparty: GUIDES_DIR: {plain} is not a folder; name a folder of guide .toml files, "
        "or leave GUIDES_DIR empty"]
