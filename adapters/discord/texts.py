"""What only the Discord adapter says (everything else comes from bot/render.py)."""

from __future__ import annotations

from adapters.discord.options import OptionProblem
from bot.richtext import Code, Message, Text

OUTDATED = ("Discord may still show an older version of this command: try again in a "
            "minute, or reload Discord (Ctrl+R).")


def option_problem(problem: OptionProblem) -> Message:
    """The answer to options that do not fit the command: which one, and what it takes."""
    if problem.kind == "unknown":
        known = ", ".join(problem.known) or "none"
        return Message((Code(problem.command), Text(" has no option "), Code(problem.option),
                        Text(f" (its options: {known}). " + OUTDATED)))
    if problem.kind == "missing":
        return Message((Code(problem.command), Text(" needs the option "), Code(problem.option),
                        Text(f" ({problem.accepted}). " + OUTDATED)))
    return Message((Text("The option "), Code(problem.option), Text(" of "),
                    Code(problem.command),
                    Text(f" takes {problem.accepted}. " + OUTDATED)))


def command_outdated() -> Message:
    """The answer to a command or subcommand this version of the bot does not have."""
    return Message((Text("I don't have that command (any more). " + OUTDATED + " Every "
                         "command: /watchparty help."),))
