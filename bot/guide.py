"""Guides: the discussion plan of a film, read from TOML and validated with precise problems.

A guide file (PRODUCT §4)::

    title = "The Social Dilemma"
    runtime = "1:34:00"
    [[chapters]]
    title = "The people who built it"
    ends_at = "0:14:30"
    questions = ["Which feature that they describe do you use every day?"]
    poll = { question = "...", options = ["...", "..."] }   # optional

`parse_guide` checks everything at once and raises `GuideInvalid` with one short line per
problem, each starting with the field's path (`chapters[3].ends_at: ...`). Chapter, question
and option numbers in paths count from 1, as people count them.
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
import logging
import re
import tomllib
from pathlib import Path
from typing import Any, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, model_validator

from bot.errors import UserError
from bot.timeparse import format_position, parse_position_or_none

log = logging.getLogger(__name__)

BUILTIN_DIR = Path(__file__).parent / "guides"

GUIDE_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
MAX_GUIDE_BYTES = 64 * 1024
MAX_CHAPTERS = 50
MAX_QUESTIONS_PER_CHAPTER = 10
MAX_QUESTION_CHARS = 1000
MAX_TITLE_CHARS = 200
MAX_RUNTIME_SECONDS = 24 * 3600
MAX_POLL_QUESTION_CHARS = 300  # Telegram's limit for a poll question
MIN_POLL_OPTIONS = 2
MAX_POLL_OPTIONS = 10  # Telegram's and Discord's limit
MAX_POLL_OPTION_CHARS = 100  # Telegram's limit (Discord allows 55 shown, 100 stored)
MAX_PROBLEMS = 30  # beyond this a list of problems stops helping

_GUIDE_KEYS = ("title", "runtime", "chapters")
_CHAPTER_KEYS = ("title", "ends_at", "questions", "poll")
_POLL_KEYS = ("question", "options")


# --------------------------------------------------------------------------- models


class GuidePoll(BaseModel):
    """A poll posted with a chapter's questions."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    question: str = Field(min_length=1, max_length=MAX_POLL_QUESTION_CHARS)
    options: tuple[str, ...] = Field(min_length=MIN_POLL_OPTIONS, max_length=MAX_POLL_OPTIONS)


class Chapter(BaseModel):
    """A stretch of the film; its questions are posted when the film reaches `ends_at_seconds`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    title: str = Field(min_length=1, max_length=MAX_TITLE_CHARS)
    ends_at_seconds: int = Field(gt=0, le=MAX_RUNTIME_SECONDS)
    questions: tuple[str, ...] = Field(default=(), max_length=MAX_QUESTIONS_PER_CHAPTER)
    poll: GuidePoll | None = None

    @property
    def prompt_at_seconds(self) -> int:
        """The film position at which this chapter's prompt is posted: its end."""
        return self.ends_at_seconds

    @model_validator(mode="after")
    def _has_prompt(self) -> Chapter:
        if not self.questions and self.poll is None:
            raise ValueError("a chapter needs at least one question or a poll")
        return self


class Guide(BaseModel):
    """A validated discussion plan; `name` is its file name without `.toml`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    title: str = Field(min_length=1, max_length=MAX_TITLE_CHARS)
    runtime_seconds: int = Field(gt=0, le=MAX_RUNTIME_SECONDS)
    chapters: tuple[Chapter, ...] = Field(min_length=1, max_length=MAX_CHAPTERS)

    @model_validator(mode="after")
    def _ordered(self) -> Guide:
        previous = 0
        for chapter in self.chapters:
            if chapter.ends_at_seconds <= previous:
                raise ValueError("chapter ends must be strictly increasing")
            previous = chapter.ends_at_seconds
        if previous > self.runtime_seconds:
            raise ValueError("a chapter ends after the runtime")
        return self

    def chapter_starts_at(self, index: int) -> int:
        """Return the film position (seconds) where chapter `index` (0-based) begins."""
        return 0 if index == 0 else self.chapters[index - 1].ends_at_seconds

    def chapter_index_at(self, position_seconds: float) -> int | None:
        """Return the 0-based index of the chapter playing at a position, None after the last."""
        for index, chapter in enumerate(self.chapters):
            if position_seconds < chapter.ends_at_seconds:
                return index
        return None


class GuideInvalid(UserError):
    """A guide file that cannot be used; `problems` has one line per problem, path first."""

    def __init__(self, name: str, problems: list[str]) -> None:
        super().__init__("guide_invalid", name=name, problems=problems)
        self.name = name
        self.problems = problems


def validate_guide_name(name: str) -> str:
    """Return `name` if it can name a guide (`social-dilemma`), else UserError."""
    if not GUIDE_NAME_RE.match(name):
        raise UserError("guide_name_invalid", name=name)
    return name


# --------------------------------------------------------------------------- validation


def _kind(value: object) -> str:
    """Name a TOML value's type the way a guide author would."""
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, dt.datetime):
        return "a date-time"
    if isinstance(value, dt.date):
        return "a date"
    if isinstance(value, dt.time):
        return "a time"
    return type(value).__name__


