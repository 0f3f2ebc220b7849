"""The resolver map of ``schema.graphql``: every field that is not read off its source
record by name (``createdAt`` -> ``created_at``, :func:`default_resolver`). Each resolver
calls the same domain service method as the REST route, with the caller's org and user, so
the access rules (``not_found`` for a non-member, another org...) are the REST ones."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from graphql import GraphQLResolveInfo

from parley.api.graphql.context import Context, Streams
from parley.core.codes import ErrorCode
from parley.core.errors import ClientError
from parley.core.records import (
    Channel,
    ChannelSummary,
    Member,
    Message,
    Note,
    Profile,
    Role,
)
from parley.core.topics import channel_topic, is_segment, lock_topic, mention_topic, note_topic
from parley.domain import rules
from parley.domain.channels import ChannelView
from parley.domain.locks import check_entity
from parley.domain.views import MessageView, ThreadView

Resolver = Callable[..., Any]
#: type name -> field name -> resolver
RESOLVERS: dict[str, dict[str, Resolver]] = {}

#: Most user ids one ``presence`` / ``profiles`` query names.
MAX_USERS = 100

_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def snake(name: str) -> str:
    return _CAMEL.sub("_", name).lower()


def default_resolver(source: Any, info: GraphQLResolveInfo, **_: Any) -> Any:
    """A dict's key or a record's attribute, named as the field in snake_case."""
    name = snake(info.field_name)
    if isinstance(source, dict):
        return source.get(name)
    return getattr(source, name, None)


def field(type_name: str, name: str) -> Callable[[Resolver], Resolver]:
    def register(fn: Resolver) -> Resolver:
        RESOLVERS.setdefault(type_name, {})[name] = fn
        return fn

    return register


def ctx(info: GraphQLResolveInfo) -> Context:
    c: Context = info.context
    return c


# -- connections and cursors ------------------------------------------------------------------
def encode_cursor(kind: str, value: str | int) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{value}".encode()).decode().rstrip("=")


def decode_cursor(kind: str, cursor: str) -> str:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raw = ""
    prefix, _, value = raw.partition(":")
    if prefix != kind or not value:
        raise ClientError(ErrorCode.BAD_REQUEST, "bad cursor")
    return value


def seq_cursor(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    value = decode_cursor("seq", cursor)
    if not value.isdigit():
        raise ClientError(ErrorCode.BAD_REQUEST, "bad cursor")
    return int(value)


def opaque(cursor: str | None) -> str | None:
    """A domain page cursor, wrapped so every GraphQL cursor looks alike."""
    return None if cursor is None else encode_cursor("page", cursor)


def unwrap(cursor: str | None) -> str | None:
    return None if cursor is None else decode_cursor("page", cursor)


def connection(
    nodes: Sequence[Any], end_cursor: str | None, *, cursors: Sequence[str | None] | None = None
) -> dict[str, Any]:
    """A Relay connection; ``end_cursor`` None means the last page."""
    if cursors is None:
        cursors = [None] * len(nodes)
        if nodes and end_cursor is not None:
            cursors = [*cursors[:-1], end_cursor]
    return {
        "edges": [{"cursor": c, "node": n} for c, n in zip(cursors, nodes, strict=True)],
        "nodes": list(nodes),
        "page_info": {"has_next_page": end_cursor is not None, "end_cursor": end_cursor},
    }


def check_users(users: list[str]) -> list[str]:
    if not 0 < len(users) <= MAX_USERS:
        raise rules.bad(f"users: 1 to {MAX_USERS} ids")
    return [rules.check_user_id(u, "users") for u in users]


# -- channels -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ChannelNode:
    """A channel as its member sees it: from a listing or a single read."""

    channel: Channel
    role: Role
    read_seq: int
    unread: int
    last_message: Message | None = None

    @classmethod
    def of(cls, c: ChannelSummary | ChannelView) -> ChannelNode:
        if isinstance(c, ChannelView):
            return cls(c.channel, c.member.role, c.member.read_seq, c.unread)
        return cls(c.channel, c.role, c.read_seq, c.unread, c.last_message)

    def __getattr__(self, name: str) -> Any:  # id, kind, name... of the channel
        return getattr(self.channel, name)


async def channel_node(info: GraphQLResolveInfo, channel_id: str) -> ChannelNode:
    c = ctx(info)
    return ChannelNode.of(await c.services.channels.get_channel(c.org, c.me, channel_id))


@field("Query", "me")
async def q_me(_: Any, info: GraphQLResolveInfo) -> Profile:
    c = ctx(info)
    return await c.profiles.load(c.me, c.me)


@field("Query", "channels")
async def q_channels(
    _: Any, info: GraphQLResolveInfo, first: int | None = None, after: str | None = None
) -> dict[str, Any]:
    c = ctx(info)
    page = await c.services.channels.list_channels(c.org, c.me, limit=first, cursor=unwrap(after))
    return connection([ChannelNode.of(s) for s in page.items], opaque(page.next_cursor))


@field("Query", "channel")
async def q_channel(_: Any, info: GraphQLResolveInfo, id: str) -> ChannelNode:
    return await channel_node(info, id)


@field("Channel", "members")
async def channel_members(
    node: ChannelNode, info: GraphQLResolveInfo, first: int | None = None, after: str | None = None
) -> dict[str, Any]:
    c = ctx(info)
    page = await c.services.members.list_members(
        c.org, c.me, node.channel.id, limit=first, cursor=unwrap(after)
    )
    return connection(page.items, opaque(page.next_cursor))


@field("Member", "profile")
async def member_profile(m: Member, info: GraphQLResolveInfo) -> Profile:
    return await ctx(info).profiles.load(m.user_id, m.user_id)


# -- messages -------------------------------------------------------------------------------
async def message_page(
    info: GraphQLResolveInfo,
    channel_id: str,
    first: int | None,
    after: str | None,
    since: datetime | None,
    until: datetime | None,
    order: str,
) -> dict[str, Any]:
    c = ctx(info)
    position = seq_cursor(after)
    oldest = order == "oldest"
    page = await c.services.messages.list_messages(
        c.org,
        c.me,
        channel_id,
        before=None if oldest else position,
        after=(position or 0) if oldest else None,
        since=since,
        until=until,
        limit=first,
    )
    nxt = page.next_after if oldest else page.next_before
    cursors = [encode_cursor("seq", m.seq) for m in page.items]
    return connection(page.items, None if nxt is None else cursors[-1], cursors=cursors)


@field("Query", "messages")
async def q_messages(
    _: Any,
    info: GraphQLResolveInfo,
    channel: str,
    first: int | None = None,
    after: str | None = None,
    order: str = "newest",
    **dates: datetime | None,
) -> dict[str, Any]:
    return await message_page(
        info, channel, first, after, dates.get("from"), dates.get("to"), order
    )


@field("Channel", "messages")
async def channel_messages(
    node: ChannelNode,
    info: GraphQLResolveInfo,
    first: int | None = None,
    after: str | None = None,
    order: str = "newest",
    **dates: datetime | None,
) -> dict[str, Any]:
    return await message_page(
        info, node.channel.id, first, after, dates.get("from"), dates.get("to"), order
    )


@field("Query", "message")
async def q_message(_: Any, info: GraphQLResolveInfo, channel: str, id: str) -> Message:
    c = ctx(info)
    return await c.services.messages.get_message(c.org, c.me, channel, id)


def as_message(obj: Message | MessageView) -> Message:
    return obj.message if isinstance(obj, MessageView) else obj


async def view(obj: Message | MessageView, info: GraphQLResolveInfo) -> MessageView:
    if isinstance(obj, MessageView):
        return obj
    return await ctx(info).views.load(obj.id, obj)


for _name, _attr in (
    ("id", "id"),
    ("channel", "channel_id"),
    ("seq", "seq"),
    ("authorId", "author"),
    ("text", "text"),
    ("createdAt", "created_at"),
    ("editedAt", "edited_at"),
    ("deleted", "deleted"),
):
    RESOLVERS.setdefault("Message", {})[_name] = lambda obj, _info, _a=_attr: getattr(
        as_message(obj), _a
    )


@field("Message", "author")
async def message_author(obj: Message | MessageView, info: GraphQLResolveInfo) -> Profile:
    author = as_message(obj).author
    return await ctx(info).profiles.load(author, author)


@field("Message", "reactions")
async def message_reactions(obj: Message | MessageView, info: GraphQLResolveInfo) -> Any:
    return (await view(obj, info)).reactions


@field("Message", "pinned")
async def message_pinned(obj: Message | MessageView, info: GraphQLResolveInfo) -> bool:
    return (await view(obj, info)).pinned


@field("Message", "threadRoot")
async def message_thread_root(obj: Message | MessageView, info: GraphQLResolveInfo) -> Any:
    return (await view(obj, info)).meta.thread_root


@field("Message", "alsoInChannel")
async def message_also(obj: Message | MessageView, info: GraphQLResolveInfo) -> bool:
    return (await view(obj, info)).meta.also_in_channel


@field("Message", "thread")
async def message_thread(obj: Message | MessageView, info: GraphQLResolveInfo) -> Any:
    return (await view(obj, info)).thread


@field("Message", "collapsed")
async def message_collapsed(obj: Message | MessageView, info: GraphQLResolveInfo) -> bool:
    return (await view(obj, info)).collapsed


# -- threads, mentions, pins, bookmarks ---------------------------------------------------------
@field("Query", "thread")
async def q_thread(
    _: Any, info: GraphQLResolveInfo, channel: str, root: str, first: int | None = None
) -> ThreadView:
    c = ctx(info)
    return await c.services.threads.thread(c.org, c.me, channel, root, after=None, limit=first)


@field("Query", "threads")
async def q_threads(
    _: Any, info: GraphQLResolveInfo, channel: str, first: int | None = None
) -> list[dict[str, Any]]:
    c = ctx(info)
    got = await c.services.threads.threads(c.org, c.me, channel, limit=first)
    return [{"root": v, "unread": n} for v, n in got]


@field("Query", "mentions")
async def q_mentions(_: Any, info: GraphQLResolveInfo, channel: str) -> dict[str, Any]:
    c = ctx(info)
    unread, items = await c.services.mentions.mentions(c.org, c.me, channel)
    return {"unread": unread, "items": items}


@field("Query", "pins")
async def q_pins(_: Any, info: GraphQLResolveInfo, channel: str) -> Any:
    c = ctx(info)
    return await c.services.pins.pins(c.org, c.me, channel)


@field("Channel", "pins")
async def channel_pins(node: ChannelNode, info: GraphQLResolveInfo) -> Any:
    c = ctx(info)
    return await c.services.pins.pins(c.org, c.me, node.channel.id)


@field("Query", "bookmarks")
async def q_bookmarks(
    _: Any, info: GraphQLResolveInfo, first: int | None = None, after: str | None = None
) -> dict[str, Any]:
    c = ctx(info)
    items, nxt = await c.services.bookmarks.bookmarks(
        c.org, c.me, limit=first, cursor=unwrap(after)
    )
    return connection(items, opaque(nxt))


# -- tasks, notes, locks ------------------------------------------------------------------------
@field("Query", "tasks")
async def q_tasks(_: Any, info: GraphQLResolveInfo, first: int | None = None) -> Any:
    c = ctx(info)
    return await c.services.tasks.tasks(c.org, c.me, limit=first)


@field("Query", "task")
async def q_task(_: Any, info: GraphQLResolveInfo, id: str) -> Any:
    c = ctx(info)
    return await c.services.tasks.task(c.org, c.me, id)


RESOLVERS.setdefault("Task", {})["channel"] = lambda t, _info: t.channel_id
RESOLVERS.setdefault("Note", {})["channel"] = lambda n, _info: n.channel_id


@field("Query", "notes")
async def q_notes(
    _: Any, info: GraphQLResolveInfo, channel: str | None = None, first: int | None = None
) -> list[Note]:
    c = ctx(info)
    if channel is None:
        return await c.services.notes.my_notes(c.org, c.me, limit=first)
    return await c.services.notes.channel_notes(c.org, c.me, channel, limit=first)


@field("Channel", "notes")
async def channel_notes(
    node: ChannelNode, info: GraphQLResolveInfo, first: int | None = None
) -> list[Note]:
    c = ctx(info)
    return await c.services.notes.channel_notes(c.org, c.me, node.channel.id, limit=first)


@field("Query", "note")
async def q_note(_: Any, info: GraphQLResolveInfo, id: str) -> Note:
    c = ctx(info)
    return await c.services.notes.note(c.org, c.me, id)


@field("Note", "versions")
async def note_versions(n: Note, info: GraphQLResolveInfo) -> Any:
    c = ctx(info)
    return await c.services.notes.versions(c.org, c.me, n.id)


@field("Note", "lock")
async def note_lock(n: Note, info: GraphQLResolveInfo) -> Any:
    return await ctx(info).locks.load(n.id, n.id)


@field("Query", "lock")
async def q_lock(_: Any, info: GraphQLResolveInfo, entity: str) -> Any:
    c = ctx(info)
    return await c.services.locks.lock(c.org, c.me, entity)


@field("Query", "locks")
async def q_locks(
    _: Any, info: GraphQLResolveInfo, entities: list[str] | None = None, first: int | None = None
) -> Any:
    c = ctx(info)
    return await c.services.locks.locks(c.org, c.me, entities, limit=first)


# -- search, presence, profiles, teams ---------------------------------------------------------
@field("Query", "search")
async def q_search(
    _: Any,
    info: GraphQLResolveInfo,
    query: str,
    channel: str | None = None,
    author: str | None = None,
    first: int | None = None,
    after: str | None = None,
    **dates: datetime | None,
) -> dict[str, Any]:
    c = ctx(info)
    hits, nxt = await c.services.search.search(
        c.org,
        c.me,
        query,
        channel_id=channel,
        author=author,
        since=dates.get("from"),
        until=dates.get("to"),
        limit=first,
        cursor=unwrap(after),
    )
    return connection(hits, opaque(nxt))


def lookup_presence(info: GraphQLResolveInfo, users: list[str]) -> list[dict[str, Any]]:
    presence = ctx(info).services.presence
    return [] if presence is None else presence.lookup(ctx(info).org, users)


@field("Query", "presence")
def q_presence(_: Any, info: GraphQLResolveInfo, users: list[str]) -> list[dict[str, Any]]:
    return lookup_presence(info, check_users(users))


@field("Profile", "presence")
def profile_presence(p: Profile, info: GraphQLResolveInfo) -> dict[str, Any] | None:
    found = lookup_presence(info, [p.user_id])
    return found[0] if found else None


@field("Query", "profile")
async def q_profile(_: Any, info: GraphQLResolveInfo, user: str) -> Profile:
    rules.check_user_id(user, "user")
    return await ctx(info).profiles.load(user, user)


@field("Query", "profiles")
async def q_profiles(_: Any, info: GraphQLResolveInfo, users: list[str]) -> list[Profile]:
    c = ctx(info)
    return await c.services.profiles.get_profiles(c.org, check_users(users))


@field("Query", "teams")
async def q_teams(_: Any, info: GraphQLResolveInfo) -> Any:
    c = ctx(info)
    return await c.services.teams.teams(c.org)


@field("Query", "team")
async def q_team(_: Any, info: GraphQLResolveInfo, id: str) -> Any:
    c = ctx(info)
    return await c.services.teams.team(c.org, id)


# -- mutations ----------------------------------------------------------------------------------
def mutation(name: str) -> Callable[[Resolver], Resolver]:
    return field("Mutation", name)


@mutation("createChannel")
async def m_create_channel(
    _: Any,
    info: GraphQLResolveInfo,
    kind: str,
    name: str | None = None,
    topic: str | None = None,
    members: list[str] | None = None,
) -> ChannelNode:
    c = ctx(info)
    ch = await c.services.channels.create_channel(
        c.org, c.me, kind=kind, name=name or "", topic=topic or "", members=members or []
    )
    return await channel_node(info, ch.id)


@mutation("addMember")
async def m_add_member(
    _: Any, info: GraphQLResolveInfo, channel: str, user: str, role: str = "member"
) -> Member:
    c = ctx(info)
    member, _created = await c.services.members.add_member(c.org, c.me, channel, user, role)
    return member


@mutation("removeMember")
async def m_remove_member(_: Any, info: GraphQLResolveInfo, channel: str, user: str) -> bool:
    c = ctx(info)
    await c.services.members.remove_member(c.org, c.me, channel, user)
    return True


@mutation("postMessage")
async def m_post(
    _: Any,
    info: GraphQLResolveInfo,
    channel: str,
    text: str,
    idempotencyKey: str | None = None,
) -> Message:
    c = ctx(info)
    return (
        await c.services.messages.post_message(c.org, c.me, channel, text, idempotencyKey)
    ).message


@mutation("reply")
async def m_reply(
    _: Any,
    info: GraphQLResolveInfo,
    channel: str,
    root: str,
    text: str,
    alsoSendToChannel: bool = False,
    idempotencyKey: str | None = None,
) -> Message:
    c = ctx(info)
    result = await c.services.threads.reply(
        c.org,
        c.me,
        channel,
        root,
        text,
        also_in_channel=bool(alsoSendToChannel),
        idempotency_key=idempotencyKey,
    )
    return result.message


@mutation("editMessage")
async def m_edit(_: Any, info: GraphQLResolveInfo, channel: str, id: str, text: str) -> Message:
    c = ctx(info)
    return await c.services.edits.edit(c.org, c.me, channel, id, text)


@mutation("deleteMessage")
async def m_delete(_: Any, info: GraphQLResolveInfo, channel: str, id: str) -> bool:
    c = ctx(info)
    await c.services.edits.delete(c.org, c.me, channel, id)
    return True


@mutation("shareMessage")
async def m_share(
    _: Any,
    info: GraphQLResolveInfo,
    channel: str,
    id: str,
    to: str,
    comment: str | None = None,
) -> Message:
    c = ctx(info)
    return (await c.services.shares.share(c.org, c.me, channel, id, to, comment)).message


@mutation("markRead")
async def m_mark_read(_: Any, info: GraphQLResolveInfo, channel: str, seq: int) -> int:
    c = ctx(info)
    return await c.services.receipts.mark_read(c.org, c.me, channel, seq)


@mutation("markThreadRead")
async def m_thread_read(_: Any, info: GraphQLResolveInfo, channel: str, root: str, seq: int) -> int:
    c = ctx(info)
    return await c.services.threads.read_thread(c.org, c.me, channel, root, seq)


async def _react(info: GraphQLResolveInfo, channel: str, message: str, emoji: str, on: bool) -> Any:
    c = ctx(info)
    return await c.services.reactions.react(c.org, c.me, channel, message, emoji, on=on)


@mutation("react")
async def m_react(_: Any, info: GraphQLResolveInfo, channel: str, message: str, emoji: str) -> Any:
    return await _react(info, channel, message, emoji, True)


@mutation("unreact")
async def m_unreact(
    _: Any, info: GraphQLResolveInfo, channel: str, message: str, emoji: str
) -> Any:
    return await _react(info, channel, message, emoji, False)


@mutation("pin")
async def m_pin(
    _: Any, info: GraphQLResolveInfo, channel: str, message: str, on: bool = True
) -> bool:
    c = ctx(info)
    return await c.services.pins.pin(c.org, c.me, channel, message, on=bool(on))


@mutation("bookmark")
async def m_bookmark(
    _: Any, info: GraphQLResolveInfo, channel: str, message: str, note: str | None = None
) -> Any:
    c = ctx(info)
    return await c.services.bookmarks.bookmark(c.org, c.me, channel, message, note)


@mutation("removeBookmark")
async def m_unbookmark(_: Any, info: GraphQLResolveInfo, message: str) -> bool:
    c = ctx(info)
    await c.services.bookmarks.unbookmark(c.org, c.me, message)
    return True


@mutation("createTeam")
async def m_create_team(
    _: Any, info: GraphQLResolveInfo, name: str, members: list[str] | None = None
) -> Any:
    c = ctx(info)
    return await c.services.teams.create_team(c.org, c.me, name, members or [])


async def _team_member(info: GraphQLResolveInfo, team: str, user: str, on: bool) -> Any:
    c = ctx(info)
    return await c.services.teams.set_team_member(
        c.org, c.me, team, user, on=on, service=c.claims.is_service
    )


@mutation("addTeamMember")
async def m_add_team_member(_: Any, info: GraphQLResolveInfo, team: str, user: str) -> Any:
    return await _team_member(info, team, user, True)


@mutation("removeTeamMember")
async def m_remove_team_member(_: Any, info: GraphQLResolveInfo, team: str, user: str) -> Any:
    return await _team_member(info, team, user, False)


@mutation("createTask")
async def m_create_task(
    _: Any,
    info: GraphQLResolveInfo,
    channel: str,
    message: str,
    title: str,
    assignee: str | None = None,
    due: str | None = None,
) -> Any:
    c = ctx(info)
    return await c.services.tasks.create_task(
        c.org, c.me, channel, message, title=title, assignee=assignee, due=due
    )


@mutation("completeTask")
async def m_complete_task(_: Any, info: GraphQLResolveInfo, id: str) -> Any:
    c = ctx(info)
    return await c.services.tasks.complete_task(c.org, c.me, id)


@mutation("setProfile")
async def m_set_profile(
    _: Any,
    info: GraphQLResolveInfo,
    displayName: str | None = None,
    avatarUrl: str | None = None,
) -> Any:
    c = ctx(info)
    return await c.services.profiles.set_profile(
        c.org, c.me, display_name=displayName, avatar_url=avatarUrl
    )


@mutation("createNote")
async def m_create_note(
    _: Any, info: GraphQLResolveInfo, title: str, channel: str | None = None, body: str = ""
) -> Note:
    c = ctx(info)
    return await c.services.notes.create_note(c.org, c.me, channel, title=title, body=body)


@mutation("editNote")
async def m_edit_note(
    _: Any,
    info: GraphQLResolveInfo,
    id: str,
    baseVersion: int,
    title: str | None = None,
    body: str | None = None,
) -> Note:
    c = ctx(info)
    return await c.services.notes.edit_note(
        c.org, c.me, id, base_version=baseVersion, title=title, body=body
    )


@mutation("deleteNote")
async def m_delete_note(_: Any, info: GraphQLResolveInfo, id: str) -> Note:
    c = ctx(info)
    return await c.services.notes.delete_note(c.org, c.me, id)


@mutation("acquireLock")
async def m_acquire_lock(
    _: Any, info: GraphQLResolveInfo, entity: str, ttl: float | None = None
) -> Any:
    c = ctx(info)
    return await c.services.locks.acquire(c.org, c.me, entity, ttl=ttl)


@mutation("renewLock")
async def m_renew_lock(
    _: Any, info: GraphQLResolveInfo, entity: str, ttl: float | None = None
) -> Any:
    c = ctx(info)
    return await c.services.locks.renew(c.org, c.me, entity, ttl=ttl)


@mutation("releaseLock")
async def m_release_lock(_: Any, info: GraphQLResolveInfo, entity: str) -> Any:
    c = ctx(info)
    return await c.services.locks.release(c.org, c.me, entity)


# -- subscriptions ------------------------------------------------------------------------------
#: type "Subscription": field -> its ``subscribe`` (the source stream); the field's
#: resolver (in RESOLVERS) maps each event (a frame dict) to the payload.
SUBSCRIBERS: dict[str, Resolver] = {}


def subscription(name: str) -> Callable[[Resolver], Resolver]:
    def register(fn: Resolver) -> Resolver:
        SUBSCRIBERS[name] = fn
        return fn

    return register


def streams(info: GraphQLResolveInfo) -> Streams:
    live = ctx(info).streams
    if live is None:
        raise ClientError(ErrorCode.BAD_REQUEST, "subscriptions need the WebSocket")
    return live


def _segment(value: str, what: str) -> str:
    if not is_segment(value):
        raise ClientError(ErrorCode.BAD_REQUEST, f"no live events for this {what}")
    return value


async def _member_channel(info: GraphQLResolveInfo, channel: str) -> str:
    await channel_node(info, channel)  # not_found for a non-member, as REST
    return _segment(channel, "channel")


@subscription("channelEvents")
async def sub_channel_events(_: Any, info: GraphQLResolveInfo, channel: str) -> Any:
    cid = await _member_channel(info, channel)
    return streams(info).stream(channel_topic(ctx(info).org, "*", cid), lambda f: "seq" in f)


@field("Subscription", "channelEvents")
def channel_event_payload(
    frame: dict[str, Any], _info: GraphQLResolveInfo, **_: Any
) -> dict[str, Any]:
    return {
        "channel": frame.get("channel"),
        "seq": frame.get("seq"),
        "event": frame.get("event"),
        "data": frame.get("data"),
        "ts": frame.get("ts"),
        "actor": None,
    }


@subscription("mentions")
async def sub_mentions(_: Any, info: GraphQLResolveInfo) -> Any:
    c = ctx(info)
    return streams(info).stream(mention_topic(c.org, _segment(c.me, "user")))


@field("Subscription", "mentions")
def mention_payload(frame: dict[str, Any], _info: GraphQLResolveInfo, **_: Any) -> dict[str, Any]:
    data = frame.get("data") or {}
    return {
        "channel": data.get("channel"),
        "seq": data.get("seq"),
        "message_id": data.get("message_id"),
        "data": data,
    }


@subscription("locks")
async def sub_locks(_: Any, info: GraphQLResolveInfo, entity: str | None = None) -> Any:
    c = ctx(info)
    if entity is None:
        return streams(info).stream(f"events.{c.org}.locks.>")
    return streams(info).stream(lock_topic(c.org, "*", check_entity(entity)))


@field("Subscription", "locks")
def lock_payload(frame: dict[str, Any], _info: GraphQLResolveInfo, **_: Any) -> dict[str, Any]:
    data = dict(frame.get("data") or {})
    return {
        "event": str(frame.get("topic", "")).split(".")[4],
        "reason": data.pop("reason", None),
        "lock": data,
    }


def _is_note_event(frame: dict[str, Any]) -> bool:
    return str(frame.get("event", "")).startswith("note_")


@subscription("notes")
async def sub_notes(_: Any, info: GraphQLResolveInfo, channel: str | None = None) -> Any:
    c = ctx(info)
    if channel is None:
        return streams(info).stream(note_topic(c.org, "*", _segment(c.me, "user")))
    cid = await _member_channel(info, channel)
    return streams(info).stream(channel_topic(c.org, "*", cid), _is_note_event)


@field("Subscription", "notes")
async def note_payload(frame: dict[str, Any], info: GraphQLResolveInfo, **_: Any) -> dict[str, Any]:
    event = frame.get("event") or str(frame.get("topic", "")).split(".")[4]
    note_id = str((frame.get("data") or {}).get("id", ""))
    note = None
    if event != "note_deleted":
        c = ctx(info)
        try:  # as the subscriber may read it now
            note = await c.services.notes.note(c.org, c.me, note_id)
        except ClientError:
            note = None
    return {"event": event, "note_id": note_id, "note": note, "seq": frame.get("seq")}


# -- privacy and service writes ----------------------------------------------------------------
@mutation("block")
async def m_block(_: Any, info: GraphQLResolveInfo, user: str) -> bool:
    c = ctx(info)
    return await c.services.blocks.block(c.org, c.me, user)


@mutation("unblock")
async def m_unblock(_: Any, info: GraphQLResolveInfo, user: str) -> bool:
    c = ctx(info)
    return await c.services.blocks.unblock(c.org, c.me, user)


@mutation("publishEvent")
def m_publish_event(_: Any, info: GraphQLResolveInfo, topic: str, data: Any = None) -> int:
    c = ctx(info)
    return c.services.events.publish_event(c.claims, topic, data)


@mutation("setOrgRetention")
async def m_org_retention(_: Any, info: GraphQLResolveInfo, seconds: int | None = None) -> Any:
    c = ctx(info)
    return await c.services.retention.set_org_retention(c.claims, seconds)


@mutation("setChannelRetention")
async def m_channel_retention(
    _: Any, info: GraphQLResolveInfo, channel: str, seconds: int | None = None
) -> Any:
    c = ctx(info)
    return await c.services.retention.set_channel_retention(c.claims, channel, seconds)


@mutation("deleteAccount")
async def m_delete_account(_: Any, info: GraphQLResolveInfo, user: str) -> Any:
    c = ctx(info)
    return await c.services.accounts.delete(c.claims, user)
