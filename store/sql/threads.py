"""Threads: summaries, replies, per-user thread read positions."""

from __future__ import annotations

from collections.abc import Sequence

from parley.core.records import (
    Message,
    ThreadSummary,
)
from parley.store import codec
from parley.store.db import Db
from parley.store.sql.messages import live_message
from parley.store.writetx import WriteTx


def thread_summaries(db: Db, org: str, root_ids: Sequence[str]) -> dict[str, ThreadSummary]:
    if not root_ids:
        return {}
    marks = codec.placeholders(len(root_ids))
    where = f"x.org = ? AND x.thread_root IN ({marks}) AND m.deleted = FALSE"
    join = "message_meta x JOIN messages m ON m.org = x.org AND m.id = x.message_id"
    rows = db.all(
        f"SELECT x.thread_root, COUNT(*), MAX(m.created_at_us) FROM {join} WHERE {where}"
        " GROUP BY x.thread_root",
        (org, *root_ids),
    )
    people = db.all(
        f"SELECT DISTINCT x.thread_root, m.author FROM {join} WHERE {where}",
        (org, *root_ids),
    )
    who: dict[str, list[str]] = {}
    for root, author in people:
        who.setdefault(root, []).append(author)
    return {
        r[0]: ThreadSummary(r[0], int(r[1]), codec.opt_from_us(r[2]), sorted(who.get(r[0], [])))
        for r in rows
    }


def thread_replies(
    db: Db, org: str, channel_id: str, root_id: str, *, after: int, limit: int
) -> list[Message]:
    rows = db.all(
        f"SELECT {codec.MESSAGE_COLS} FROM message_meta x JOIN messages m"
        " ON m.org = x.org AND m.id = x.message_id"
        " WHERE x.org = ? AND x.thread_root = ? AND m.channel_id = ? AND m.seq > ?"
        " ORDER BY m.seq LIMIT ?",
        (org, root_id, channel_id, codec.i64(after), codec.limit_of(limit)),
    )
    return [codec.message(r) for r in rows]


def thread_unread(db: Db, org: str, root_ids: Sequence[str], user_id: str) -> dict[str, int]:
    """Replies (not deleted, not mine) after the user's thread read position."""
    if not root_ids:
        return {}
    rows = db.all(
        "SELECT x.thread_root, COUNT(*) FROM message_meta x JOIN messages m"
        " ON m.org = x.org AND m.id = x.message_id"
        " LEFT JOIN thread_reads r ON r.org = x.org AND r.root_id = x.thread_root"
        " AND r.user_id = ?"
        f" WHERE x.org = ? AND x.thread_root IN ({codec.placeholders(len(root_ids))})"
        " AND m.deleted = FALSE"
        " AND m.author <> ? AND m.seq > COALESCE(r.read_seq, 0) GROUP BY x.thread_root",
        (user_id, org, *root_ids, user_id),
    )
    return {r[0]: int(r[1]) for r in rows}


def channel_threads(db: Db, org: str, channel_id: str, *, limit: int) -> list[str]:
    """Root ids of the channel's threads, latest reply first."""
    rows = db.all(
        "SELECT x.thread_root, MAX(x.seq) FROM message_meta x"
        " WHERE x.org = ? AND x.channel_id = ? AND x.thread_root IS NOT NULL"
        " GROUP BY x.thread_root ORDER BY MAX(x.seq) DESC LIMIT ?",
        (org, channel_id, codec.limit_of(limit)),
    )
    return [r[0] for r in rows]


def mark_thread_read(
    tx: WriteTx, org: str, channel_id: str, root_id: str, user_id: str, seq: int
) -> int:
    """Forward only; returns the position in force."""
    db = tx.db
    live_message(db, org, channel_id, root_id)
    seq = min(codec.i64(seq), tx.last_seq(org, channel_id))
    db.send(
        "INSERT INTO thread_reads (org, root_id, user_id, read_seq) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (org, root_id, user_id) DO UPDATE SET read_seq = excluded.read_seq"
        " WHERE thread_reads.read_seq < excluded.read_seq",
        (org, root_id, user_id, codec.i64(seq)),
    )
    row = db.one(
        "SELECT read_seq FROM thread_reads WHERE org = ? AND root_id = ? AND user_id = ?",
        (org, root_id, user_id),
    )
    return 0 if row is None else int(row[0])
