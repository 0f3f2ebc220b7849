"""Conversation features over the store: threads, mentions and teams, reactions, pins,
bookmarks, edit/delete with history, shares and tasks (docs/conversation.md).

Same rules as :mod:`parley.domain.chat`: refusals are :class:`ClientError` s, a channel the
caller is not a member of answers ``not_found`` like one that does not exist, and every
call is scoped to the org of the caller's token. Channel-log events reach the broker
through the store's commit listener; the mention and task notifications, which are not
channel events, are published here with ``sink.publish`` after the commit.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from parley.core.codes import ErrorCode
from parley.core.errors import ClientError
from parley.core.ports import EventSink
from parley.core.records import (
    Bookmark,
    Channel,
    Member,
    Mention,
    Message,
    MessageMeta,
    Pin,
    PostResult,
    ReactionCount,
    Task,
    Team,
    ThreadSummary,
    Version,
    snapshot,
    task_data,
)
from parley.core.times import parse_ts, rfc3339
from parley.core.topics import is_segment, mention_topic, task_topic
from parley.domain import convrules, rules
from parley.domain.chat import post_reply
from parley.domain.hooks import PostHooks
from parley.store.base import Store
from parley.store.conversation import ConversationStoreMixin
from parley.store.errors import Conflict, NotFound

MENTION_SNIPPET_CHARS = 200


def _field(body: dict[str, Any], name: str, kind: type) -> Any:
    value = body.get(name)
    if not isinstance(value, kind) or isinstance(value, bool) is not (kind is bool):
        raise rules.bad(f"'{name}' must be a {kind.__name__}")
    return value


def _not_found(what: str) -> ClientError:
    return ClientError(ErrorCode.NOT_FOUND, f"no such {what}")


def _forbidden(message: str) -> ClientError:
    return ClientError(ErrorCode.FORBIDDEN, message)


@asynccontextmanager
async def _store_errors(what: str = "message") -> AsyncIterator[None]:
    try:
        yield
    except NotFound:
        raise _not_found(what) from None
    except Conflict as exc:
        raise ClientError(ErrorCode.CONFLICT, str(exc) or "conflict") from None


@dataclass(frozen=True, slots=True)
class MessageView:
    """A message as one reader sees it."""

    message: Message
    meta: MessageMeta = field(default_factory=MessageMeta)
    thread: ThreadSummary | None = None
    reactions: list[ReactionCount] = field(default_factory=list)
    pinned: bool = False
    #: The share as this reader may see it (the link only if they can open its channel).
    shared: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class ThreadView:
    root: MessageView
    replies: list[MessageView]
    unread: int
    read_seq: int = 0


class ConversationService:
    def __init__(self, store: Store, sink: EventSink, hooks: PostHooks | None = None) -> None:
        if not isinstance(store, ConversationStoreMixin):
            raise TypeError("the store does not implement the conversation features")
        self.store = store
        self.cstore: ConversationStoreMixin = store
        self.sink = sink
        #: Every post's after-commit steps (the composition root adds :meth:`after_post`).
        self.hooks = hooks if hooks is not None else PostHooks()

    # -- access -----------------------------------------------------------------------
    async def _membership(self, org: str, user_id: str, channel_id: str) -> tuple[Channel, Member]:
        channel = member = None
        if rules.is_clean(channel_id):
            channel = await self.store.get_channel(org, channel_id)
            if channel is not None:
                member = await self.store.get_member(org, channel_id, user_id)
        if channel is None or member is None:
            raise _not_found("channel")
        return channel, member

    async def _message(self, org: str, channel_id: str, message_id: str) -> Message:
        msg = None
        if rules.is_clean(message_id):
            msg = await self.store.get_message(org, channel_id, message_id)
        if msg is None or msg.deleted:
            raise _not_found("message")
        return msg

    # -- views ------------------------------------------------------------------------
    async def _views(self, org: str, user_id: str, messages: list[Message]) -> list[MessageView]:
        if not messages:
            return []
        ids = [m.id for m in messages]
        cs = self.cstore
        metas = await cs.message_metas(org, ids)
        summaries = await cs.thread_summaries(org, ids)
        reactions = await cs.reactions(org, ids, user_id)
        pinned: set[str] = set()
        for channel_id in {m.channel_id for m in messages}:
            pinned |= await cs.pinned_ids(org, channel_id, ids)
        mine: set[str] | None = None
        views = []
        for m in messages:
            meta = metas.get(m.id, MessageMeta())
            shared = None
            if meta.shared is not None and not m.deleted:
                if mine is None:
                    mine = await self.store.user_channel_ids(org, user_id)
                shared = snapshot(meta.shared)
                if meta.shared.get("channel_id") in mine:
                    for k in ("channel_id", "message_id", "seq"):
                        shared[k] = meta.shared.get(k)
            views.append(
                MessageView(
                    message=m,
                    meta=meta,
                    thread=summaries.get(m.id),
                    reactions=reactions.get(m.id, []),
                    pinned=m.id in pinned,
                    shared=shared,
                )
            )
        return views

    async def message_view(
        self, org: str, user_id: str, channel_id: str, message_id: str
    ) -> MessageView:
        await self._membership(org, user_id, channel_id)
        msg = None
        if rules.is_clean(message_id):
            msg = await self.store.get_message(org, channel_id, message_id)
        if msg is None:
            raise _not_found("message")
        return (await self._views(org, user_id, [msg]))[0]

    async def timeline(
        self, org: str, user_id: str, channel_id: str, *, before: int | None, limit: int | None
    ) -> tuple[list[MessageView], int | None]:
        """Roots (with thread summaries) and replies also sent to the channel, newest
        first; returns the page and the ``before`` of the next page."""
        if before is not None:
            rules.check_seq(before, "before")
        n = rules.check_limit(limit, cap=rules.MAX_PAGE_LIMIT)
        await self._membership(org, user_id, channel_id)
        got = await self.cstore.timeline(org, channel_id, before=before, limit=n + 1)
        items = got[:n]
        nxt = items[-1].seq if len(got) > n and items else None
        return await self._views(org, user_id, items), nxt

    # -- posting (plain, replies, shares) ---------------------------------------------
    async def after_post(self, result: PostResult) -> None:
        """Mentions of a new message: stored (unread counts) and pushed, with priority, on
        each mentioned member's own topic. Called for every post (REST, WebSocket,
        replies, shares). Mentioned users who cannot see the channel get nothing."""
        if not result.created or "@" not in result.message.text:
            return  # most posts mention no one: skip the parse
        m = result.message
        parsed = convrules.parse_mentions(m.text)
        if not parsed.handles and not parsed.everyone:
            return
        org, cid = m.org, m.channel_id
        via: dict[str, str] = {}
        teams = await self.cstore.team_members_by_name(org, parsed.handles)
        for handle in parsed.handles:
            if handle in teams:
                for user in teams[handle]:
                    via.setdefault(user, f"team:{handle}")
            else:
                via.setdefault(handle, "user")
        if parsed.everyone:
            cursor: str | None = None
            while True:
                page = await self.store.list_members(org, cid, limit=200, cursor=cursor)
                for mem in page.items:
                    via.setdefault(mem.user_id, "channel")
                cursor = page.next_cursor
                if cursor is None:
                    break
        via.pop(m.author, None)
        recipients = []
        for user, how in via.items():
            if how == "channel" or await self.store.get_member(org, cid, user) is not None:
                recipients.append(user)
        if not recipients:
            return
        await self.cstore.add_mentions(org, cid, m.seq, m.id, recipients)
        for user in recipients:
            if not is_segment(user):
                continue  # no topic can name this user; the stored mention still counts
            self.sink.publish(
                mention_topic(org, user),
                {
                    "priority": True,
                    "channel": cid,
                    "message_id": m.id,
                    "seq": m.seq,
                    "author": m.author,
                    "text": m.text[:MENTION_SNIPPET_CHARS],
                    "via": via[user],
                    "created_at": rfc3339(m.created_at),
                },
            )

    async def _post(
        self,
        org: str,
        user_id: str,
        channel_id: str,
        text: str,
        *,
        key: str | None,
        thread_root: str | None = None,
        also_in_channel: bool = False,
        shared: dict[str, Any] | None = None,
        allow_empty: bool = False,
    ) -> PostResult:
        if not (allow_empty and text == ""):
            text = convrules.check_rich_text(rules.check_text(text))
        key = rules.check_idempotency_key(key)
        channel, member = await self._membership(org, user_id, channel_id)
        if not rules.can_post(channel.kind, member.role):
            raise _forbidden("only owners and admins post in a broadcast channel")
        async with _store_errors():
            result = await self.cstore.post_conversation_message(
                org,
                channel_id,
                author=user_id,
                text=text,
                idempotency_key=key,
                thread_root=thread_root,
                also_in_channel=also_in_channel,
                shared=shared,
            )
        await self.hooks.run(result)
        return result

    async def reply(
        self,
        org: str,
        user_id: str,
        channel_id: str,
        root_id: str,
        text: str,
        *,
        also_in_channel: bool = False,
        idempotency_key: str | None = None,
    ) -> PostResult:
        """Reply in the thread of ``root_id`` (a reply's id means its thread)."""
        if not rules.is_clean(root_id):
            raise _not_found("message")
        return await self._post(
            org,
            user_id,
            channel_id,
            text,
            key=idempotency_key,
            thread_root=root_id,
            also_in_channel=also_in_channel,
        )

    async def share(
        self,
        org: str,
        user_id: str,
        channel_id: str,
        message_id: str,
        target: str,
        comment: str | None,
    ) -> PostResult:
        """Post into ``target`` a message linking to the original (both channels must be
        the caller's) with a snapshot of its text and an optional comment as the text."""
        await self._membership(org, user_id, channel_id)
        src = await self._message(org, channel_id, message_id)
        shared = {
            "channel_id": src.channel_id,
            "message_id": src.id,
            "seq": src.seq,
            "author": src.author,
            "text": src.text,
            "created_at": rfc3339(src.created_at),
        }
        return await self._post(
            org, user_id, target, comment or "", key=None, shared=shared, allow_empty=True
        )

    # -- threads ----------------------------------------------------------------------
    async def thread(
        self,
        org: str,
        user_id: str,
        channel_id: str,
        root_id: str,
        *,
        after: int | None,
        limit: int | None,
    ) -> ThreadView:
        if after is not None:
            rules.check_seq(after, "after")
        n = rules.check_limit(limit, cap=rules.MAX_PAGE_LIMIT)
        root = await self.message_view(org, user_id, channel_id, root_id)
        if root.meta.thread_root is not None:
            raise _not_found("thread")  # a reply is not a thread root
        replies = await self.cstore.thread_replies(
            org, channel_id, root_id, after=after or 0, limit=n
        )
        unread = await self.cstore.thread_unread(org, [root_id], user_id)
        return ThreadView(root, await self._views(org, user_id, replies), unread.get(root_id, 0))

    async def threads(
        self, org: str, user_id: str, channel_id: str, *, limit: int | None
    ) -> list[tuple[MessageView, int]]:
        """The channel's threads, latest reply first, each with my unread count."""
        n = rules.check_limit(limit, cap=rules.MAX_PAGE_LIMIT)
        await self._membership(org, user_id, channel_id)
        roots = await self.cstore.channel_threads(org, channel_id, limit=n)
        msgs = [await self.store.get_message(org, channel_id, r) for r in roots]
        views = await self._views(org, user_id, [m for m in msgs if m is not None])
        unread = await self.cstore.thread_unread(org, roots, user_id)
        return [(v, unread.get(v.message.id, 0)) for v in views]

    async def read_thread(
        self, org: str, user_id: str, channel_id: str, root_id: str, seq: int
    ) -> int:
        rules.check_seq(seq)
        await self._membership(org, user_id, channel_id)
        await self._message(org, channel_id, root_id)
        async with _store_errors():
            return await self.cstore.mark_thread_read(org, channel_id, root_id, user_id, seq)

    # -- edit and delete --------------------------------------------------------------
    async def edit(
        self, org: str, user_id: str, channel_id: str, message_id: str, text: str
    ) -> Message:
        text = convrules.check_rich_text(rules.check_text(text))
        await self._membership(org, user_id, channel_id)
        msg = await self._message(org, channel_id, message_id)
        if msg.author != user_id:
            raise _forbidden("only the author may edit a message")
        async with _store_errors():
            edited, _ = await self.cstore.edit_message(
                org, channel_id, message_id, text=text, actor=user_id
            )
        return edited

    async def delete(self, org: str, user_id: str, channel_id: str, message_id: str) -> None:
        """The author, or an owner/admin of the channel, deletes (idempotent)."""
        _, member = await self._membership(org, user_id, channel_id)
        msg = None
        if rules.is_clean(message_id):
            msg = await self.store.get_message(org, channel_id, message_id)
        if msg is None:
            raise _not_found("message")
        if msg.author != user_id and member.role not in rules.MODERATORS:
            raise _forbidden("only the author or a channel owner/admin may delete a message")
        async with _store_errors():
            await self.cstore.delete_message(org, channel_id, message_id, actor=user_id)

    async def versions(
        self, org: str, user_id: str, channel_id: str, message_id: str
    ) -> tuple[Message, list[Version]]:
        """Earlier versions, oldest first: for the author and channel owners/admins."""
        _, member = await self._membership(org, user_id, channel_id)
        msg = await self._message(org, channel_id, message_id)
        if msg.author != user_id and member.role not in rules.MODERATORS:
            raise _forbidden("only the author or a channel owner/admin may see earlier versions")
        return msg, await self.cstore.message_versions(org, message_id)

    # -- reactions and pins -----------------------------------------------------------
    async def react(
        self, org: str, user_id: str, channel_id: str, message_id: str, emoji: str, *, on: bool
    ) -> list[ReactionCount]:
        emoji = convrules.check_emoji(emoji)
        await self._membership(org, user_id, channel_id)
        await self._message(org, channel_id, message_id)
        async with _store_errors():
            await self.cstore.set_reaction(org, channel_id, message_id, user_id, emoji, on=on)
        return (await self.cstore.reactions(org, [message_id], user_id)).get(message_id, [])

    async def pin(
        self, org: str, user_id: str, channel_id: str, message_id: str, *, on: bool
    ) -> bool:
        """Any member pins and unpins; returns whether anything changed."""
        await self._membership(org, user_id, channel_id)
        await self._message(org, channel_id, message_id)
        async with _store_errors():
            ev = await self.cstore.set_pin(org, channel_id, message_id, user_id, on=on)
        return ev is not None

    async def pins(self, org: str, user_id: str, channel_id: str) -> list[Pin]:
        await self._membership(org, user_id, channel_id)
        return await self.cstore.list_pins(org, channel_id)

    # -- bookmarks --------------------------------------------------------------------
    async def bookmark(
        self, org: str, user_id: str, channel_id: str, message_id: str, note: str | None
    ) -> Bookmark:
        note = convrules.check_note(note)
        await self._membership(org, user_id, channel_id)
        await self._message(org, channel_id, message_id)
        async with _store_errors():
            return await self.cstore.set_bookmark(org, user_id, channel_id, message_id, note)

    async def unbookmark(self, org: str, user_id: str, message_id: str) -> None:
        removed = rules.is_clean(message_id) and await self.cstore.delete_bookmark(
            org, user_id, message_id
        )
        if not removed:
            raise _not_found("bookmark")

    async def bookmarks(
        self, org: str, user_id: str, *, limit: int | None, cursor: str | None
    ) -> tuple[list[Bookmark], str | None]:
        n = rules.check_limit(limit, cap=rules.MAX_PAGE_LIMIT)
        try:
            return await self.cstore.list_bookmarks(org, user_id, limit=n, cursor=cursor or None)
        except ValueError as exc:
            raise rules.bad(f"bad cursor: {exc}") from None

    # -- mentions and teams -----------------------------------------------------------
    async def mentions(self, org: str, user_id: str, channel_id: str) -> tuple[int, list[Mention]]:
        await self._membership(org, user_id, channel_id)
        return await self.cstore.mentions(org, channel_id, user_id)

    async def create_team(self, org: str, user_id: str, name: str, members: list[str]) -> Team:
        name = convrules.check_team_name(name)
        if len(members) > convrules.MAX_TEAM_MEMBERS:
            raise rules.bad(f"at most {convrules.MAX_TEAM_MEMBERS} members")
        for m in members:
            rules.check_user_id(m, "member id")
        async with _store_errors("team"):
            return await self.cstore.create_team(
                org, name=name, created_by=user_id, members=members
            )

    async def team(self, org: str, team_id: str) -> Team:
        t = await self.cstore.get_team(org, team_id) if rules.is_clean(team_id) else None
        if t is None:
            raise _not_found("team")
        return t

    async def teams(self, org: str) -> list[Team]:
        return await self.cstore.list_teams(org)

    async def set_team_member(
        self, org: str, user_id: str, team_id: str, target: str, *, on: bool, service: bool
    ) -> Team:
        """Team members, its creator and service tokens manage a team's members."""
        rules.check_user_id(target)
        t = await self.team(org, team_id)
        if not (service or user_id == t.created_by or user_id in t.members):
            raise _forbidden("only the team's members or creator may change its members")
        if not on and target not in t.members:
            raise _not_found("team member")
        async with _store_errors("team"):
            await self.cstore.set_team_member(org, team_id, target, on=on)
        return await self.team(org, team_id)

    # -- WebSocket ops (broker.ports.ConversationOps) ----------------------------------
    async def ws_op(self, org: str, user_id: str, op: str, body: dict[str, Any]) -> dict[str, Any]:
        """``react`` / ``edit`` / ``delete`` / ``reply`` with a command's body; the reply
        fields. See docs/protocol.md."""
        channel = _field(body, "channel", str)
        if op == "reply":
            also = body.get("also_send_to_channel", False)
            if not isinstance(also, bool):
                raise rules.bad("'also_send_to_channel' must be a boolean")
            key = body.get("idempotency_key")
            result = await self.reply(
                org,
                user_id,
                channel,
                _field(body, "root", str),
                _field(body, "text", str),
                also_in_channel=also,
                idempotency_key=key if key is None else _field(body, "idempotency_key", str),
            )
            return post_reply(result)
        message_id = _field(body, "message_id", str)
        done: dict[str, Any] = {"channel": channel, "message_id": message_id}
        if op == "react":
            remove = body.get("remove", False)
            if not isinstance(remove, bool):
                raise rules.bad("'remove' must be a boolean")
            emoji = _field(body, "emoji", str)
            got = await self.react(org, user_id, channel, message_id, emoji, on=not remove)
            reactions = [{"emoji": r.emoji, "count": r.count, "me": r.me} for r in got]
            return {**done, "reactions": reactions}
        if op == "edit":
            m = await self.edit(org, user_id, channel, message_id, _field(body, "text", str))
            assert m.edited_at is not None
            return {**done, "seq": m.seq, "edited_at": rfc3339(m.edited_at)}
        if op == "delete":
            await self.delete(org, user_id, channel, message_id)
            return {**done, "deleted": True}
        raise ClientError(ErrorCode.UNKNOWN_OP, f"unknown op {op!r}")

    # -- tasks ------------------------------------------------------------------------
    async def create_task(
        self,
        org: str,
        user_id: str,
        channel_id: str,
        message_id: str,
        *,
        title: str,
        assignee: str | None,
        due: str | None,
    ) -> Task:
        title = convrules.check_title(title)
        due_at: datetime | None = None if due is None else parse_ts(due, what="due")
        await self._membership(org, user_id, channel_id)
        await self._message(org, channel_id, message_id)
        if assignee is not None:
            rules.check_user_id(assignee, "assignee")
            if await self.store.get_member(org, channel_id, assignee) is None:
                raise rules.bad("the assignee must be a member of the channel")
        async with _store_errors():
            task, _ = await self.cstore.create_task(
                org,
                channel_id,
                message_id,
                title=title,
                assignee=assignee,
                due_at=due_at,
                created_by=user_id,
            )
        self.sink.publish(task_topic(org, "created", task.id), task_data(task))
        return task

    async def task(self, org: str, user_id: str, task_id: str) -> Task:
        """Visible to members of the task's channel."""
        t = await self.cstore.get_task(org, task_id) if rules.is_clean(task_id) else None
        if t is None or await self.store.get_member(org, t.channel_id, user_id) is None:
            raise _not_found("task")
        return t

    async def complete_task(self, org: str, user_id: str, task_id: str) -> Task:
        """The assignee, the creator or a channel owner/admin completes (idempotent)."""
        t = await self.task(org, user_id, task_id)
        member = await self.store.get_member(org, t.channel_id, user_id)
        allowed = user_id in (t.assignee, t.created_by) or (
            member is not None and member.role in rules.MODERATORS
        )
        if not allowed:
            raise _forbidden("only the assignee, the creator or a channel owner/admin completes")
        async with _store_errors("task"):
            done, ev = await self.cstore.complete_task(org, task_id, user_id)
        if ev is not None:
            self.sink.publish(task_topic(org, "completed", done.id), task_data(done))
        return done

    async def tasks(self, org: str, user_id: str, *, limit: int | None) -> list[Task]:
        n = rules.check_limit(limit, cap=rules.MAX_PAGE_LIMIT)
        return await self.cstore.list_tasks(org, user_id, limit=n)
