"""What only the console says (bot messages come from bot/render.py)."""

from __future__ import annotations

from bot.party import Party, PartyState

HELP = """\
Console commands (besides /watchparty …):
  N  or  press N        press button N
  reply N TEXT          answer prompt N
  react N EMOJI         react to prompt N (unreact N EMOJI removes it)
  vote N K              vote for option K in poll N
  as NAME               speak as another (non-moderator) person; `as me` to come back
  wait DURATION         let the film clock run (e.g. wait 30m; at --speed 60 that is 30 s)
  help                  this text;  quit  leaves (Ctrl-D and Ctrl-C too)
Numbers: prompts and buttons are counted separately. `reply 2` and `react 2` mean the second
question posted (each question shows its own `reply N … to answer`); `2` alone presses the
button shown as [2]. Polls have their own numbers too (`vote N K`)."""

_STILL = {PartyState.COUNTING_DOWN: "counting down", PartyState.PLAYING: "still playing",
          PartyState.PAUSED: "paused"}


def wait_usage(text: str) -> str:
    """Said when `wait` is given something that is not a duration."""
    return (f"“{text}” isn't a duration to wait. Write wait DURATION, e.g. wait 90s, wait 30m "
            "or wait 1h30m (up to 7 days).")


def rehearsal_banner(speed: float) -> str:
    """The first line of a `--speed` rehearsal: what runs faster and what is kept."""
    return (f"Rehearsal at {speed:g}× speed: the film clock runs {speed:g} times faster. Its "
            "parties live in memory only and end when you leave (an export you ask for is "
            "still saved as a file).")


def updated(title: str) -> str:
    """The head of the line for a bot message that was edited, naming it by its first line."""
    return f"(updated: {title}) "


def left_behind(party: Party, grace_minutes: float) -> str:
    """Said at quit for each party of this chat that the stored schedule goes on with."""
    if party.state is PartyState.SCHEDULED:
        return (f"Party `{party.code}` ({party.title}) stays scheduled; it goes on when the bot "
                f"runs again. To drop it, run the bot and type /watchparty cancel {party.code}.")
    return (f"Party `{party.code}` ({party.title}) is {_STILL.get(party.state, party.state)}: "
            "the next time the bot runs (`make run`), it picks the party up and posts the "
            "prompts that fell due meanwhile, late (or skips them if they are over "
            f"{grace_minutes:g} minutes late). To stop it, run the bot and type "
            f"/watchparty cancel {party.code}.")


def bye(in_memory: bool) -> str:
    """The last line of the console."""
    if in_memory:
        return "Bye. This run's parties were in memory only; nothing was stored."
    return "Bye."
