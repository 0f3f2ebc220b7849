"""Members of a channel: read, list, add and remove (each a channel-log event)."""

from __future__ import annotations

from typing import Any

from parley.core.events import EventName
from parley.core.records import (
    ChannelEvent,
    Member,
    Page,
    Role,
)
from parley.store import codec
from parley.store.db import Db
from parley.store.sql.log import append_event
from parley.store.writetx import WriteTx


def get_member(db: Db, org: str, channel_id: str, user_id: str) -> Member | None:
    row = db.one(
        f"SELECT {codec.MEMBER_COLS} FROM members m"
        " WHERE m.org = ? AND m.channel_id = ? AND m.user_id = ?",
        (org, channel_id, user_id),
    )
    return None if row is None else codec.member(row)


def list_members(
    db: Db, org: str, channel_id: str, *, limit: int, cursor: str | None
) -> Page[Member]:
    """In join order; the cursor is (joined_at_us, user id) of the last row."""
    if limit <= 0:
        return Page(items=[])
    limit = codec.limit_of(limit)
    where = "m.org = ? AND m.channel_id = ?"
    params: list[Any] = [org, channel_id]
    if cursor is not None:
        joined, after_user = codec.decode_cursor(cursor, int, str)
        where += " AND (m.joined_at_us > ? OR (m.joined_at_us = ? AND m.user_id > ?))"
        params += [joined, joined, after_user]
    rows = db.all(
        f"SELECT {codec.MEMBER_COLS} FROM members m WHERE {where}"
        " ORDER BY m.joined_at_us, m.user_id LIMIT ?",
        (*params, limit + 1),
    )
    items = [codec.member(row) for row in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = codec.encode_cursor(int(last[3]), last[1])
    return Page(items=items, next_cursor=next_cursor)


def count_members(db: Db, org: str, channel_id: str, delta: int) -> None:
    db.send(
        "UPDATE channels SET member_count = member_count + ? WHERE org = ? AND id = ?",
        (delta, org, channel_id),
    )


def member_event_data(user_id: str, role: Role | str, actor: str) -> dict[str, Any]:
    return {"user_id": user_id, "role": str(role), "actor": actor}


def add_member(
    tx: WriteTx, org: str, channel_id: str, user_id: str, *, role: Role, actor: str
) -> ChannelEvent | None:
    tx.last_seq(org, channel_id)  # NotFound, and the channel is locked
    now = codec.now_us()
    inserted = tx.db.run(
        "INSERT INTO members (org, channel_id, user_id, role, joined_at_us, read_seq)"
        " VALUES (?, ?, ?, ?, ?, 0) ON CONFLICT DO NOTHING",
        (org, channel_id, user_id, role.value, now),
    )
    if inserted == 0:
        return None
    count_members(tx.db, org, channel_id, 1)
    seq = tx.next_seq(org, channel_id, activity_us=None)
    data = member_event_data(user_id, role, actor)
    return append_event(tx, org, channel_id, seq, EventName.MEMBER_ADDED, data, now, actor)


def remove_member(
    tx: WriteTx, org: str, channel_id: str, user_id: str, *, actor: str
) -> ChannelEvent | None:
    tx.last_seq(org, channel_id)  # NotFound, and the channel is locked
    row = tx.db.one(
        "DELETE FROM members WHERE org = ? AND channel_id = ? AND user_id = ? RETURNING role",
        (org, channel_id, user_id),
    )
    if row is None:
        return None
    now = codec.now_us()
    count_members(tx.db, org, channel_id, -1)
    seq = tx.next_seq(org, channel_id, activity_us=None)
    data = member_event_data(user_id, row[0], actor)
    return append_event(tx, org, channel_id, seq, EventName.MEMBER_REMOVED, data, now, actor)
