"""The HTTP listener a worker opens on PORT: `GET /healthz`, and the Telegram webhook.

The composition root opens it and hands it the routes the adapters serve (the webhook), so no
adapter opens a port of its own and no adapter imports another.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

log = logging.getLogger(__name__)

Health = Callable[[], Awaitable[tuple[bool, dict[str, Any]]]]


class WebServer:
    """An aiohttp server on `host:port` with /healthz and the adapters' routes."""

    def __init__(self, port: int, health: Health, routes: list[web.RouteDef], *,
                 host: str = "0.0.0.0") -> None:
        # Every interface: Telegram and the platform's health checks reach a worker from outside.
        self.host = host
        self.port = port
        self._health = health
        self._routes = routes
        self._runner: web.AppRunner | None = None

    async def _healthz(self, request: web.Request) -> web.Response:
        ok, body = await self._health()
        return web.json_response(body, status=200 if ok else 503)

    async def start(self) -> None:
        """Listen; a port that is taken is the operator's to fix, so it is raised."""
        app = web.Application(client_max_size=2 * 1024 * 1024)
        app.router.add_get("/healthz", self._healthz)
        app.add_routes(self._routes)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None,
                                     shutdown_timeout=5.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        try:
            await site.start()
        except OSError as exc:
            await self._runner.cleanup()
            self._runner = None
            raise OSError(f"cannot listen on port {self.port}: {exc.strerror}") from exc
        log.info("listening on port %d (/healthz%s)", self.port,
                 "".join(f", {r.path}" for r in self._routes if isinstance(r, web.RouteDef)))

    async def stop(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
