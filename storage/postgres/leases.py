"""Leased actions on PostgreSQL: claims that skip what another worker's claim holds, leases
renewed and outcomes written only under the owner's fence, and the reaping of dead leases."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from bot.actions import Action, ActionStatus, Outcome
from storage.postgres import rows
from storage.postgres.work import affected

# Two ordered scans of partial indexes (unleased pending by due time; ran-out leases), each
# locking what it takes and skipping rows another worker's claim holds, merged, the first
# `limit` leased: no two workers ever claim one action, and neither waits for the other.
CLAIM = f"""
WITH fresh AS (
    SELECT id, due_at FROM actions
    WHERE status = 'pending' AND acquired_until IS NULL AND due_at <= $1
    ORDER BY due_at, id LIMIT $4 FOR UPDATE SKIP LOCKED
), expired AS (
    SELECT id, due_at FROM actions
    WHERE status = 'pending' AND acquired_until IS NOT NULL AND acquired_until <= $1
      AND due_at <= $1
    ORDER BY due_at, id LIMIT $4 FOR UPDATE SKIP LOCKED
), picked AS (
    SELECT id FROM (SELECT * FROM fresh UNION ALL SELECT * FROM expired) AS both_kinds
    ORDER BY due_at, id LIMIT $4
)
UPDATE actions AS a SET acquired_by = $2, acquired_until = $3, fence = a.fence + 1
FROM picked WHERE a.id = picked.id
RETURNING {', '.join(f'a.{c.strip()}' for c in rows.ACTION_COLUMNS.split(','))}
"""
NEXT_WAKEUP = """
SELECT
    (SELECT due_at FROM actions
     WHERE status = 'pending' AND acquired_until IS NULL ORDER BY due_at LIMIT 1),
    (SELECT MIN(GREATEST(due_at, acquired_until)) FROM actions
     WHERE status = 'pending' AND acquired_until IS NOT NULL)
"""
RENEW = """
UPDATE actions AS a SET acquired_until = $3
FROM unnest($1::bigint[], $2::integer[]) AS l(id, fence)
WHERE a.id = l.id AND a.fence = l.fence AND a.acquired_by = $4 AND a.status = 'pending'
RETURNING a.id
"""
FINISH = """
UPDATE actions AS a SET status = o.status
FROM unnest($1::bigint[], $2::integer[], $3::text[]) AS o(id, fence, status)
WHERE a.id = o.id AND a.fence = o.fence AND a.acquired_by = $4
RETURNING a.id, a.fence
"""
REAP = ("UPDATE actions SET acquired_by = NULL, acquired_until = NULL WHERE status = 'pending'"
        " AND acquired_until IS NOT NULL AND (acquired_until <= $1 OR acquired_by = $2)")


async def claim(conn: asyncpg.Connection, now: datetime, owner: str, lease_until: datetime,
                limit: int) -> list[Action]:
    """Lease up to `limit` pending actions due by `now` to `owner`, earliest first."""
    found = await conn.fetch(CLAIM, rows.aware(now), owner, rows.aware(lease_until), limit)
    claimed = [rows.action(row) for row in found]
    claimed.sort(key=lambda a: (a.due_at, a.id or 0))
    return claimed


async def next_wakeup(conn: asyncpg.Connection) -> datetime | None:
    """The earliest instant a pending action can be claimed (due, or lease expiry)."""
    due, lease = await conn.fetchrow(NEXT_WAKEUP)
    times = [t for t in (due, lease) if t is not None]
    return min(times) if times else None


async def renew(conn: asyncpg.Connection, owner: str, leases: list[tuple[int, int]],
                lease_until: datetime) -> list[int]:
    """Extend the leases (action id, fence) `owner` still holds; return the ids extended."""
    found = await conn.fetch(RENEW, [i for i, _ in leases], [f for _, f in leases],
                             rows.aware(lease_until), owner)
    renewed = {row[0] for row in found}
    return [action_id for action_id, _ in leases if action_id in renewed]


async def finish(conn: asyncpg.Connection, owner: str, outcomes: list[Outcome]) -> list[Outcome]:
    """Write the outcomes `owner` still holds under their fence; return those written."""
    found = await conn.fetch(FINISH, [o.action_id for o in outcomes], [o.fence for o in outcomes],
                             [ActionStatus(o.status).value for o in outcomes], owner)
    written = {(row[0], row[1]) for row in found}
    return [o for o in outcomes if (o.action_id, o.fence) in written]


async def reap(conn: asyncpg.Connection, now: datetime, owner: str) -> int:
    """Drop leases that ran out by `now` or are held under `owner`; return how many."""
    return affected(await conn.execute(REAP, rows.aware(now), owner))
