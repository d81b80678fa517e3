"""Fixtures of the Syncplay tests: real Syncplay servers and the scripted host player."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from scripted_host import ScriptedHost
from syncplay_server import PASSWORD, SyncplayServer, make_certificates, require_syncplay


@pytest.fixture(scope="session")
def syncplay_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SyncplayServer]:
    """One open Syncplay server shared by the tests; each test uses rooms of its own."""
    server = SyncplayServer(require_syncplay(), tmp_path_factory.mktemp("syncplay") / "log")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def protected_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SyncplayServer]:
    """A Syncplay server with a password."""
    server = SyncplayServer(require_syncplay(), tmp_path_factory.mktemp("syncplay-pw") / "log",
                            password=PASSWORD)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SyncplayServer, Path]]:
    """A Syncplay server that offers TLS with a test CA's certificate; with that CA's file."""
    binary = require_syncplay()
    folder = tmp_path_factory.mktemp("syncplay-tls")
    ca = make_certificates(folder)
    server = SyncplayServer(binary, folder / "log", tls_dir=folder)
    server.start()
    yield server, ca
    server.stop()


@pytest.fixture
def own_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SyncplayServer]:
    """A Syncplay server for one test alone (it gets restarted)."""
    server = SyncplayServer(require_syncplay(), tmp_path_factory.mktemp("syncplay-own") / "log")
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def hosts() -> AsyncIterator[list[ScriptedHost]]:
    """Scripted host players that tests append to; they leave at the end."""
    joined: list[ScriptedHost] = []
    yield joined
    for host in joined:
        await host.leave()
