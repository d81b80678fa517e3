"""The guide loader on arbitrary files, arbitrary TOML, and valid guides with one field mutated:
a valid guide or GuideInvalid listing the problems, never a crash."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from bot.errors import UserError
from bot.guide import BUILTIN_DIR, Guide, parse_guide
from tests.property.checks import PROPERTY, VALUES, assert_renders, paths, toml_document

GUIDES = [tomllib.loads(p.read_text("utf-8")) for p in
          sorted([*BUILTIN_DIR.glob("*.toml"),
                  *(Path(__file__).parents[1] / "core" / "data").glob("*.toml")])]
KEYS = ["title", "runtime", "chapters", "ends_at", "questions", "poll", "question", "options",
        "extra"]


def check(source: str | bytes) -> Guide | None:
    """Parse; a refusal must render. Returns the guide when it was accepted."""
    try:
        guide = parse_guide(source, "fuzzed")
    except UserError as err:
        given_text = source if isinstance(source, str) else source.decode("utf-8", "replace")
        assert_renders(err, given_text)
        return None
    assert guide.chapters and guide.title
    ends = [chapter.ends_at_seconds for chapter in guide.chapters]
    assert ends == sorted(set(ends)) and ends[-1] <= guide.runtime_seconds
    return guide


@PROPERTY
@given(st.text(max_size=200) | st.binary(max_size=200))
@example(b"\xff\xfe")
@example("title = 1\nruntime = '99:99'\nchapters = 3")
def test_any_file(source: str | bytes) -> None:
    check(source)


@PROPERTY
@given(st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), VALUES, max_size=5))
def test_any_toml_document(table: dict[str, Any]) -> None:
    check(toml_document(table))


@st.composite
def mutated_guides(draw: st.DrawFn) -> dict[str, Any]:
    """A valid guide with one field replaced, removed, or given a sibling it does not know."""
    guide = draw(st.sampled_from(GUIDES))
    path = draw(st.sampled_from(paths(guide)))
    doc: Any = tomllib.loads(toml_document(guide))  # a deep copy
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    action = draw(st.sampled_from(["replace", "remove", "add"]))
    if action == "replace":
        parent[path[-1]] = draw(VALUES | st.sampled_from(["0:00", "24:00:01", "", " ", "1:2"]))
    elif action == "remove":
        del parent[path[-1]]
    elif isinstance(parent, dict):
        parent[draw(st.sampled_from(KEYS) | st.text(max_size=8))] = draw(VALUES)
    else:
        parent.append(draw(VALUES))
    return dict(doc)


@PROPERTY
@given(mutated_guides())
def test_a_valid_guide_with_a_mutated_field(doc: dict[str, Any]) -> None:
    check(toml_document(doc))


def test_the_guides_used_here_are_valid() -> None:
    for guide in GUIDES:
        assert check(toml_document(guide)) is not None
