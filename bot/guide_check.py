"""Checking a guide's TOML field by field, collecting one short problem line per fault."""

from __future__ import annotations

import datetime as dt
import difflib
import json
import re
import tomllib
from typing import Any

from bot.guide_model import (
    CHAPTER_KEYS,
    MAX_GUIDE_BYTES,
    MAX_POLL_OPTION_CHARS,
    MAX_POLL_OPTIONS,
    MAX_POLL_QUESTION_CHARS,
    MAX_QUESTION_CHARS,
    MAX_QUESTIONS_PER_CHAPTER,
    MAX_RUNTIME_SECONDS,
    MAX_TITLE_CHARS,
    MIN_POLL_OPTIONS,
    POLL_KEYS,
    GuidePoll,
)
from bot.timeparse import format_position, parse_position_or_none


def kind_of(value: object) -> str:
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


def show(value: object, limit: int = 40) -> str:
    """Quote a value from the file for a problem line, shortened."""
    if isinstance(value, str):
        text = value if len(value) <= limit else value[: limit - 1] + "…"
        return json.dumps(text, ensure_ascii=False)
    if isinstance(value, dt.time):
        return value.isoformat()
    return str(value)


class Checker:
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
            self.add(path, f"expected a string, got {kind_of(value)}")
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
            self.add(path, f'expected a time such as "1:34:00", got {kind_of(value)}')
            return None
        if seconds is None:
            self.add(path, f'{show(value)} is not a time; write H:MM:SS such as "1:34:00"')
            return None
        if seconds == 0:
            self.add(path, "must be later than 0:00:00")
            return None
        if seconds > MAX_RUNTIME_SECONDS:
            self.add(path, f"{show(value)} is longer than 24 hours")
            return None
        return seconds

    def poll(self, value: object, path: str) -> dict[str, Any] | None:
        if not isinstance(value, dict):
            self.add(
                path,
                f"expected a table {{ question = ..., options = [...] }}, got {kind_of(value)}",
            )
            return None
        self.unknown_keys(value, path, POLL_KEYS)
        question = self.text(value, "question", f"{path}.question", MAX_POLL_QUESTION_CHARS)
        options_path = f"{path}.options"
        raw = value.get("options")
        options: list[str] | None = None
        if "options" not in value:
            self.add(options_path, "missing")
        elif not isinstance(raw, list):
            self.add(options_path, f"expected a list of strings, got {kind_of(raw)}")
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
                        f"{show(option)} repeats option {seen[option.casefold()]}",
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
            self.add(path, f"expected a list of strings, got {kind_of(raw)}")
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
            self.add(path, f"expected a [[chapters]] table, got {kind_of(value)}")
            return None, None
        self.unknown_keys(value, path, CHAPTER_KEYS)
        problems_before = len(self.problems)
        title = self.text(value, "title", f"{path}.title", MAX_TITLE_CHARS)
        ends_at = self.position(value, "ends_at", f"{path}.ends_at")
        if ends_at is not None:
            shown = show(value["ends_at"])
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


def syntax_problem(exc: tomllib.TOMLDecodeError) -> str:
    """Turn tomllib's error into one problem line, its place first."""
    match = _TOML_WHERE.match(str(exc))
    if match is None:
        return f"TOML syntax: {exc}"
    return f"{match.group('where')}: TOML syntax: {match.group('msg')}"


def decode(source: str | bytes) -> tuple[str | None, list[str]]:
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
