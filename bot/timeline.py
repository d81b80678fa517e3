"""The film clock: where the film should be, given GO, pauses and resumes."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.party import Party, PartyState


def position(party: Party, now: datetime) -> float | None:
    """Return the film position in seconds at `now`, or None before GO.

    Position is time since GO minus time spent paused, plus what seeks moved it by; while
    paused (or waiting for a resume countdown) it stays where the pause left it.
    """
    if party.go_at is None or now < party.go_at:
        return None
    if party.state is PartyState.PAUSED and party.paused_at is not None:
        now = min(now, party.paused_at)
    elif party.state is PartyState.FINISHED and party.finished_at is not None:
        now = min(now, party.finished_at)
    elapsed = (now - party.go_at).total_seconds() - party.paused_seconds + party.seek_seconds
    return max(0.0, elapsed)


def instant_of(party: Party, film_seconds: float) -> datetime:
    """Return the instant the film reaches `film_seconds`, if it plays on without pausing."""
    if party.go_at is None:
        raise ValueError("the film has not started")
    return party.go_at + timedelta(
        seconds=film_seconds + party.paused_seconds - party.seek_seconds)


def set_position(party: Party, now: datetime, film_seconds: float) -> None:
    """Set the film clock to `film_seconds` at `now` (a seek), playing or paused."""
    if party.go_at is None:
        raise ValueError("the film has not started")
    if party.state is PartyState.PAUSED and party.paused_at is not None:
        now = min(now, party.paused_at)
    played = (now - party.go_at).total_seconds() - party.paused_seconds
    party.seek_seconds = film_seconds - played
