"""Run `python -m bot console` as a real subprocess and watch what a user would see.

A reader thread per stream collects stdout and stderr line by line with the time each line
arrived, so a test waits for an expected line with a deadline instead of sleeping, and every
failure message carries the whole transcript.
"""

from __future__ import annotations

import contextlib
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from tests.childenv import child_env

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).resolve().parent / "data"
BUILTIN_GUIDES = ROOT / "bot" / "guides"
USER = "Dana"

STAMP = re.compile(r"^\d\d:\d\d:\d\d watchparty: ")
# Lines the console prints on its own (not a bot message); each starts a new group.
_OWN = ("→ ", "⚠ ", "(updated: ", "Party `", "📎 ", "Bye.", "watchparty console", "Rehearsal at",
        "Console commands")
PROMPT_HEAD = re.compile(r"watchparty: 💬 Chapter (\d+) of (\d+) — (.+) \(ends ([\d:]+)\)$")
QUESTION = re.compile(r"^Q(\d+)\. (.+)$")
JOIN_CODE = re.compile(r"Join code `([A-Z2-9]{6})`")
LATE_NOTE = re.compile(r"\(posted (\d+) min late: the bot was offline\)")


def bot_env(**settings: str | int | float) -> dict[str, str]:
    """The environment for a bot process: this repo importable, UTF-8, no stray settings."""
    return child_env(**{
        "PYTHONIOENCODING": "utf-8",
        # getpass.getuser() reads these first: the console's own user gets a known name.
        "LOGNAME": USER, "USER": USER, "LNAME": USER, "USERNAME": USER,
        "DEFAULT_TIMEZONE": "UTC", "LOG_LEVEL": "INFO",
        **{key.upper(): value for key, value in settings.items()},
    })


@dataclass(frozen=True)
class Seen:
    """A line that matched, where it is in the transcript, and when it arrived."""

    index: int
    line: str
    match: re.Match[str]
    at: float


@dataclass
class Group:
    """One thing the console printed: a bot message (with its stamp) or a console line."""

    index: int
    lines: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        """All of its lines."""
        return "\n".join(self.lines)


@dataclass(frozen=True)
class PromptPost:
    """A chapter prompt as it appeared in the terminal."""

    chapter: int
    chapters: int
    title: str
    question_number: int
    question: str
    late_minutes: int | None
    text: str
    stamp: str  # HH:MM:SS on the bot's clock when it was printed
    index: int  # its first line in stdout