def _show(value: object, limit: int = 40) -> str:
    """Quote a value from the file for a problem line, shortened."""
    if isinstance(value, str):
        text = value if len(value) <= limit else value[: limit - 1] + "…"
        return json.dumps(text, ensure_ascii=False)
    if isinstance(value, dt.time):
        return value.isoformat()
    return str(value)


class _Checker:
    """Collects problems while turning the TOML document into model arguments."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def add(self, path: str, problem: str) -> None:
        self.problems.append(f"{path}: {problem}")

    def unknown_keys(self, table: dict[str, Any], path: str, allowed: tuple[str, ...]) -> None:
        for key in table:
            if key in allowed:
                continue
            where = f"{path}.{key}" if path else key
            close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
            if close:
                self.add(where, f'unknown field; did you mean "{close[0]}"?')
            else:
                self.add(where, "unknown field; allowed: " + ", ".join(allowed))

    def text(
        self, table: dict[str, Any], key: str, path: str, limit: int, required: bool = True
    ) -> str | None:
        if key not in table:
            if required:
                self.add(path, "missing")
            return None
        return self.text_value(table[key], path, limit)

    def text_value(self, value: object, path: str, limit: int) -> str | None:
        if not isinstance(value, str):
            self.add(path, f"expected a string, got {_kind(value)}")
            return None
        stripped = value.strip()
        if not stripped:
            self.add(path, "is empty")
            return None
        if len(stripped) > limit:
            self.add(path, f"is {len(stripped):,} characters long; at most {limit:,} allowed")
            return None
        return stripped

    def position(self, table: dict[str, Any], key: str, path: str) -> int | None:
        if key not in table:
            self.add(path, "missing")
            return None
        value = table[key]
        seconds: int | None
        if isinstance(value, dt.time) and not isinstance(value, dt.datetime):
            if value.tzinfo is not None or value.microsecond:
                seconds = None
            else:
                seconds = value.hour * 3600 + value.minute * 60 + value.second
        elif isinstance(value, str):
            seconds = parse_position_or_none(value)
        else:
            self.add(path, f'expected a time such as "1:34:00", got {_kind(value)}')
            return None
        if seconds is None:
            self.add(path, f'{_show(value)} is not a time; write H:MM:SS such as "1:34:00"')
            return None
        if seconds == 0:
            self.add(path, "must be later than 0:00:00")
            return None
        if seconds > MAX_RUNTIME_SECONDS:
            self.add(path, f"{_show(value)} is longer than 24 hours")
            return None
        return seconds

    def poll(self, value: object, path: str) -> dict[str, Any] | None:
        if not isinstance(value, dict):
            self.add(
                path, f"expected a table {{ question = ..., options = [...] }}, got {_kind(value)}"
            )
            return None
        self.unknown_keys(value, path, _POLL_KEYS)
        question = self.text(value, "question", f"{path}.question", MAX_POLL_QUESTION_CHARS)
        options_path = f"{path}.options"
        raw = value.get("options")
        options: list[str] | None = None
        if "options" not in value:
            self.add(options_path, "missing")
        elif not isinstance(raw, list):
            self.add(options_path, f"expected a list of strings, got {_kind(raw)}")
        elif len(raw) < MIN_POLL_OPTIONS:
            self.add(options_path, f"has {len(raw)}; a poll needs at least {MIN_POLL_OPTIONS}")
        elif len(raw) > MAX_POLL_OPTIONS:
            self.add(options_path, f"has {len(raw)}; a poll allows at most {MAX_POLL_OPTIONS}")
        else:
            options = []
            seen: dict[str, int] = {}
            for number, item in enumerate(raw, start=1):
                option = self.text_value(item, f"{options_path}[{number}]", MAX_POLL_OPTION_CHARS)
                if option is None:
                    options = None
                    continue
                if option.casefold() in seen:
                    self.add(
                        f"{options_path}[{number}]",
                        f"{_show(option)} repeats option {seen[option.casefold()]}",
                    )
                    options = None
                    continue
                seen[option.casefold()] = number
                if options is not None:
                    options.append(option)
        if question is None or options is None:
            return None
        return {"question": question, "options": tuple(options)}

    def questions(self, table: dict[str, Any], path: str) -> list[str] | None:
        if "questions" not in table:
            return []
        raw = table["questions"]
        if not isinstance(raw, list):
            self.add(path, f"expected a list of strings, got {_kind(raw)}")
            return None
        if len(raw) > MAX_QUESTIONS_PER_CHAPTER:
            self.add(path, f"has {len(raw)}; at most {MAX_QUESTIONS_PER_CHAPTER} per chapter")
            return None
        found: list[str] | None = []
        for number, item in enumerate(raw, start=1):
            question = self.text_value(item, f"{path}[{number}]", MAX_QUESTION_CHARS)
            if question is None:
                found = None
            elif found is not None:
                found.append(question)
        return found

    def chapter(
        self, value: object, number: int, runtime: int | None, previous: tuple[int, int] | None
    ) -> tuple[dict[str, Any] | None, int | None]:
        """Check one chapter; return its model arguments (or None) and its end (or None)."""
        path = f"chapters[{number}]"
        if not isinstance(value, dict):
            self.add(path, f"expected a [[chapters]] table, got {_kind(value)}")
            return None, None
        self.unknown_keys(value, path, _CHAPTER_KEYS)
        problems_before = len(self.problems)
        title = self.text(value, "title", f"{path}.title", MAX_TITLE_CHARS)
        ends_at = self.position(value, "ends_at", f"{path}.ends_at")
        if ends_at is not None:
            shown = _show(value["ends_at"])
            if previous is not None and ends_at <= previous[1]:
                self.add(
                    f"{path}.ends_at",
                    f"{shown} must be later than chapter {previous[0]}'s end "
                    f"({format_position(previous[1])})",
                )
            if runtime is not None and ends_at > runtime:
                self.add(
                    f"{path}.ends_at",
                    f"{shown} is after the end of the film (runtime {format_position(runtime)})",
                )
        questions = self.questions(value, f"{path}.questions")
        poll = self.poll(value["poll"], f"{path}.poll") if "poll" in value else None
        if questions == [] and "poll" not in value:
            self.add(f"{path}.questions", "needs at least one question (or a poll)")
        if len(self.problems) > problems_before or title is None or ends_at is None:
            return None, ends_at
        return (
            {
                "title": title,
                "ends_at_seconds": ends_at,
                "questions": tuple(questions or ()),
                "poll": GuidePoll(**poll) if poll is not None else None,
            },
            ends_at,
        )


_TOML_WHERE = re.compile(r"^(?P<msg>.*?)\s*\(at (?P<where>line \d+, column \d+|end of document)\)$")


def _syntax_problem(exc: tomllib.TOMLDecodeError) -> str:
    match = _TOML_WHERE.match(str(exc))
    if match is None:
        return f"TOML syntax: {exc}"
    return f"{match.group('where')}: TOML syntax: {match.group('msg')}"


def _decode(source: str | bytes) -> tuple[str | None, list[str]]:
    """Check the size and encoding of a guide file; return its text or the problems."""
    size = len(source) if isinstance(source, bytes) else len(source.encode("utf-8", "replace"))
    if size > MAX_GUIDE_BYTES:
        return None, [f"file: {size:,} bytes; at most {MAX_GUIDE_BYTES:,} (64 KiB) allowed"]
    if isinstance(source, str):
        return source.removeprefix("\ufeff"), []
    try:
        return source.decode("utf-8-sig"), []
    except UnicodeDecodeError as exc:
        return None, [
            f"file: not UTF-8 text (byte 0x{source[exc.start]:02x} at offset {exc.start}); "
            "save it as UTF-8"
        ]


def parse_guide(source: str | bytes, name: str) -> Guide:
    """Read and validate a guide's TOML; raise GuideInvalid listing every problem found.

    `name` is only a label here (the caller checks it with `validate_guide_name`).
    """
    text, problems = _decode(source)
    if text is None:
        raise GuideInvalid(name, problems)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise GuideInvalid(name, [_syntax_problem(exc)]) from None

    check = _Checker()
    check.unknown_keys(data, "", _GUIDE_KEYS)
    title = check.text(data, "title", "title", MAX_TITLE_CHARS)
    runtime = check.position(data, "runtime", "runtime")

    chapters: list[Chapter] = []
    complete = True
    raw = data.get("chapters")
    if "chapters" not in data:
        check.add("chapters", "missing; add at least one [[chapters]] table")
    elif not isinstance(raw, list):
        check.add("chapters", f"expected [[chapters]] tables, got {_kind(raw)}")
    elif not raw:
        check.add("chapters", "needs at least one chapter")
    else:
        if len(raw) > MAX_CHAPTERS:
            check.add("chapters", f"has {len(raw)}; at most {MAX_CHAPTERS} allowed")
        previous: tuple[int, int] | None = None
        for number, item in enumerate(raw, start=1):
            arguments, ends_at = check.chapter(item, number, runtime, previous)
            if ends_at is not None and (previous is None or ends_at > previous[1]):
                previous = (number, ends_at)
            if arguments is None:
                complete = False
            else:
                chapters.append(Chapter(**arguments))

    if check.problems or title is None or runtime is None or not complete:
        found = check.problems or ["file: not a usable guide"]
        if len(found) > MAX_PROBLEMS:
            more = len(found) - MAX_PROBLEMS
            found = [*found[:MAX_PROBLEMS], f"… and {more} more problems"]
        raise GuideInvalid(name, found)
    return Guide(name=name, title=title, runtime_seconds=runtime, chapters=tuple(chapters))


def read_guide_file(path: Path, name: str | None = None) -> Guide:
    """Read and validate a guide file (for `python -m bot guide check FILE`).

    The name defaults to the file name without `.toml`. An unreadable file is GuideInvalid.
    """
    label = name if name is not None else path.stem
    try:
        with path.open("rb") as handle:
            source = handle.read(MAX_GUIDE_BYTES + 1)
    except OSError as exc:
        raise GuideInvalid(label, [f"file: cannot be read ({exc.strerror or exc})"]) from None
    return parse_guide(source, label)


# --------------------------------------------------------------------------- library


class GuideLoadError(NamedTuple):
    """A guide file that could not be loaded, for the start-up log."""

    name: str
    problems: list[str]


class GuideLibrary:
    """The built-in guides and the operator's folder (`GUIDES_DIR`), parsed once and cached.

    An operator guide overrides a built-in of the same name. A bad operator file never stops
    the library: it is left out (a built-in of that name stays available) and listed by
    `load_errors()`. Call `reload()` to pick up changed files.
    """

    def __init__(self, builtin_dir: Path = BUILTIN_DIR, operator_dir: Path | None = None) -> None:
        self.builtin_dir = builtin_dir
        self.operator_dir = operator_dir
        self._builtin: dict[str, Guide] = {}
        self._operator: dict[str, Guide] = {}
        self._errors: list[GuideLoadError] = []
        self.reload()

    def reload(self) -> None:
        """Parse every guide file again."""
        self._errors = []
        self._builtin = self._scan(self.builtin_dir)
        self._operator = self._scan(self.operator_dir) if self.operator_dir else {}
        for error in self._errors:
            log.warning("guide %s not loaded: %s", error.name, "; ".join(error.problems))

    def _scan(self, folder: Path) -> dict[str, Guide]:
        guides: dict[str, Guide] = {}
        if not folder.is_dir():
            self._errors.append(GuideLoadError(str(folder), ["folder: not found"]))
            return guides
        for path in sorted(folder.glob("*.toml")):
            if not path.is_file():
                continue
            name = path.stem
            if not GUIDE_NAME_RE.match(name):
                self._errors.append(
                    GuideLoadError(
                        name,
                        [
                            f"file name: {_show(path.name)} is not a guide name; use lower-case "
                            "letters, digits and hyphens (at most 40), such as social-dilemma.toml"
                        ],
                    )
                )
                continue
            try:
                guides[name] = read_guide_file(path, name)
            except GuideInvalid as exc:
                self._errors.append(GuideLoadError(name, list(exc.problems)))
        return guides

    def builtin_names(self) -> list[str]:
        """Names of the built-in guides that loaded, sorted."""
        return sorted(self._builtin)

    def operator_names(self) -> list[str]:
        """Names of the operator's guides that loaded, sorted."""
        return sorted(self._operator)

    def names(self) -> list[str]:
        """Every guide name available, sorted."""
        return sorted(self._builtin.keys() | self._operator.keys())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._find(name) is not None

    def _find(self, name: str) -> Guide | None:
        key = name.strip().lower()
        return self._operator.get(key) or self._builtin.get(key)

    def load_file(self, name: str) -> Guide:
        """Return the guide called `name`; UserError("guide_unknown", name, known) if none."""
        guide = self._find(name)
        if guide is None:
            raise UserError("guide_unknown", name=name, known=self.names())
        return guide

    def load_errors(self) -> list[GuideLoadError]:
        """The guide files that could not be loaded, with their problems."""
        return list(self._errors)
