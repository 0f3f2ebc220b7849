"""Messages as one reader sees them: thread summary, reactions, pin, attachments, and a
share's link only if the reader can open the shared message's channel."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from parley.core.records import (
    REMOTE_PREFIXES,
    Attachment,
    Message,
    MessageMeta,
    ReactionCount,
    RemoteMember,
    ThreadSummary,
    snapshot,
)
from parley.store import Store, sql


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
    #: The author is someone this reader blocked: clients show it collapsed.
    collapsed: bool = False
    #: A remote participant wrote it (a federated channel, docs/federation.md).
    remote: RemoteMember | None = None
    #: The files posted with it (none once it is deleted), oldest first.
    attachments: list[Attachment] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ThreadView:
    root: MessageView
    replies: list[MessageView]
    unread: int
    read_seq: int = 0


async def attachments_of(
    store: Store, org: str, messages: list[Message]
) -> dict[str, list[Attachment]]:
    """The files posted with each of ``messages`` (none for deleted ones), oldest first:
    one read for any number of messages."""
    files: dict[str, list[Attachment]] = {}
    live = [m.id for m in messages if not m.deleted]
    for att in await store.read(sql.files.message_attachments, org, live):
        if att.message_id is not None:
            files.setdefault(att.message_id, []).append(att)
    return files


async def message_views(
    store: Store, org: str, user_id: str, messages: list[Message]
) -> list[MessageView]:
    if not messages:
        return []
    ids = [m.id for m in messages]
    metas = await store.read(sql.messages.message_metas, org, ids)
    summaries = await store.read(sql.threads.thread_summaries, org, ids)
    reactions = await store.read(sql.reactions.reactions, org, ids, user_id)
    pinned: set[str] = set()
    for channel_id in {m.channel_id for m in messages}:
        pinned |= await store.read(sql.pins.pinned_ids, org, channel_id, ids)
    files = await attachments_of(store, org, messages)
    mine: set[str] | None = None
    blocked = await store.read(sql.blocks.blocked_ids, org, user_id)
    remote: dict[tuple[str, str], RemoteMember] = {}
    for channel_id in {m.channel_id for m in messages}:
        authors = sorted({m.author for m in messages if m.channel_id == channel_id})
        authors = [a for a in authors if a.startswith(REMOTE_PREFIXES)]
        if authors:  # only federated channels have remote authors
            found = await store.read(sql.federation.remote_authors, org, channel_id, authors)
            remote.update({(channel_id, a): r for a, r in found.items()})
    views = []
    for m in messages:
        meta = metas.get(m.id, MessageMeta())
        shared = None
        if meta.shared is not None and not m.deleted:
            if mine is None:
                mine = await store.read(sql.channels.user_channel_ids, org, user_id)
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
                collapsed=m.author in blocked,
                remote=remote.get((m.channel_id, m.author)),
                attachments=files.get(m.id, []),
            )
        )
    return views
