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

import logging
import tomllib
from pathlib import Path
from typing import NamedTuple

from bot.errors import UserError
from bot.guide_check import Checker, decode, kind_of, show, syntax_problem
from bot.guide_model import BUILTIN_DIR as BUILTIN_DIR
from bot.guide_model import GUIDE_KEYS, GUIDE_NAME_RE
from bot.guide_model import MAX_CHAPTERS as MAX_CHAPTERS
from bot.guide_model import MAX_GUIDE_BYTES as MAX_GUIDE_BYTES
from bot.guide_model import MAX_PROBLEMS as MAX_PROBLEMS
from bot.guide_model import MAX_TITLE_CHARS as MAX_TITLE_CHARS
from bot.guide_model import Chapter as Chapter
from bot.guide_model import Guide as Guide
from bot.guide_model import GuideInvalid as GuideInvalid
from bot.guide_model import GuidePoll as GuidePoll
from bot.guide_model import validate_guide_name as validate_guide_name

log = logging.getLogger(__name__)


def parse_guide(source: str | bytes, name: str) -> Guide:
    """Read and validate a guide's TOML; raise GuideInvalid listing every problem found.

    `name` is only a label here (the caller checks it with `validate_guide_name`).
    """
    text, problems = decode(source)
    if text is None:
        raise GuideInvalid(name, problems)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise GuideInvalid(name, [syntax_problem(exc)]) from None

    check = Checker()
    check.unknown_keys(data, "", GUIDE_KEYS)
    title = check.text(data, "title", "title", MAX_TITLE_CHARS)
    runtime = check.position(data, "runtime", "runtime")

    chapters: list[Chapter] = []
    complete = True
    raw = data.get("chapters")
    if "chapters" not in data:
        check.add("chapters", "missing; add at least one [[chapters]] table")
    elif not isinstance(raw, list):
        check.add("chapters", f"expected [[chapters]] tables, got {kind_of(raw)}")
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
                            f"file name: {show(path.name)} is not a guide name; use lower-case "
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
