"""Members of a channel: list, add (with the role rules), remove or leave."""

from __future__ import annotations

from parley.core.codes import ErrorCode
from parley.core.errors import ClientError
from parley.core.records import Member, Page, Role
from parley.domain import access, rules
from parley.store import Store, sql


class MemberService:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def list_members(
        self, org: str, user_id: str, channel_id: str, *, limit: int | None, cursor: str | None
    ) -> Page[Member]:
        n = rules.check_limit(limit, cap=rules.MAX_PAGE_LIMIT)
        await access.membership(self.store, org, user_id, channel_id)
        async with access.store_errors(cursor=True):
            return await self.store.read(
                sql.members.list_members, org, channel_id, limit=n, cursor=cursor or None
            )

    async def add_member(
        self, org: str, user_id: str, channel_id: str, target: str, role: str = "member"
    ) -> tuple[Member, bool]:
        """Add ``target``; return the membership and whether it is new (an existing member
        is returned unchanged)."""
        rules.check_user_id(target)
        try:
            trole = Role(role)
        except ValueError:
            raise rules.bad("role must be one of: owner, admin, member") from None
        channel, actor = await access.membership(self.store, org, user_id, channel_id)
        rules.check_add_member(channel.kind, actor, trole)
        await access.check_reachable(self.store, org, user_id, [target])  # blocks, deletions
        async with access.store_errors():
            event = await self.store.write(
                sql.members.add_member, org, channel_id, target, role=trole, actor=user_id
            )
        member = await self.store.read(sql.members.get_member, org, channel_id, target)
        if member is None:  # removed again in between
            raise ClientError(ErrorCode.CONFLICT, "membership changed concurrently; retry")
        return member, event is not None

    async def remove_member(self, org: str, user_id: str, channel_id: str, target: str) -> None:
        channel, actor = await access.membership(self.store, org, user_id, channel_id)
        member = None
        if rules.is_clean(target):
            member = await self.store.read(sql.members.get_member, org, channel_id, target)
        if member is None:
            raise ClientError(ErrorCode.NOT_FOUND, "no such member")
        rules.check_remove_member(channel.kind, actor, member)
        async with access.store_errors():
            await self.store.write(
                sql.members.remove_member, org, channel_id, target, actor=user_id
            )
