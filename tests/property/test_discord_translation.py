"""The Discord interaction translation on arbitrary JSON: the Answer form's text, the prompt
behind an Answer button, and the options check in front of every slash command."""

from __future__ import annotations

from typing import Any

from discord import AppCommandOptionType
from discord.app_commands import Command
from hypothesis import example, given
from hypothesis import strategies as st

from adapters.discord import components, texts
from adapters.discord.commands import WatchpartyGroup
from adapters.discord.interactions import Interactions
from adapters.discord.options import leaf_options, problem_of
from tests.property.checks import PROPERTY

JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
                    | st.text(max_size=12),
                    lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.text(max_size=10), inner, max_size=4), max_leaves=15)


def _commands() -> list[Command[Any, ..., Any]]:
    found: list[Command[Any, ..., Any]] = []
    todo: list[Any] = [WatchpartyGroup(Interactions())]
    while todo:
        node = todo.pop()
        for child in node.commands:
            (found if isinstance(child, Command) else todo).append(child)
    return found


COMMANDS = _commands()
_VALUE_TYPES: dict[AppCommandOptionType, tuple[type, ...]] = {
    AppCommandOptionType.string: (str,), AppCommandOptionType.integer: (int,),
    AppCommandOptionType.boolean: (bool,), AppCommandOptionType.number: (int, float)}


@st.composite
def command_data(draw: st.DrawFn, command: Command[Any, ..., Any]) -> Any:
    """Slash-command data shaped like the command's, with names, types and values drawn."""
    names = [p.display_name for p in command.parameters]
    option = st.fixed_dictionaries(
        {"name": st.sampled_from(names) | st.text(max_size=8) if names else st.text(max_size=8),
         "type": st.sampled_from([3, 4, 5, 6, 8, 10, 11]) | st.integers(-1, 20),
         "value": JSON}, optional={"focused": st.booleans()})
    leaf = draw(st.lists(option | JSON, max_size=4))
    for name in reversed(command.qualified_name.split()[1:]):
        leaf = [{"name": name, "type": 1, "options": leaf}]
    return draw(st.just({"name": "watchparty", "type": 1, "options": leaf}) | JSON)


@PROPERTY
@given(st.data())
def test_options_that_pass_the_check_fit_the_command(data: st.DataObject) -> None:
    command = data.draw(st.sampled_from(COMMANDS))
    raw = data.draw(command_data(command))
    problem = problem_of(command, raw)
    if problem is not None:
        assert problem.option and texts.option_problem(problem).plain().strip()
        return
    params = {p.display_name: p for p in command.parameters}
    given_names = set()
    for option in leaf_options(raw):
        param = params[option["name"]]
        given_names.add(param.display_name)
        assert option["type"] == param.type.value
        wanted = _VALUE_TYPES.get(param.type)
        if wanted is not None:
            assert isinstance(option["value"], wanted)
            assert param.type is AppCommandOptionType.boolean \
                or not isinstance(option["value"], bool)
    assert {p.display_name for p in command.parameters if p.required} <= given_names


@PROPERTY
@given(JSON | st.fixed_dictionaries({"custom_id": st.text(max_size=20),
                                     "components": st.lists(JSON, max_size=3)}))
@example({"components": 3})
@example({"components": [[{"custom_id": "answer", "value": 1}]]})
@example({"components": [{"type": 18, "component": "answer"}]})
def test_a_submitted_form_yields_its_text_or_nothing(data: Any) -> None:
    answer = components.submitted_answer(data)
    assert answer is None or isinstance(answer, str)


def test_an_option_with_no_name_is_shown_as_such() -> None:
    """Found by the property above: an option named "" was reported as the option ``."""
    [list_command] = [c for c in COMMANDS if c.qualified_name == "watchparty list"]
    data = {"name": "watchparty", "type": 1, "options": [
        {"name": "list", "type": 1, "options": [{"name": "", "type": 3, "value": None}]}]}
    problem = problem_of(list_command, data)
    assert problem is not None and problem.option == "(no name)"
    assert "has no option (no name)" in texts.option_problem(problem).plain()
