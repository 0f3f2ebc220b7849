"""The chat domain: rules over the store, used by REST (``api``) and the broker (ChannelOps).

Refusals are :class:`ClientError` s. A channel the user is not a member of answers
``not_found`` exactly like one that does not exist (in this org or at all), so ids do not leak.
Every call is scoped to the org of the caller's token.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import trio

from parley.core.claims import Claims
from parley.core.codes import ErrorCode
from parley.core.errors import ClientError
from parley.core.events import Ephemeral
from parley.core.ports import EventSink
from parley.core.records import (
    Channel,
    ChannelEvent,
    ChannelKind,
    ChannelSummary,
    Member,
    Message,
    Page,
    PostResult,
    Profile,
    Receipt,
    Role,
)
from parley.core.times import rfc3339
from parley.core.topics import check_org, parse_topic
from parley.domain import rules
from parley.domain.convrules import check_rich_text
from parley.domain.hooks import PostHooks
from parley.domain.streams import Stream, StreamRegistry
from parley.store.base import Store
from parley.store.errors import Conflict, NotFound

#: Largest ``data`` of one service event (encoded JSON bytes) and events in one batch.
MAX_EVENT_BYTES = 64 * 1024
MAX_BATCH_EVENTS = 100


def _no_channel() -> ClientError:
    return ClientError(ErrorCode.NOT_FOUND, "no such channel")


def _authorize_post(kind: ChannelKind, role: Role) -> None:
    """Run by the store in the post's write transaction."""
    if not rules.can_post(kind, role):
        raise ClientError(ErrorCode.FORBIDDEN, "only owners and admins post in a broadcast channel")


@asynccontextmanager
async def _store_errors(cursor: bool = False) -> AsyncIterator[None]:
    """Translate the store's facts into client errors."""
    try:
        yield
    except NotFound as exc:
        raise ClientError(ErrorCode.NOT_FOUND, str(exc) or "not found") from None
    except Conflict as exc:
        raise ClientError(ErrorCode.CONFLICT, str(exc) or "conflict") from None
    except ValueError as exc:
        if not cursor:
            raise
        raise ClientError(ErrorCode.BAD_REQUEST, f"bad cursor: {exc}") from None


@dataclass(frozen=True, slots=True)
class ChannelView:
    """A channel as its member sees it."""

    channel: Channel
    member: Member
    unread: int


@dataclass(frozen=True, slots=True)
class MessagePage:
    items: list[Message]
    #: Pass as ``before`` (newest-first pages) or ``after`` (oldest-first) for the next page.
    next_before: int | None = None
    next_after: int | None = None


