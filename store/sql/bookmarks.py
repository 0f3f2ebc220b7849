"""A user's bookmarks."""

from __future__ import annotations

from typing import Any

from parley.core.records import (
    Bookmark,
)
from parley.store import codec
from parley.store.db import Db
from parley.store.sql.messages import live_message
from parley.store.writetx import WriteTx


def set_bookmark(
    tx: WriteTx, org: str, user_id: str, channel_id: str, message_id: str, note: str | None
) -> Bookmark:
    codec.check_text(note)
    db = tx.db
    msg = live_message(db, org, channel_id, message_id)
    now = codec.now_us()
    db.send(
        "INSERT INTO bookmarks (org, user_id, message_id, channel_id, note, created_at_us)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (org, user_id, message_id) DO UPDATE SET"
        " note = excluded.note",
        (org, user_id, message_id, channel_id, note, now),
    )
    row = db.one(
        "SELECT note, created_at_us FROM bookmarks WHERE org = ? AND user_id = ?"
        " AND message_id = ?",
        (org, user_id, message_id),
    )
    assert row is not None
    return Bookmark(message=msg, note=row[0], created_at=codec.from_us(row[1]))


def delete_bookmark(tx: WriteTx, org: str, user_id: str, message_id: str) -> bool:
    return (
        tx.db.run(
            "DELETE FROM bookmarks WHERE org = ? AND user_id = ? AND message_id = ?",
            (org, user_id, message_id),
        )
        > 0
    )


def list_bookmarks(
    db: Db, org: str, user_id: str, *, limit: int, cursor: str | None
) -> tuple[list[Bookmark], str | None]:
    """Newest first; only messages of channels the user is a member of now, not deleted."""
    where = "b.org = ? AND b.user_id = ? AND m.deleted = FALSE"
    params: list[Any] = [org, user_id]
    if cursor is not None:
        at, after_id = codec.decode_cursor(cursor, int, str)
        where += " AND (b.created_at_us < ? OR (b.created_at_us = ? AND b.message_id < ?))"
        params += [at, at, after_id]
    rows = db.all(
        f"SELECT {codec.MESSAGE_COLS}, b.note, b.created_at_us FROM bookmarks b"
        " JOIN messages m ON m.org = b.org AND m.id = b.message_id"
        " JOIN members c ON c.org = b.org AND c.channel_id = m.channel_id AND c.user_id = b.user_id"
        f" WHERE {where} ORDER BY b.created_at_us DESC, b.message_id DESC LIMIT ?",
        (*params, codec.limit_of(limit) + 1),
    )
    items = [Bookmark(codec.message(r), r[10], codec.from_us(r[11])) for r in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = codec.encode_cursor(int(last[11]), last[0])
    return items, next_cursor