class Console:
    """One `python -m bot console` process with its stdin, stdout and stderr."""

    def __init__(self, cwd: Path, env: dict[str, str], speed: float | None = None,
                 label: str = "bot") -> None:
        args = [sys.executable, "-m", "bot", "console"]
        if speed is not None:
            args += ["--speed", f"{speed:g}"]
        self.label = label
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            args, cwd=cwd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, encoding="utf-8", errors="replace", bufsize=1)
        self.lines: list[str] = []
        self.arrived: list[float] = []
        self.errors: list[str] = []
        self._cond = threading.Condition()
        self._open_streams = 2
        self._threads = [
            threading.Thread(target=self._pump, args=(self.proc.stdout, True), daemon=True,
                             name=f"{label}-stdout"),
            threading.Thread(target=self._pump, args=(self.proc.stderr, False), daemon=True,
                             name=f"{label}-stderr"),
        ]
        for thread in self._threads:
            thread.start()

    # ---- reading ----------------------------------------------------------------------

    def _pump(self, stream: IO[str] | None, is_stdout: bool) -> None:
        assert stream is not None
        try:
            for raw in stream:
                line = raw.rstrip("\n")
                with self._cond:
                    if is_stdout:
                        self.lines.append(line)
                        self.arrived.append(time.monotonic())
                    else:
                        self.errors.append(line)
                    self._cond.notify_all()
        finally:
            with self._cond:
                self._open_streams -= 1
                self._cond.notify_all()

    def transcript(self) -> str:
        """Everything printed so far, for failure messages."""
        with self._cond:
            out = "\n".join(self.lines)
            err = "\n".join(self.errors[-40:])
        return (f"--- {self.label} stdout ({len(self.lines)} lines) ---\n{out}\n"
                f"--- {self.label} stderr (last 40 lines) ---\n{err}")

    def stdout_text(self) -> str:
        """The whole stdout so far."""
        with self._cond:
            return "\n".join(self.lines)

    def stderr_text(self) -> str:
        """The whole stderr so far."""
        with self._cond:
            return "\n".join(self.errors)

    def wait_for(self, pattern: str | re.Pattern[str], timeout: float = 10.0,
                 start: int = 0) -> Seen:
        """Wait for a stdout line at or after `start` that contains `pattern` (or matches it)."""
        regex = pattern if isinstance(pattern, re.Pattern) else re.compile(re.escape(pattern))
        deadline = time.monotonic() + timeout
        checked = start
        with self._cond:
            while True:
                while checked < len(self.lines):
                    match = regex.search(self.lines[checked])
                    if match:
                        return Seen(checked, self.lines[checked], match, self.arrived[checked])
                    checked += 1
                left = deadline - time.monotonic()
                if left <= 0 or (self._open_streams == 0 and checked >= len(self.lines)):
                    break
                self._cond.wait(min(left, 0.5))
        state = "still running" if self.proc.poll() is None else f"exited {self.proc.returncode}"
        raise AssertionError(
            f"{self.label}: no line matching {regex.pattern!r} after line {start} within "
            f"{timeout:g}s ({state})\n{self.transcript()}")

    def mark(self) -> int:
        """The index the next stdout line will have."""
        with self._cond:
            return len(self.lines)

    def groups(self, start: int = 0) -> list[Group]:
        """Split stdout into messages: a stamped bot message or a line of the console's own."""
        with self._cond:
            lines = list(self.lines)
        return split_groups(lines, start)

    def prompts(self) -> list[PromptPost]:
        """Every chapter prompt printed, in order."""
        return prompts_in(self.groups())

    # ---- driving ----------------------------------------------------------------------

    def send(self, line: str) -> int:
        """Type a line; return the stdout index from which its answer can appear."""
        index = self.mark()
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return index

    def ask(self, line: str, pattern: str | re.Pattern[str], timeout: float = 10.0) -> Seen:
        """Type a line and wait for the answer."""
        return self.wait_for(pattern, timeout, start=self.send(line))

    def create(self, title: str, when: str, guide: str) -> tuple[Seen, str]:
        """Create a party through the console; return the host's reply and the join code."""
        created = self.ask(f"/watchparty create {title} | {when} | {guide}",
                           f"→ Party {title} created for", timeout=20)
        code = JOIN_CODE.search(created.line)
        assert code, self.transcript()
        return created, code[1]

    def close_stdin(self) -> None:
        """End of input, as when a pipe closes."""
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()

    def signal(self, sig: signal.Signals) -> None:
        """Send a signal to the process."""
        self.proc.send_signal(sig)

    def wait_exit(self, timeout: float) -> int:
        """Wait for the process to end and its output to be read; fail (and kill) on timeout."""
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"{self.label} did not exit within {timeout:g}s\n"
                                 f"{self.transcript()}") from None
        for thread in self._threads:
            thread.join(timeout=5)
        return code

    def kill(self) -> None:
        """SIGKILL, as a crash or a pulled plug would."""
        if self.proc.poll() is None:
            self.proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)
        for thread in self._threads:
            thread.join(timeout=5)

    def cleanup(self) -> None:
        """Make sure nothing is left running."""
        self.close_stdin()
        self.kill()
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()


def split_groups(lines: list[str], start: int = 0) -> list[Group]:
    """Group console lines: a group starts at a stamped bot message or a console line."""
    groups: list[Group] = []
    for index in range(start, len(lines)):
        line = lines[index]
        if STAMP.match(line) or line.startswith(_OWN) or not groups:
            groups.append(Group(index))
        groups[-1].lines.append(line)
    return groups


def prompts_in(groups: list[Group]) -> list[PromptPost]:
    """The chapter prompts among printed groups."""
    found: list[PromptPost] = []
    for group in groups:
        head = PROMPT_HEAD.search(group.lines[0])
        if head is None:
            continue
        question = next((m for m in map(QUESTION.match, group.lines[1:]) if m), None)
        assert question is not None, f"a prompt without its question:\n{group.text}"
        late = LATE_NOTE.search(group.text)
        found.append(PromptPost(int(head[1]), int(head[2]), head[3], int(question[1]),
                                question[2], int(late[1]) if late else None, group.text,
                                group.lines[0][:8], group.index))
    return found


def read_only(db: Path) -> sqlite3.Connection:
    """Open the bot's SQLite file read-only, as an operator inspecting it would."""
    return sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True, timeout=5)


@contextlib.contextmanager
def database(db: Path) -> Iterator[sqlite3.Connection]:
    """A read-only connection that is closed afterwards."""
    conn = read_only(db)
    try:
        yield conn
    finally:
        conn.close()


StartConsole = Callable[..., Console]