class ChatService:
    def __init__(
        self,
        store: Store,
        sink: EventSink,
        *,
        recovery_limit: int = 10_000,
        hooks: PostHooks | None = None,
        streams: StreamRegistry | None = None,
        clock: Callable[[], float] = trio.current_time,
    ) -> None:
        self.store = store
        self.sink = sink
        self.recovery_limit = recovery_limit
        self.streams = streams if streams is not None else StreamRegistry()
        self.clock = clock  # stream idle expiry; trio's clock unless a test says otherwise
        #: Run after every post (mentions, previews); shared by every service that posts.
        self.hooks = hooks if hooks is not None else PostHooks()

    # -- access ------------------------------------------------------------------
    async def _membership(self, org: str, user_id: str, channel_id: str) -> tuple[Channel, Member]:
        if not rules.is_clean(channel_id):  # could not exist; PostgreSQL refuses NUL
            raise _no_channel()
        channel = await self.store.get_channel(org, channel_id)
        if channel is None:
            raise _no_channel()
        member = await self.store.get_member(org, channel_id, user_id)
        if member is None:
            raise _no_channel()
        return channel, member

    # -- ChannelOps (WebSocket) --------------------------------------------------
    async def user_channel_ids(self, org: str, user_id: str) -> set[str]:
        return await self.store.user_channel_ids(org, user_id)

    async def post(
        self, org: str, user_id: str, channel_id: str, text: str, idempotency_key: str | None
    ) -> dict[str, Any]:
        result = await self.post_message(org, user_id, channel_id, text, idempotency_key)
        return post_reply(result)

    async def mark_read(self, org: str, user_id: str, channel_id: str, seq: int) -> int:
        rules.check_seq(seq)
        _, member = await self._membership(org, user_id, channel_id)
        async with _store_errors():
            position = await self.store.mark_read(org, channel_id, user_id, seq)
        if position > member.read_seq:
            self.sink.publish_channel_ephemeral(
                org, channel_id, Ephemeral.READ_RECEIPT, {"user_id": user_id, "seq": position}
            )
        return position

    async def events_after(
        self, org: str, user_id: str, channel_id: str, after_seq: int, limit: int
    ) -> list[ChannelEvent]:
        rules.check_seq(after_seq, "after_seq")
        limit = rules.check_limit(limit, cap=self.recovery_limit)
        await self._membership(org, user_id, channel_id)
        return await self.store.events_after(org, channel_id, after_seq, limit=limit)

    # -- channels ----------------------------------------------------------------
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
        try:
            channel, _ = await self.store.create_channel(
                org=org, kind=ckind, name=name, topic=topic, created_by=user_id, members=others
            )
        except Conflict:
            raise ClientError(
                ErrorCode.CONFLICT, "a direct channel with this user exists already"
            ) from None
        return channel

    async def get_channel(self, org: str, user_id: str, channel_id: str) -> ChannelView:
        channel, member = await self._membership(org, user_id, channel_id)
        unread = await self.store.unread_count(org, channel_id, user_id)
        return ChannelView(channel, member, unread)

    async def list_channels(
        self, org: str, user_id: str, *, limit: int | None, cursor: str | None
    ) -> Page[ChannelSummary]:
        n = rules.check_limit(limit, cap=rules.MAX_PAGE_LIMIT)
        async with _store_errors(cursor=True):
            return await self.store.list_channels(org, user_id, limit=n, cursor=cursor or None)

    # -- members -------------------------------------------------------------------
    async def list_members(
        self, org: str, user_id: str, channel_id: str, *, limit: int | None, cursor: str | None
    ) -> Page[Member]:
        n = rules.check_limit(limit, cap=rules.MAX_PAGE_LIMIT)
        await self._membership(org, user_id, channel_id)
        async with _store_errors(cursor=True):
            return await self.store.list_members(org, channel_id, limit=n, cursor=cursor or None)

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
        channel, actor = await self._membership(org, user_id, channel_id)
        rules.check_add_member(channel.kind, actor, trole)
        async with _store_errors():
            event = await self.store.add_member(org, channel_id, target, role=trole, actor=user_id)
        member = await self.store.get_member(org, channel_id, target)
        if member is None:  # removed again in between
            raise ClientError(ErrorCode.CONFLICT, "membership changed concurrently; retry")
        return member, event is not None

    async def remove_member(self, org: str, user_id: str, channel_id: str, target: str) -> None:
        channel, actor = await self._membership(org, user_id, channel_id)
        member = None
        if rules.is_clean(target):
            member = await self.store.get_member(org, channel_id, target)
        if member is None:
            raise ClientError(ErrorCode.NOT_FOUND, "no such member")
        rules.check_remove_member(channel.kind, actor, member)
        async with _store_errors():
            await self.store.remove_member(org, channel_id, target, actor=user_id)

    # -- messages ------------------------------------------------------------------
    async def post_message(
        self,
        org: str,
        user_id: str,
        channel_id: str,
        text: str,
        idempotency_key: str | None = None,
    ) -> PostResult:
        text = check_rich_text(rules.check_text(text))
        key = rules.check_idempotency_key(idempotency_key)
        if not rules.is_clean(channel_id):  # could not exist; PostgreSQL refuses NUL
            raise _no_channel()
        # Membership and role are checked inside the write transaction: no read before it.
        try:
            result = await self.store.post_as_member(
                org,
                channel_id,
                author=user_id,
                text=text,
                idempotency_key=key,
                authorize=_authorize_post,
            )
        except NotFound:
            raise _no_channel() from None  # no channel, or not a member: the same answer
        except Conflict as exc:
            raise ClientError(ErrorCode.CONFLICT, str(exc) or "conflict") from None
        await self.hooks.run(result)
        return result

    async def list_messages(
        self,
        org: str,
        user_id: str,
        channel_id: str,
        *,
        before: int | None = None,
        after: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
    ) -> MessagePage:
        """Newest first below ``before``; or oldest first above ``after`` (and below
        ``before`` when both are given). ``since``/``until`` bound the creation time."""
        if before is not None:
            rules.check_seq(before, "before")
        if after is not None:
            rules.check_seq(after, "after")
        if since is not None and until is not None and since > until:
            raise rules.bad("'from' is after 'to'")
        n = rules.check_limit(limit, cap=rules.MAX_PAGE_LIMIT)
        await self._membership(org, user_id, channel_id)
        got = await self.store.list_messages(
            org, channel_id, before=before, after=after, since=since, until=until, limit=n + 1
        )
        if after is not None and before is not None:
            got = [m for m in got if m.seq < before]
        items, more = got[:n], len(got) > n
        if not more or not items:
            return MessagePage(items)
        if after is not None:
            return MessagePage(items, next_after=items[-1].seq)
        return MessagePage(items, next_before=items[-1].seq)

    async def get_message(
        self, org: str, user_id: str, channel_id: str, message_id: str
    ) -> Message:
        await self._membership(org, user_id, channel_id)
        message = None
        if rules.is_clean(message_id):
            message = await self.store.get_message(org, channel_id, message_id)
        if message is None:
            raise ClientError(ErrorCode.NOT_FOUND, "no such message")
        return message

    # -- receipts ------------------------------------------------------------------
    async def receipts(self, org: str, user_id: str, channel_id: str) -> list[Receipt]:
        await self._membership(org, user_id, channel_id)
        return await self.store.receipts(org, channel_id)

    # -- profiles ------------------------------------------------------------------
    async def get_profile(self, org: str, user_id: str) -> Profile:
        """A user's profile; one never set reads as all-null (users are not registered)."""
        rules.check_user_id(user_id)
        profile = await self.store.get_profile(org, user_id)
        return profile if profile is not None else Profile(org=org, user_id=user_id)

    async def set_profile(
        self, org: str, user_id: str, *, display_name: str | None, avatar_url: str | None
    ) -> Profile:
        return await self.store.set_profile(
            org,
            user_id,
            display_name=rules.check_display_name(display_name),
            avatar_url=rules.check_avatar_url(avatar_url),
        )

    # -- service events ------------------------------------------------------------
    def _check_event(self, claims: Claims, topic: object, data: object) -> str:
        if not claims.is_service:
            raise ClientError(ErrorCode.FORBIDDEN, "only service tokens may publish events")
        check_org(parse_topic(topic), claims.org)
        try:
            size = len(orjson.dumps(data))
        except TypeError:
            raise rules.bad("data must be JSON") from None
        if size > MAX_EVENT_BYTES:
            raise ClientError(
                ErrorCode.PAYLOAD_TOO_LARGE, f"event data larger than {MAX_EVENT_BYTES} bytes"
            )
        assert isinstance(topic, str)
        return topic

    def publish_event(self, claims: Claims, topic: str, data: Any) -> int:
        """Publish a service event in the caller's org; return the deliveries made."""
        checked = self._check_event(claims, topic, data)
        return self.sink.publish(checked, data)

    def publish_events(self, claims: Claims, events: Sequence[tuple[str, Any]]) -> list[int]:
        """All-or-nothing validation, then publish in order; deliveries per event."""
        if not events:
            raise rules.bad("events must not be empty")
        if len(events) > MAX_BATCH_EVENTS:
            raise rules.bad(f"at most {MAX_BATCH_EVENTS} events per batch")
        checked = [(self._check_event(claims, t, d), d) for t, d in events]
        return [self.sink.publish(t, d) for t, d in checked]

    # -- streamed messages ---------------------------------------------------------
    def _expire_streams(self) -> float:
        now = self.clock()
        for s, ev in self.streams.expire(now):
            self.sink.publish_channel_ephemeral(s.org, s.channel_id, Ephemeral.MESSAGE_STREAM, ev)
        return now

    async def _stream_access(self, claims: Claims, channel_id: str, *, write: bool) -> None:
        """Members (posters, for writing) and the org's services may use streams."""
        channel = None
        if rules.is_clean(channel_id):
            channel = await self.store.get_channel(claims.org, channel_id)
        if channel is None:
            raise _no_channel()
        if claims.is_service:
            return
        member = await self.store.get_member(claims.org, channel_id, claims.sub)
        if member is None:
            raise _no_channel()
        if write and not rules.can_post(channel.kind, member.role):
            raise ClientError(
                ErrorCode.FORBIDDEN, "only owners and admins post in a broadcast channel"
            )

    def _push(self, s: Stream, event: dict[str, Any] | None) -> None:
        if event is not None:
            self.sink.publish_channel_ephemeral(
                s.org, s.channel_id, Ephemeral.MESSAGE_STREAM, event
            )

    async def open_stream(self, claims: Claims, channel_id: str) -> dict[str, Any]:
        await self._stream_access(claims, channel_id, write=True)
        now = self._expire_streams()
        s = self.streams.open(claims.org, channel_id, claims.sub, now)
        self._push(s, s.event("open"))
        return s.snapshot()

    async def get_stream(self, claims: Claims, channel_id: str, stream_id: str) -> dict[str, Any]:
        await self._stream_access(claims, channel_id, write=False)
        self._expire_streams()
        return self.streams.get(claims.org, channel_id, stream_id).snapshot()

    async def append_stream(
        self, claims: Claims, channel_id: str, stream_id: str, chunk: str, index: int | None
    ) -> dict[str, Any]:
        await self._stream_access(claims, channel_id, write=True)
        now = self._expire_streams()
        s = self.streams.get_own(claims.org, channel_id, stream_id, claims.sub)
        self._push(s, self.streams.append(s, chunk, index, now))
        return {"stream_id": s.id, "index": s.index, "state": str(s.state)}

    async def complete_stream(
        self, claims: Claims, channel_id: str, stream_id: str
    ) -> dict[str, Any]:
        """Persist the text as one message (one seq); a retry answers the same."""
        await self._stream_access(claims, channel_id, write=True)
        now = self._expire_streams()
        s = self.streams.get_own(claims.org, channel_id, stream_id, claims.sub)
        text = self.streams.begin_complete(s, now)
        if text is None:
            return s.snapshot()
        try:
            async with _store_errors():
                result = await self.store.post_message(
                    s.org,
                    s.channel_id,
                    author=s.author,
                    text=text,
                    idempotency_key=f"stream:{s.id}",
                )
        except BaseException:
            self.streams.abort_complete(s)
            raise
        m = result.message
        self._push(
            s,
            self.streams.finish_complete(s, m.id, m.seq, rfc3339(m.created_at), self.clock()),
        )
        await self.hooks.run(result)
        return s.snapshot()

    async def cancel_stream(
        self, claims: Claims, channel_id: str, stream_id: str
    ) -> dict[str, Any]:
        await self._stream_access(claims, channel_id, write=True)
        now = self._expire_streams()
        s = self.streams.get_own(claims.org, channel_id, stream_id, claims.sub)
        self._push(s, self.streams.cancel(s, now))
        return s.snapshot()


def post_reply(result: PostResult) -> dict[str, Any]:
    """The reply fields of a post, for WebSocket and REST alike."""
    m = result.message
    return {
        "message_id": m.id,
        "seq": m.seq,
        "ts": rfc3339(m.created_at),
        "channel": m.channel_id,
        "created": result.created,
    }
