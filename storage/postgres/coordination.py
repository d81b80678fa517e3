"""What several workers share on PostgreSQL besides parties: named leases, inbound updates
claimed once, and send budgets counted for all of them (the statements of `PostgresStore`)."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from bot.ports import SendScope, UpdateClaim
from bot.ratelimits import longest_window_ms, window_wait_ms
from storage.postgres.work import affected

HOLD_LEASE = (
    "INSERT INTO leases (name, holder, until) VALUES ($1, $2, $4)"
    " ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until"
    " WHERE leases.holder = excluded.holder OR leases.until <= $3"
)
CLAIM_UPDATE = (
    "INSERT INTO inbound_updates (source, update_id, holder, until) VALUES ($1, $2, $3, $5)"
    " ON CONFLICT (source, update_id) DO UPDATE SET holder = excluded.holder,"
    " until = excluded.until WHERE NOT inbound_updates.done"
    " AND (inbound_updates.holder = excluded.holder OR inbound_updates.until <= $4)"
)


async def hold_lease(conn: asyncpg.Connection, name: str, owner: str, now: datetime,
                     until: datetime) -> bool:
    """Take or extend the named lease for `owner`: free, run out, or already `owner`'s."""
    return affected(await conn.execute(HOLD_LEASE, name, owner, now, until)) > 0


async def claim_update(conn: asyncpg.Connection, source: str, update_id: int, owner: str,
                       now: datetime, until: datetime) -> UpdateClaim:
    """Claim an inbound update: DONE if handled before, BUSY while another's claim runs."""
    if affected(await conn.execute(CLAIM_UPDATE, source, update_id, owner, now, until)):
        return UpdateClaim.CLAIMED
    done = await conn.fetchval("SELECT done FROM inbound_updates WHERE source = $1"
                               " AND update_id = $2", source, update_id)
    return UpdateClaim.DONE if done else UpdateClaim.BUSY


async def take_send(conn: asyncpg.Connection, scopes: list[SendScope],
                    now_ms: int) -> tuple[int, str | None]:
    """Count one request against every scope under the scopes' advisory locks (in name order,
    so two workers never wait for each other's), or say how long until it fits."""
    for name in sorted({name for name, _, _ in scopes}):
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", name)
    for name, rates, spare in scopes:
        await conn.execute("DELETE FROM send_slots WHERE scope = $1 AND at_ms <= $2",
                           name, now_ms - longest_window_ms(rates))
        taken = [row[0] for row in await conn.fetch(
            "SELECT at_ms FROM send_slots WHERE scope = $1", name)]
        wait = window_wait_ms(rates, taken, now_ms, spare)
        if wait:
            return wait, name
    await conn.executemany("INSERT INTO send_slots (scope, at_ms) VALUES ($1, $2)",
                           [(name, now_ms) for name, rates, _ in scopes if rates])
    return 0, None
