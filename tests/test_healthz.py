"""GET /healthz (PRODUCT §9): 200 with the worker's facts while the database answers, else 503."""

from __future__ import annotations

import socket
from pathlib import Path

import aiohttp

from adapters.web import WebServer
from bot import app
from bot.settings import Settings
from storage.sqlite import SqliteStore


def free_port() -> int:
    """A port of 127.0.0.1 nobody listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def get(port: int) -> tuple[int, dict[str, object]]:
    """GET /healthz: the status and the JSON body."""
    async with aiohttp.ClientSession() as http, http.get(
            f"http://127.0.0.1:{port}/healthz") as response:
        return response.status, await response.json()


async def test_healthz_is_503_once_the_database_does_not_answer(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, worker_id="worker-7",
                        database_url=f"sqlite:///{tmp_path / 'wp.db'}")
    store = await SqliteStore.open(tmp_path / "wp.db")
    port = free_port()
    server = WebServer(port, lambda: app.health(settings, store, []), [], host="127.0.0.1")
    await server.start()
    try:
        assert await get(port) == (200, {"worker": "worker-7", "adapters": [], "shards": None,
                                         "poller": None, "database": "ok"})
        await store.close()
        status, body = await get(port)
        assert (status, body["database"], body["worker"]) == (503, "unavailable", "worker-7")
    finally:
        await server.stop()
