"""Reads tests make through the store's real API (no store method exists only for tests)."""

from __future__ import annotations

from bot.actions import Action
from bot.ports import Store


async def pending_actions(store: Store, party_id: int) -> list[Action]:
    """A party's pending actions by due time, as a unit of work on the party reads them."""
    async with store.party(party_id) as tx:
        return await tx.pending_actions()


async def count_records(store: Store, party_id: int) -> int:
    """How many records a party has, counted from the export stream."""
    return sum([1 async for _ in store.iter_records(party_id)])
