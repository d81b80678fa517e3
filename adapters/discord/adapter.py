"""The Discord adapter as the composition root sees it: a gateway for the outbox, and `run`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import discord
import discord.gateway
import discord.http
import yarl

from adapters.discord.client import ShardedWatchpartyClient, WatchpartyClient
from adapters.discord.gateway import PLATFORM, DiscordGateway
from adapters.discord.interactions import Interactions
from bot.errors import ConfigurationError
from bot.lifecycle import Shutdown
from bot.ratelimits import RateLimits
from bot.service import WatchParty
from bot.settings import Settings

log = logging.getLogger(__name__)

# On stop, how long received reactions and votes get to be recorded before the bot goes on.
DRAIN_SECONDS = 10.0


def redirect(api_base_url: str, gateway_url: str) -> None:
    """Point discord.py's REST and gateway at these addresses (a rate-limit proxy, a test server).

    discord.py builds every REST URL, interaction callbacks and webhooks included, from
    `Route.BASE` at call time, and a plain Client connects to `DEFAULT_GATEWAY` (then to the
    `resume_gateway_url` READY gives). Both are class attributes, so this is process-wide.
    """
    discord.http.Route.BASE = api_base_url.rstrip("/")
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)


class DiscordAdapter:
    """Connects the core to Discord: slash commands, buttons, modals, reactions and votes in;
    posts, edits and uploads out through the outbox."""

    platform = PLATFORM

    def __init__(self, settings: Settings) -> None:
        if settings.discord_token is None:
            raise ConfigurationError("DISCORD_TOKEN is not set")
        self._token = settings.discord_token
        self._api_base_url = settings.discord_api_base_url
        self._gateway_url = settings.discord_gateway_url
        self.limits = RateLimits.parse(settings.discord_rate_limits)
        self.bridge = Interactions()
        self.shards = settings.shard_ids()
        if not self.shards:  # every shard, or none at all (a worker that only sends)
            self.client: WatchpartyClient = WatchpartyClient(
                dev_guild_id=settings.discord_dev_guild_id, bridge=self.bridge)
        else:
            self.client = ShardedWatchpartyClient(
                dev_guild_id=settings.discord_dev_guild_id, bridge=self.bridge,
                shard_count=settings.discord_shard_count, shard_ids=list(self.shards))
        self.gateway = DiscordGateway(self.client, self.client.logged_in, self.client.events)

    async def _login_only(self, token: str) -> None:
        """Log in and stay logged in until the client is closed, without a gateway."""
        await self.client.login(token)
        log.info("Discord: logged in to send only (DISCORD_SHARD_IDS=none)")
        await asyncio.Event().wait()

    def health(self) -> dict[str, Any]:
        """What GET /healthz says of Discord: the shards this worker holds (None: all)."""
        return {"shards": None if self.shards is None else list(self.shards)}

    async def run(self, core: WatchParty, shutdown: Shutdown) -> None:
        """Log in, publish the commands, serve the gateway until `shutdown.stop`, let received
        reactions and votes be recorded, and disconnect once `shutdown.disconnect` is set."""
        redirect(self._api_base_url, self._gateway_url)
        self.bridge.core = core
        # With no shard of its own a worker logs in (REST) and never opens the gateway: it
        # posts what it fires to any server, and receives nothing.
        connect = (self.client.start if self.shards != () else self._login_only)
        client_task = asyncio.create_task(connect(self._token.get_secret_value()),
                                          name="discord-client")
        stop_task = asyncio.create_task(shutdown.stop.wait(), name="discord-stop")
        try:
            await asyncio.wait({client_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
            if not client_task.done():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.client.drained(), DRAIN_SECONDS)
                shutdown.idle.set()
                # Fired posts and replies still queued leave through this connection.
                stop_task = asyncio.create_task(shutdown.disconnect.wait(),
                                                name="discord-disconnect")
                await asyncio.wait({client_task, stop_task},
                                   return_when=asyncio.FIRST_COMPLETED)
            if client_task.done():
                exc = client_task.exception()
                if isinstance(exc, discord.LoginFailure):
                    raise ConfigurationError("DISCORD_TOKEN: Discord refused the token (reset "
                                             "it on the Developer Portal's Bot page)") from exc
                if isinstance(exc, discord.PrivilegedIntentsRequired):
                    raise ConfigurationError("Discord refused the gateway intents") from exc
                if exc is not None:
                    raise exc
                log.warning("the Discord client stopped on its own")
        finally:
            stop_task.cancel()
            await self.client.close()
            if not client_task.done():
                client_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await client_task
            log.info("disconnected from Discord")


def create_adapter(settings: Settings) -> DiscordAdapter:
    """Build the Discord adapter (called by the composition root when DISCORD_TOKEN is set)."""
    return DiscordAdapter(settings)
