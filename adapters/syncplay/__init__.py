"""Following a Syncplay room: the bot joins as a watcher that plays no file."""

from adapters.syncplay.feed import SyncplayFeed

__all__ = ["SyncplayFeed"]
