"""A guide's model (its chapters, questions and polls) and the limits a guide must keep."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from bot.errors import UserError

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

GUIDE_KEYS = ("title", "runtime", "chapters")
CHAPTER_KEYS = ("title", "ends_at", "questions", "poll")
POLL_KEYS = ("question", "options")


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
