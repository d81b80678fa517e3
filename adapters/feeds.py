"""The feed opener: a validated source address becomes the adapter that follows it."""

from __future__ import annotations

from adapters.jellyfin import JellyfinFeed
from adapters.syncplay import SyncplayFeed
from bot.errors import UserError
from bot.feeds import Feed, FeedOpener, FeedSource, ensure_allowed, parse_source
from bot.ports import Clock
from bot.settings import Settings

HTTPS_PORTS = frozenset({443, 8920})  # Jellyfin's HTTPS port and the web's


def jellyfin_base_url(source: FeedSource) -> str:
    """Return the HTTP(S) base of a Jellyfin source: HTTPS on 443 and 8920, else HTTP."""
    scheme = "https" if source.port in HTTPS_PORTS else "http"
    host = f"[{source.host}]" if ":" in source.host else source.host
    return f"{scheme}://{host}:{source.port}"


def feed_opener(settings: Settings, clock: Clock, *, name: str = "watchparty") -> FeedOpener:
    """Return the function that opens a feed; `name` is the watcher name others see."""

    def open_feed(source: FeedSource) -> Feed:
        # the core validated the address; the allowed hosts are checked again at the edge
        ensure_allowed(source, settings.allowed_feed_hosts())
        if source.kind == "syncplay":
            password = settings.syncplay_password
            return SyncplayFeed(source.host, source.port, source.target, clock=clock,
                                username=name,
                                password=password.get_secret_value() if password else None)
        if settings.jellyfin_api_key is None:
            raise UserError("feed_jellyfin_key_missing")
        return JellyfinFeed(jellyfin_base_url(source), source.target, clock=clock,
                            api_key=settings.jellyfin_api_key.get_secret_value())

    return open_feed


def open_source(text: str, settings: Settings, clock: Clock, *,
                name: str = "watchparty") -> Feed:
    """Validate an address typed in a chat and open its feed; nothing connects until followed."""
    return feed_opener(settings, clock, name=name)(
        parse_source(text, settings.allowed_feed_hosts()))
