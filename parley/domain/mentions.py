"""Mentions: the post hook that stores a new message's mentions (unread counts) and pushes
them, with priority, on each mentioned member's own topic; and my mentions in a channel."""

from __future__ import annotations

from parley.core.ports import EventSink
from parley.core.records import Mention, PostResult
from parley.core.times import rfc3339
from parley.core.topics import is_segment, mention_topic
from parley.domain import access, content
from parley.store import Store, sql

MENTION_SNIPPET_CHARS = 200


class MentionService:
    def __init__(self, store: Store, sink: EventSink) -> None:
        self.store = store
        self.sink = sink

    async def after_post(self, result: PostResult) -> None:
        """A post hook, run for every post (REST, WebSocket, replies, shares, files).
        Mentioned users who cannot see the channel get nothing."""
        if not result.created or "@" not in result.message.text:
            return  # most posts mention no one: skip the parse
        m = result.message
        parsed = content.parse_mentions(m.text)
        if not parsed.handles and not parsed.everyone:
            return
        org, cid = m.org, m.channel_id
        via: dict[str, str] = {}
        teams = await self.store.read(sql.teams.team_members_by_name, org, parsed.handles)
        for handle in parsed.handles:
            if handle in teams:
                for user in teams[handle]:
                    via.setdefault(user, f"team:{handle}")
            else:
                via.setdefault(handle, "user")
        if parsed.everyone:
            cursor: str | None = None
            while True:
                page = await self.store.read(
                    sql.members.list_members, org, cid, limit=200, cursor=cursor
                )
                for mem in page.items:
                    via.setdefault(mem.user_id, "channel")
                cursor = page.next_cursor
                if cursor is None:
                    break
        via.pop(m.author, None)
        recipients = [
            user
            for user, how in via.items()
            if how == "channel" or await access.is_member(self.store, org, cid, user)
        ]
        blockers = await self.store.read(sql.blocks.blockers_of, org, m.author, recipients)
        recipients = [user for user in recipients if user not in blockers]  # docs/privacy.md
        if not recipients:
            return
        await self.store.write(sql.mentions.add_mentions, org, cid, m.seq, m.id, recipients)
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

    async def mentions(self, org: str, user_id: str, channel_id: str) -> tuple[int, list[Mention]]:
        await access.membership(self.store, org, user_id, channel_id)
        return await self.store.read(sql.mentions.mentions, org, channel_id, user_id)
