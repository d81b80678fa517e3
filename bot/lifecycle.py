"""How the composition root stops a platform adapter: its intake first, its connection last."""

from __future__ import annotations

import asyncio


class Shutdown:
    """The two steps of stopping an adapter, and the adapter's word that the first is done.

    Replies to events still in flight when the intake closes leave through the outbox, and the
    outbox needs the adapter's connection: so `app.serve` drains the outbox between the steps.
    """

    def __init__(self) -> None:
        self.stop = asyncio.Event()
        """Set by the root: take no new events, finish those in flight."""
        self.idle = asyncio.Event()
        """Set by the adapter: nothing it took in is still being handled."""
        self.disconnect = asyncio.Event()
        """Set by the root once the outbox has delivered: close the connection."""
