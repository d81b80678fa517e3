"""What every property test asserts of a refusal, and the strategies several of them share."""

from __future__ import annotations

import json
import os
import re
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from bot import render
from bot.errors import UserError

# Modest, so the whole suite stays well under a minute on a busy machine; PROPERTY_EXAMPLES
# asks for a longer hunt.
PROPERTY = settings(max_examples=int(os.environ.get("PROPERTY_EXAMPLES", "150")), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

_LEAKS = re.compile(r"\b\w*(?:Error|Exception)\b|Traceback|\w+\.py\b|/(?:usr|home|work|tmp)/")


def assert_renders(err: UserError, given: str = "") -> str:
    """A UserError renders to a non-empty message that names no exception and no file path.

    What the person typed may be echoed back, so leaks are looked for outside of it.
    """
    text = render.error(err).plain()
    assert text.strip(), f"{err!r} renders to nothing"
    assert "That didn't work (" not in text, f"{err!r} has no text of its own: {text!r}"
    for leak in _LEAKS.findall(text):
        assert leak in given, f"{err!r} shows {leak!r}: {text!r}"
    return text


def paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key and index path into nested dicts and lists, for mutating one field."""
    found = [path] if path else []
    if isinstance(value, dict):
        for key, inner in value.items():
            found += paths(inner, (*path, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            found += paths(inner, (*path, index))
    return found


def toml_value(value: Any) -> str:
    """A value in TOML's inline syntax (strings as JSON strings, which TOML reads alike)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(v)}"
                               for k, v in value.items()) + "}"
    raise TypeError(value)


def toml_document(table: dict[str, Any]) -> str:
    """A TOML document of top-level keys."""
    return "".join(f"{json.dumps(k)} = {toml_value(v)}\n" for k, v in table.items())


SCALARS = (st.text(max_size=30) | st.integers(-10**6, 10**12) | st.booleans()
           | st.floats(allow_nan=False, allow_infinity=False))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.text(max_size=10), inner, max_size=4), max_leaves=12)
