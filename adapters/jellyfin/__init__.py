"""Following a Jellyfin user's playing session, read from the server's /Sessions."""

from adapters.jellyfin.feed import JellyfinFeed

__all__ = ["JellyfinFeed"]
