"""Blocking a user: private to the blocker, reversible, never revealed to the blocked user
(docs/privacy.md). What a block does elsewhere is one line at each place: adding someone
who blocked you (:func:`parley.domain.access.check_reachable`), mentions
(:mod:`parley.domain.mentions`), unread counts (store SQL) and collapsed views
(:mod:`parley.domain.views`)."""

from __future__ import annotations

from datetime import datetime

from parley.domain import rules
from parley.store import Store, sql


class BlockService:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def block(self, org: str, user_id: str, target: str) -> bool:
        """Block ``target``; whether the block is new (blocking again changes nothing)."""
        target = rules.check_user_id(target)
        if target == user_id:
            raise rules.bad("you cannot block yourself")
        return await self.store.write(sql.blocks.set_block, org, user_id, target, on=True)

    async def unblock(self, org: str, user_id: str, target: str) -> bool:
        """Lift a block; whether there was one."""
        target = rules.check_user_id(target)
        return await self.store.write(sql.blocks.set_block, org, user_id, target, on=False)

    async def blocks(self, org: str, user_id: str) -> list[tuple[str, datetime]]:
        """Who I blocked, and since when, oldest first."""
        return await self.store.read(sql.blocks.blocks_of, org, user_id)
