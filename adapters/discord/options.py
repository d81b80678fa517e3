"""Options as Discord sent them, checked against the bot's own schema before a handler runs.

Discord keeps the command schema it was last given (globally, for up to an hour), so a person
may send options in an older shape than the bot's: a number where text is expected, an option
that was renamed, one that became required. discord.py passes such values through untouched or
fails before any handler; here they become a clear answer naming the option instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from discord import AppCommandOptionType
from discord.app_commands import Command, Parameter

_SNOWFLAKES = frozenset({AppCommandOptionType.user, AppCommandOptionType.channel,
                         AppCommandOptionType.role, AppCommandOptionType.mentionable,
                         AppCommandOptionType.attachment})
_NESTING = (AppCommandOptionType.subcommand.value, AppCommandOptionType.subcommand_group.value)


@dataclass(frozen=True)
class OptionProblem:
    """What is wrong with one option of a command: `unknown`, `missing` or `type`."""

    command: str
    option: str
    kind: str
    accepted: str
    known: tuple[str, ...] = ()


def leaf_options(data: Any) -> list[Any]:
    """The options given to the subcommand itself, below any subcommand and group."""
    options = data.get("options") if isinstance(data, dict) else None
    while isinstance(options, list) and options and isinstance(options[0], dict) \
            and options[0].get("type") in _NESTING:
        options = options[0].get("options")
    return options if isinstance(options, list) else []


def accepted(param: Parameter) -> str:
    """What a parameter accepts, in words."""
    if param.choices:
        return "one of " + ", ".join(str(choice.value) for choice in param.choices)
    return {
        AppCommandOptionType.string: "text",
        AppCommandOptionType.integer: "a whole number",
        AppCommandOptionType.number: "a number",
        AppCommandOptionType.boolean: "True or False",
        AppCommandOptionType.user: "a member",
        AppCommandOptionType.channel: "a channel",
        AppCommandOptionType.role: "a role",
        AppCommandOptionType.mentionable: "a member or a role",
        AppCommandOptionType.attachment: "a file",
    }.get(param.type, param.type.name)


def _fits(param: Parameter, option: dict[str, Any]) -> bool:
    value = option.get("value")
    if option.get("type") != param.type.value:
        return False
    if param.type is AppCommandOptionType.string:
        fits = isinstance(value, str)
    elif param.type is AppCommandOptionType.integer:
        fits = isinstance(value, int) and not isinstance(value, bool)
    elif param.type is AppCommandOptionType.number:
        fits = isinstance(value, int | float) and not isinstance(value, bool)
    elif param.type is AppCommandOptionType.boolean:
        fits = isinstance(value, bool)
    elif param.type in _SNOWFLAKES:
        fits = str(value).isascii() and str(value).isdigit()
    else:
        fits = True
    if fits and param.choices and not option.get("focused"):
        fits = any(choice.value == value for choice in param.choices)
    return fits


def problem_of(command: Command[Any, ..., Any], data: Any,
               autocomplete: bool = False) -> OptionProblem | None:
    """The first option that does not fit the command's parameters, or None."""
    params = {p.display_name: p for p in command.parameters}
    name = f"/{command.qualified_name}"
    given: set[str] = set()
    for option in leaf_options(data):
        key = option.get("name") if isinstance(option, dict) else None
        param = params.get(key) if isinstance(key, str) else None
        if param is None:
            shown = key if isinstance(key, str) and key.strip() else "(no name)"
            return OptionProblem(name, shown, "unknown", "", tuple(params))
        given.add(param.display_name)
        if autocomplete and option.get("focused"):
            continue  # what is being typed is not yet of the option's type
        if not _fits(param, option):
            return OptionProblem(name, param.display_name, "type", accepted(param))
    if not autocomplete:
        for param in params.values():
            if param.required and param.display_name not in given:
                return OptionProblem(name, param.display_name, "missing", accepted(param))
    return None
