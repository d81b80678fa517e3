"""Fixtures of the Jellyfin tests: a fresh fake Jellyfin server."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from fakejellyfin import FakeJellyfin


@pytest.fixture
async def jellyfin() -> AsyncIterator[FakeJellyfin]:
    """A fake Jellyfin on a loopback port."""
    server = FakeJellyfin()
    await server.start()
    yield server
    await server.stop()
