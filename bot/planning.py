"""Planning a party's actions: pure functions from the party, its guide and settings to actions."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.actions import Action, ActionKind
from bot.chats import ChatSettings
from bot.guide import Guide
from bot.party import Party
from bot.timeline import instant_of, position

NO_GUIDE_RUNTIME = timedelta(hours=2)
PRE_START_KINDS = frozenset({ActionKind.REMINDER, ActionKind.READY_CHECK, ActionKind.COUNTDOWN,
                             ActionKind.GO})
FILM_KINDS = frozenset({ActionKind.PROMPT, ActionKind.SUMMARY, ActionKind.RESUME_GO})


def pre_start_actions(party: Party, settings: ChatSettings, now: datetime,
                      ready_check: timedelta, countdown: timedelta) -> list[Action]:
    """Reminders, the ready check, the countdown and GO still ahead of a party's start."""
    actions = [Action(party.id, ActionKind.REMINDER, party.starts_at - before,
                      {"before": int(before.total_seconds())})
               for before in settings.reminders if party.starts_at - before > now]
    ready_at = party.starts_at - ready_check
    if ready_at > now:
        actions.append(Action(party.id, ActionKind.READY_CHECK, ready_at))
    countdown_at = max(now, party.starts_at - countdown)
    actions.append(Action(party.id, ActionKind.COUNTDOWN, countdown_at))
    actions.append(Action(party.id, ActionKind.GO, party.starts_at))
    return actions


def film_actions(party: Party, guide: Guide | None, now: datetime) -> list[Action]:
    """Prompts still ahead in the film, and the closing summary, from the timeline."""
    at = position(party, now) or 0.0
    actions: list[Action] = []
    end = NO_GUIDE_RUNTIME.total_seconds()
    if guide is not None:
        end = guide.runtime_seconds
        for index, chapter in enumerate(guide.chapters, start=1):
            if chapter.ends_at_seconds > at:
                actions.append(Action(party.id, ActionKind.PROMPT,
                                      instant_of(party, chapter.ends_at_seconds),
                                      {"chapter": index}))
        end = max(end, guide.chapters[-1].ends_at_seconds) if guide.chapters else end
    actions.append(Action(party.id, ActionKind.SUMMARY, instant_of(party, max(end, at))
                          + timedelta(seconds=1)))
    return actions


def moved_pre_start_actions(party: Party, pending: list[Action], now: datetime,
                            ready_check: timedelta, countdown: timedelta) -> list[Action]:
    """The pre-start actions of a party whose start moved: those still pending, re-timed.

    A reminder or ready check that already fired is not pending, so it is not planned again;
    one whose new instant has passed is dropped; the countdown and GO follow the new start.
    """
    actions: list[Action] = []
    for action in pending:
        if action.kind is ActionKind.REMINDER:
            due = party.starts_at - timedelta(seconds=int(action.payload.get("before", 0)))
            if due > now:
                actions.append(Action(party.id, ActionKind.REMINDER, due, dict(action.payload)))
        elif action.kind is ActionKind.READY_CHECK and party.starts_at - ready_check > now:
            actions.append(Action(party.id, ActionKind.READY_CHECK,
                                  party.starts_at - ready_check))
    actions.append(Action(party.id, ActionKind.COUNTDOWN, max(now, party.starts_at - countdown)))
    actions.append(Action(party.id, ActionKind.GO, party.starts_at))
    return actions
