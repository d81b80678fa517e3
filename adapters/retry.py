"""How a feed waits before it tries a lost source again."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential waits between reconnects: `first`, doubled each failure, capped at `most`."""

    first: float = 1.0
    most: float = 15.0

    def after(self, delay: float) -> float:
        """Return the wait that follows a wait of `delay`."""
        return min(self.most, max(self.first, delay * 2))
