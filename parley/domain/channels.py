"""Channels: create, read as a member sees it, list mine; the log a member replays."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from parley.core.codes import ErrorCode
from parley.core.errors import ClientError
from parley.core.records import Channel, ChannelEvent, ChannelKind, ChannelSummary, Member, Page
from parley.domain import access, rules
from parley.store import Store, sql
from parley.store.errors import Conflict


@dataclass(frozen=True, slots=True)
class ChannelView:
    """A channel as its member sees it."""

    channel: Channel
    member: Member
    unread: int


class ChannelService:
    def __init__(self, store: Store, *, recovery_limit: int = 10_000) -> None:
        self.store = store
        #: Most events one recovery asks for (the broker asks one more than it replays).
        self.recovery_limit = recovery_limit

    async def create_channel(
        self,
        org: str,
        user_id: str,
        *,
        kind: str,
        name: str = "",
        topic: str = "",
        members: Sequence[str] = (),
    ) -> Channel:
        try:
            ckind = ChannelKind(kind)
        except ValueError:
            kinds = ", ".join(k.value for k in ChannelKind)
            raise rules.bad(f"kind must be one of: {kinds}") from None
        rules.check_user_id(user_id)
        name = rules.check_channel_name(ckind, name)
        topic = rules.check_channel_topic(topic)
        others = rules.check_initial_members(ckind, user_id, list(members))
        await access.check_reachable(self.store, org, user_id, others)  # blocks, deletions
        try:
            channel, _ = await self.store.write(
                sql.channels.create_channel,
                org=org,
                kind=ckind,
                name=name,
                topic=topic,
                created_by=user_id,
                members=others,
            )
        except Conflict:
            raise ClientError(
                ErrorCode.CONFLICT, "a direct channel with this user exists already"
            ) from None
        return channel

    async def get_channel(self, org: str, user_id: str, channel_id: str) -> ChannelView:
        channel, member = await access.membership(self.store, org, user_id, channel_id)
        unread = await self.store.read(sql.receipts.unread_count, org, channel_id, user_id)
        return ChannelView(channel, member, unread)

    async def list_channels(
        self, org: str, user_id: str, *, limit: int | None, cursor: str | None
    ) -> Page[ChannelSummary]:
        n = rules.check_limit(limit, cap=rules.MAX_PAGE_LIMIT)
        async with access.store_errors(cursor=True):
            return await self.store.read(
                sql.channels.list_channels, org, user_id, limit=n, cursor=cursor or None
            )

    async def user_channel_ids(self, org: str, user_id: str) -> set[str]:
        """The channels the user belongs to (the broker's delivery filter)."""
        return await self.store.read(sql.channels.user_channel_ids, org, user_id)

    async def user_channel_sets(
        self, users: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], set[str]]:
        """:meth:`user_channel_ids` of many ``(org, user_id)`` in one store read (the
        broker loads the users of many simultaneous accepts together)."""
        return await self.store.read(sql.channels.user_channel_sets, users)

    async def last_seqs(self, org: str, user_id: str, channel_ids: Sequence[str]) -> dict[str, int]:
        """The log position of each of ``channel_ids`` the user belongs to (others are
        absent: not found, existence not leaked)."""
        return await self.store.read(sql.channels.member_last_seqs, org, user_id, channel_ids)

    async def events_after(
        self, org: str, user_id: str, channel_id: str, after_seq: int, limit: int
    ) -> list[ChannelEvent]:
        """Missed log events for recovery (members only)."""
        rules.check_seq(after_seq, "after_seq")
        limit = rules.check_limit(limit, cap=self.recovery_limit)
        events = None
        if rules.is_clean(channel_id):  # could not exist; PostgreSQL refuses NUL
            events = await self.store.read(
                sql.channels.member_events_after, org, user_id, channel_id, after_seq, limit=limit
            )
        if events is None:  # as access.membership: not found, whether absent or not a member
            raise access.no_channel()
        return events
