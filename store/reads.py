"""The read queries, as blocking functions run on a read connection in one transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from parley.core.records import (
    Channel,
    ChannelEvent,
    ChannelSummary,
    Member,
    Message,
    Page,
    Profile,
    Receipt,
    Role,
)
from parley.store import codec
from parley.store.db import Db


def get_channel(db: Db, org: str, channel_id: str) -> Channel | None:
    row = db.one(
        f"SELECT {codec.CHANNEL_COLS} FROM channels c WHERE c.org = ? AND c.id = ?",
        (org, channel_id),
    )
    return None if row is None else codec.channel(row)


def _last_message(db: Db, org: str, channel_id: str) -> Message | None:
    row = db.one(
        f"SELECT {codec.MESSAGE_COLS} FROM messages m WHERE m.org = ? AND m.channel_id = ?"
        " AND m.deleted = FALSE ORDER BY m.seq DESC LIMIT 1",
        (org, channel_id),
    )
    return None if row is None else codec.message(row)


def list_channels(
    db: Db, org: str, user_id: str, *, limit: int, cursor: str | None
) -> Page[ChannelSummary]:
    """Newest activity first; the cursor is (last_activity_us, channel id) of the last row."""
    if limit <= 0:
        return Page(items=[])
    limit = codec.limit_of(limit)
    where = "m.org = ? AND m.user_id = ?"
    params: list[Any] = [org, user_id]
    if cursor is not None:
        activity, after_id = codec.decode_cursor(cursor, int, str)
        where += " AND (c.last_activity_us < ? OR (c.last_activity_us = ? AND c.id < ?))"
        params += [activity, activity, after_id]
    rows = db.all(
        f"SELECT {codec.CHANNEL_COLS}, c.last_activity_us, m.role, m.read_seq,"
        " (SELECT COUNT(*) FROM messages x WHERE x.org = c.org AND x.channel_id = c.id"
        "  AND x.seq > m.read_seq AND x.author <> m.user_id AND x.deleted = FALSE)"
        " FROM members m JOIN channels c ON c.org = m.org AND c.id = m.channel_id"
        f" WHERE {where} ORDER BY c.last_activity_us DESC, c.id DESC LIMIT ?",
        (*params, limit + 1),
    )
    items = [
        ChannelSummary(
            channel=codec.channel(row),
            role=Role(row[10]),
            read_seq=int(row[11]),
            unread=int(row[12]),
            last_message=_last_message(db, org, row[0]),
        )
        for row in rows[:limit]
    ]
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = codec.encode_cursor(int(last[9]), last[0])
    return Page(items=items, next_cursor=next_cursor)


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


def user_channel_ids(db: Db, org: str, user_id: str) -> set[str]:
    rows = db.all("SELECT channel_id FROM members WHERE org = ? AND user_id = ?", (org, user_id))
    return {row[0] for row in rows}


def get_message(db: Db, org: str, channel_id: str, message_id: str) -> Message | None:
    row = db.one(
        f"SELECT {codec.MESSAGE_COLS} FROM messages m"
        " WHERE m.org = ? AND m.id = ? AND m.channel_id = ?",
        (org, message_id, channel_id),
    )
    return None if row is None else codec.message(row)


def list_messages(
    db: Db,
    org: str,
    channel_id: str,
    *,
    before: int | None,
    after: int | None,
    since: datetime | None,
    until: datetime | None,
    limit: int,
) -> list[Message]:
    if limit <= 0:
        return []
    where = "m.org = ? AND m.channel_id = ?"
    params: list[Any] = [org, channel_id]
    if after is not None:
        where += " AND m.seq > ?"
        params.append(codec.i64(after))
    if before is not None:
        where += " AND m.seq < ?"
        params.append(codec.i64(before))
    if since is not None:
        where += " AND m.created_at_us >= ?"
        params.append(codec.to_us(since))
    if until is not None:
        where += " AND m.created_at_us <= ?"
        params.append(codec.to_us(until))
    order = "ASC" if after is not None else "DESC"
    rows = db.all(
        f"SELECT {codec.MESSAGE_COLS} FROM messages m WHERE {where} ORDER BY m.seq {order} LIMIT ?",
        (*params, codec.limit_of(limit)),
    )
    return [codec.message(row) for row in rows]


def events_after(
    db: Db, org: str, channel_id: str, after_seq: int, *, limit: int
) -> list[ChannelEvent]:
    if limit <= 0:
        return []
    rows = db.all(
        f"SELECT {codec.EVENT_COLS} FROM channel_events e"
        " WHERE e.org = ? AND e.channel_id = ? AND e.seq > ? ORDER BY e.seq LIMIT ?",
        (org, channel_id, codec.i64(after_seq), codec.limit_of(limit)),
    )
    return [codec.event(row) for row in rows]


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
        " AND x.author <> r.user_id AND x.deleted = FALSE",
        (org, channel_id, user_id),
    )
    return 0 if row is None else int(row[0])


def get_profile(db: Db, org: str, user_id: str) -> Profile | None:
    row = db.one(
        f"SELECT {codec.PROFILE_COLS} FROM profiles p WHERE p.org = ? AND p.user_id = ?",
        (org, user_id),
    )
    return None if row is None else codec.profile(row)
