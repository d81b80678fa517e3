"""Domain failures the user can act on: a message key and parameters, rendered in one place."""

from __future__ import annotations

from typing import Any


class UserError(Exception):
    """A refusal or a bad input; `key` names the renderer's text, `params` fill it in."""

    def __init__(self, key: str, **params: Any) -> None:
        super().__init__(key)
        self.key = key
        self.params = params

    def __repr__(self) -> str:
        return f"UserError({self.key!r}, {self.params!r})"


class ConfigurationError(Exception):
    """Bad configuration: the bot says what, in one line, and exits non-zero."""
