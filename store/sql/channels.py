"""Channels: create, read, list with unread counts and last message; a user's channel ids."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from parley.core.events import EventName
from parley.core.records import (
    Channel,
    ChannelEvent,
    ChannelKind,
    ChannelSummary,
    Message,
    Page,
    Role,
)
from parley.store import codec
from parley.store.db import Db
from parley.store.errors import Conflict
from parley.store.ids import new_id
from parley.store.sql.log import append_event, events_after
from parley.store.sql.members import get_member, member_event_data
from parley.store.writetx import WriteTx


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
        "  AND x.seq > m.read_seq AND x.author <> m.user_id AND x.deleted = FALSE"
        "  AND NOT EXISTS (SELECT 1 FROM blocks b WHERE b.org = x.org"  # blocked: no unread
        "  AND b.blocker = m.user_id AND b.blocked = x.author))"
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


def user_channel_ids(db: Db, org: str, user_id: str) -> set[str]:
    rows = db.all("SELECT channel_id FROM members WHERE org = ? AND user_id = ?", (org, user_id))
    return {row[0] for row in rows}


#: Most user ids in one ``IN`` list of :func:`user_channel_sets`.
USERS_PER_QUERY = 500


def user_channel_sets(db: Db, users: Sequence[tuple[str, str]]) -> dict[tuple[str, str], set[str]]:
    """The channel ids of each ``(org, user_id)`` in ``users`` (an empty set for a user of
    no channel): :func:`user_channel_ids` for many users in one read (the broker's batched
    accept, broker/channelsets.py)."""
    sets: dict[tuple[str, str], set[str]] = {key: set() for key in users}
    by_org: dict[str, list[str]] = {}
    for org, user_id in sets:
        by_org.setdefault(org, []).append(user_id)
    for org, user_ids in by_org.items():
        for i in range(0, len(user_ids), USERS_PER_QUERY):
            chunk = user_ids[i : i + USERS_PER_QUERY]
            rows = db.all(
                "SELECT user_id, channel_id FROM members WHERE org = ?"
                f" AND user_id IN ({codec.placeholders(len(chunk))})",
                (org, *chunk),
            )
            for user_id, channel_id in rows:
                sets[(org, user_id)].add(channel_id)
    return sets


def member_events_after(
    db: Db, org: str, user_id: str, channel_id: str, after_seq: int, *, limit: int
) -> list[ChannelEvent] | None:
    """The channel's log events after ``after_seq`` if ``user_id`` is a member of it (None
    if the channel does not exist or they are not): the membership check and the log read
    of a recovery in one read (one store round trip instead of three)."""
    if get_channel(db, org, channel_id) is None or get_member(db, org, channel_id, user_id) is None:
        return None
    return events_after(db, org, channel_id, after_seq, limit=limit)


def member_last_seqs(db: Db, org: str, user_id: str, channel_ids: Sequence[str]) -> dict[str, int]:
    """``last_seq`` of each of ``channel_ids`` that ``user_id`` is a member of."""
    if not channel_ids:
        return {}
    rows = db.all(
        "SELECT c.id, c.last_seq FROM channels c JOIN members m"
        " ON m.org = c.org AND m.channel_id = c.id AND m.user_id = ?"
        f" WHERE c.org = ? AND c.id IN ({codec.placeholders(len(channel_ids))})",
        (user_id, org, *channel_ids),
    )
    return {row[0]: int(row[1]) for row in rows}


def create_channel(
    tx: WriteTx,
    *,
    org: str,
    kind: ChannelKind,
    name: str,
    topic: str,
    created_by: str,
    members: Sequence[str],
) -> tuple[Channel, list[ChannelEvent]]:
    codec.check_text(name, topic)
    others = [m for m in dict.fromkeys(members) if m != created_by]
    direct_key: str | None = None
    if kind is ChannelKind.DIRECT:
        pair = sorted({created_by, *others})
        if len(pair) > 2:
            raise ValueError("a direct channel has at most two members")
        direct_key = codec.dumps({"pair": pair})
    now = codec.now_us()
    channel_id = new_id("ch")
    everyone = [(created_by, Role.OWNER), *((m, Role.MEMBER) for m in others)]
    inserted = tx.db.run(
        "INSERT INTO channels (org, id, kind, name, topic, created_by, created_at_us,"
        " member_count, last_seq, last_activity_us, direct_key)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?) ON CONFLICT DO NOTHING",
        (org, channel_id, kind.value, name, topic, created_by, now, len(everyone), now, direct_key),
    )
    if inserted == 0:
        raise Conflict("a direct channel for this pair already exists")
    tx.created_channel(org, channel_id)
    events: list[ChannelEvent] = []
    for user_id, role in everyone:
        tx.db.send(
            "INSERT INTO members (org, channel_id, user_id, role, joined_at_us, read_seq)"
            " VALUES (?, ?, ?, ?, ?, 0)",
            (org, channel_id, user_id, role.value, now),
        )
        seq = tx.next_seq(org, channel_id, activity_us=None)
        data = member_event_data(user_id, role, created_by)
        events.append(
            append_event(tx, org, channel_id, seq, EventName.MEMBER_ADDED, data, now, created_by)
        )
    ch = Channel(
        id=channel_id,
        org=org,
        kind=kind,
        name=name,
        topic=topic,
        created_at=codec.from_us(now),
        created_by=created_by,
        member_count=len(everyone),
        last_seq=len(everyone),
    )
    return ch, events
