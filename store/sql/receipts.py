"""Read positions (receipts) and unread counts."""

from __future__ import annotations

from parley.core.records import (
    Receipt,
)
from parley.store import codec
from parley.store.db import Db
from parley.store.errors import NotFound
from parley.store.writetx import WriteTx


def mark_read(tx: WriteTx, org: str, channel_id: str, user_id: str, seq: int) -> int:
    db = tx.db
    row = db.one(
        "SELECT read_seq FROM members WHERE org = ? AND channel_id = ? AND user_id = ?",
        (org, channel_id, user_id),
    )
    if row is None:
        raise NotFound(f"member {user_id} of channel {channel_id}")
    current = int(row[0])
    target = min(codec.i64(seq), tx.last_seq(org, channel_id))
    if target <= current:
        return current
    moved = db.one(
        "UPDATE members SET read_seq = ?, read_at_us = ?"
        " WHERE org = ? AND channel_id = ? AND user_id = ? AND read_seq < ? RETURNING read_seq",
        (target, codec.now_us(), org, channel_id, user_id, target),
    )
    if moved is None:  # another node moved it further meanwhile
        again = db.one(
            "SELECT read_seq FROM members WHERE org = ? AND channel_id = ? AND user_id = ?",
            (org, channel_id, user_id),
        )
        return target if again is None else int(again[0])
    return target


def receipts(db: Db, org: str, channel_id: str) -> list[Receipt]:
    rows = db.all(
        "SELECT user_id, read_seq, read_at_us FROM members"
        " WHERE org = ? AND channel_id = ? ORDER BY user_id",
        (org, channel_id),
    )
    return [codec.receipt(row) for row in rows]


def unread_count(db: Db, org: str, channel_id: str, user_id: str) -> int:
    """0 for a non-member (there is no read position to count from)."""
    row = db.one(
        "SELECT COUNT(*) FROM members r JOIN messages x"
        " ON x.org = r.org AND x.channel_id = r.channel_id AND x.seq > r.read_seq"
        " WHERE r.org = ? AND r.channel_id = ? AND r.user_id = ?"
        " AND x.author <> r.user_id AND x.deleted = FALSE"
        " AND NOT EXISTS (SELECT 1 FROM blocks b WHERE b.org = x.org"  # blocked: no unread
        " AND b.blocker = r.user_id AND b.blocked = x.author)",
        (org, channel_id, user_id),
    )
    return 0 if row is None else int(row[0])
