"""Buttons and the Answer modal, built from the core's button data and read back from custom_id.

Every component carries its action in `custom_id` (the core's button data, at most 64 bytes), and
every click or submit is handled by `on_interaction` from that id alone. The `View`s and `Modal`s
built here exist only to produce the request payload: they are stopped before they are sent, so
discord.py keeps no live object for them and a click works the same after a restart.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import discord

from bot import buttons
from bot.richtext import Button

ANSWER_FIELD = "answer"
ANSWER_MAX = 4000  # the core's limit, and Discord's for a text input
LABEL_LIMIT = 80

_STYLES = {
    "going": discord.ButtonStyle.success,
    "maybe": discord.ButtonStyle.secondary,
    "not_going": discord.ButtonStyle.danger,
}


def _style(data: str) -> discord.ButtonStyle:
    decoded = buttons.decode(data)
    if decoded is not None and decoded.rsvp is not None:
        return _STYLES.get(decoded.rsvp.value, discord.ButtonStyle.secondary)
    if decoded is not None and decoded.approve is not None:
        return discord.ButtonStyle.success if decoded.approve else discord.ButtonStyle.danger
    return discord.ButtonStyle.primary


def view_for(rows: tuple[tuple[Button, ...], ...]) -> discord.ui.View | None:
    """Return a payload-only view of the message's button rows (None when it has none)."""
    if not rows:
        return None
    view = discord.ui.View(timeout=None)
    for number, row in enumerate(rows[:5]):
        for button in row[:5]:
            view.add_item(discord.ui.Button(label=button.label[:LABEL_LIMIT],
                                            custom_id=button.data, style=_style(button.data),
                                            row=number))
    view.stop()  # no live view: clicks are handled from custom_id by on_interaction
    return view


# The core's codec reads every custom_id; these names are what the interactions use.
is_answer = buttons.is_answer
answer_target = buttons.answer_target


def answer_modal(custom_id: str, question: str | None) -> discord.ui.Modal:
    """Return the payload-only modal that the Answer button opens."""
    target = answer_target(custom_id)
    ref = target[1] if target else "?"
    modal = discord.ui.Modal(title=f"Your answer to Q{ref}"[:45], custom_id=custom_id,
                             timeout=None)
    field: discord.ui.TextInput[Any] = discord.ui.TextInput(
        custom_id=ANSWER_FIELD, style=discord.TextStyle.paragraph, required=True,
        max_length=ANSWER_MAX, placeholder="Everyone in the channel will see it")
    description = None
    if question:
        description = question if len(question) <= 100 else question[:99] + "…"
    modal.add_item(discord.ui.Label(text="Answer", component=field, description=description))
    modal.stop()  # no live modal: the submit is handled from custom_id by on_interaction
    return modal


def _walk(components: list[Any]) -> Iterator[dict[str, Any]]:
    # A forged submit may hold anything where components belong: only dicts are components.
    for component in components:
        if not isinstance(component, dict):
            continue
        yield component
        if isinstance(component.get("component"), dict):  # a label holds one component
            yield from _walk([component["component"]])
        if isinstance(component.get("components"), list):  # an action row holds several
            yield from _walk(component["components"])


def submitted_answer(data: Any) -> str | None:
    """Return the text typed into the Answer modal, from a modal submit's data."""
    found = data.get("components") if isinstance(data, dict) else None
    for component in _walk(found if isinstance(found, list) else []):
        if component.get("custom_id") == ANSWER_FIELD and isinstance(component.get("value"),
                                                                     str):
            return str(component["value"])
    return None


def question_of(message: discord.Message | None) -> str | None:
    """Return the question line of a prompt message (`Q1. …`), for the modal's hint."""
    if message is None:
        return None
    for line in message.content.splitlines():
        stripped = line.replace("**", "").replace("\\", "")
        if stripped.startswith("Q") and ". " in stripped[:6]:
            return stripped.split(". ", 1)[1].strip() or None
    return None
