"""The SQL of each feature, as blocking functions: reads take a read connection
(:class:`~parley.store.db.Db`) first, writes the batch's write transaction
(:class:`~parley.store.writetx.WriteTx`). Callers run them through the store's typed
bridge: ``await store.read(sql.channels.get_channel, org, channel_id)``, ``store.write``."""

from parley.store.sql import (
    accounts,
    blocks,
    bookmarks,
    channels,
    edits,
    files,
    idempotency,
    log,
    members,
    mentions,
    messages,
    nodes,
    pins,
    previews,
    profiles,
    reactions,
    receipts,
    retention,
    search,
    tasks,
    teams,
    threads,
)

__all__ = [
    "accounts",
    "blocks",
    "bookmarks",
    "channels",
    "edits",
    "files",
    "idempotency",
    "log",
    "members",
    "mentions",
    "messages",
    "nodes",
    "pins",
    "previews",
    "profiles",
    "reactions",
    "receipts",
    "retention",
    "search",
    "tasks",
    "teams",
    "threads",
]
