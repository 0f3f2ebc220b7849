"""The write transactions, as blocking functions run by the group-commit writer.

Each runs inside the writer's batch transaction under its own SAVEPOINT, on the one
writer connection, so requests of one batch see each other's writes in queue order.
Every log write takes the channel's next seq from ``tx`` (see :mod:`store.writetx`) in the
same transaction and records the :class:`ChannelEvent` in ``channel_events`` and in
``tx.events`` (what the commit listener receives after the commit).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from parley.core.events import EventName
from parley.core.records import (
    Channel,
    ChannelEvent,
    ChannelKind,
    Message,
    PostResult,
    Profile,
    Role,
)
from parley.store import codec
from parley.store.base import Authorize
from parley.store.db import Db
from parley.store.errors import Conflict, NotFound
from parley.store.ids import new_id
from parley.store.writetx import WriteTx


def _count_members(db: Db, org: str, channel_id: str, delta: int) -> None:
    db.send(
        "UPDATE channels SET member_count = member_count + ? WHERE org = ? AND id = ?",
        (delta, org, channel_id),
    )


def append_event(
    tx: WriteTx,
    org: str,
    channel_id: str,
    seq: int,
    name: EventName,
    data: dict[str, Any],
    ts_us: int,
    actor: str,
    at: datetime | None = None,
) -> ChannelEvent:
    tx.db.defer(
        "INSERT INTO channel_events (org, channel_id, seq, event, data, ts_us, actor)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (org, channel_id, seq, name.value, codec.dumps(data), ts_us, actor),
    )
    ts = codec.from_us(ts_us) if at is None else at
    event = ChannelEvent(org, channel_id, seq, name, data, ts, actor)
    tx.events.append(event)
    return event


def _member_event_data(user_id: str, role: Role | str, actor: str) -> dict[str, Any]:
    return {"user_id": user_id, "role": str(role), "actor": actor}


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
        data = _member_event_data(user_id, role, created_by)
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
    _count_members(tx.db, org, channel_id, 1)
    seq = tx.next_seq(org, channel_id, activity_us=None)
    data = _member_event_data(user_id, role, actor)
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
    _count_members(tx.db, org, channel_id, -1)
    seq = tx.next_seq(org, channel_id, activity_us=None)
    data = _member_event_data(user_id, row[0], actor)
    return append_event(tx, org, channel_id, seq, EventName.MEMBER_REMOVED, data, now, actor)


def post_message(
    tx: WriteTx,
    org: str,
    channel_id: str,
    *,
    author: str,
    text: str,
    idempotency_key: str | None,
) -> PostResult:
    codec.check_text(text, idempotency_key)
    if idempotency_key is not None:
        # Lock first, then look: a concurrent writer on another node that committed the
        # same key is then visible (PostgreSQL, READ COMMITTED).
        tx.last_seq(org, channel_id)
        repeat = find_repeat(tx, org, channel_id, author, idempotency_key)
        if repeat is not None:
            return repeat
    return _append_message(tx, org, channel_id, author, text, idempotency_key)


def find_repeat(
    tx: WriteTx, org: str, channel_id: str, author: str, idempotency_key: str
) -> PostResult | None:
    """The message an earlier post with this key stored, as an idempotent repeat (call
    with the channel row locked)."""
    row = tx.db.one(
        f"SELECT {codec.MESSAGE_COLS} FROM messages m WHERE m.org = ?"
        " AND m.channel_id = ? AND m.author = ? AND m.idempotency_key = ?",
        (org, channel_id, author, idempotency_key),
    )
    return None if row is None else PostResult(codec.message(row), event=None, created=False)


def insert_message(
    tx: WriteTx,
    org: str,
    channel_id: str,
    *,
    author: str,
    text: str,
    idempotency_key: str | None = None,
    files_text: str = "",
) -> tuple[Message, int]:
    """Take the channel's next seq and write the message row (every kind of post goes
    through here); return the message and its time in microseconds."""
    now = codec.now_us()
    seq = tx.next_seq(org, channel_id, activity_us=now)
    msg = Message(
        id=new_id("msg"),
        org=org,
        channel_id=channel_id,
        seq=seq,
        author=author,
        text=text,
        created_at=codec.from_us(now),
        idempotency_key=idempotency_key,
    )
    tx.db.defer(
        "INSERT INTO messages (org, channel_id, seq, id, author, text, created_at_us,"
        " idempotency_key, files_text) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (org, channel_id, seq, msg.id, author, text, now, idempotency_key, files_text),
    )
    return msg, now


#: A member's role and the channel's kind, and (with the idempotency key as first
#: parameter) the message an earlier post with that key stored, in one statement.
_MEMBER_SQL = (
    "SELECT c.kind, mb.role FROM members mb"
    " JOIN channels c ON c.org = mb.org AND c.id = mb.channel_id"
    " WHERE mb.org = ? AND mb.channel_id = ? AND mb.user_id = ?"
)
_MEMBER_AND_KEY_SQL = (
    f"SELECT c.kind, mb.role, {codec.MESSAGE_COLS} FROM members mb"
    " JOIN channels c ON c.org = mb.org AND c.id = mb.channel_id"
    " LEFT JOIN messages m ON m.org = mb.org AND m.channel_id = mb.channel_id"
    " AND m.author = mb.user_id AND m.idempotency_key = ?"
    " WHERE mb.org = ? AND mb.channel_id = ? AND mb.user_id = ?"
)


def post_as_member(
    tx: WriteTx,
    org: str,
    channel_id: str,
    *,
    author: str,
    text: str,
    idempotency_key: str | None,
    authorize: Authorize,
) -> PostResult:
    """:func:`post_message` by a member, checked in the same transaction: NotFound if
    there is no such channel in the org or ``author`` is not a member of it; then
    ``authorize(kind, role)`` (which raises to refuse); then the idempotent repeat."""
    codec.check_text(text, idempotency_key)
    # Lock the channel row first (once per batch): membership changes lock it too, so the
    # membership read next holds until this transaction commits, on any node.
    tx.last_seq(org, channel_id)
    if idempotency_key is None:
        row = tx.db.one(_MEMBER_SQL, (org, channel_id, author))
    else:
        row = tx.db.one(_MEMBER_AND_KEY_SQL, (idempotency_key, org, channel_id, author))
    if row is None:
        raise NotFound(f"channel {channel_id}")
    authorize(ChannelKind(row[0]), Role(row[1]))
    if idempotency_key is not None and row[2] is not None:
        return PostResult(message=codec.message(row[2:]), event=None, created=False)
    return _append_message(tx, org, channel_id, author, text, idempotency_key)


def _append_message(
    tx: WriteTx,
    org: str,
    channel_id: str,
    author: str,
    text: str,
    idempotency_key: str | None,
) -> PostResult:
    msg, now = insert_message(
        tx, org, channel_id, author=author, text=text, idempotency_key=idempotency_key
    )
    data = codec.message_data(msg)
    event = append_event(
        tx, org, channel_id, msg.seq, EventName.MESSAGE_POSTED, data, now, author, msg.created_at
    )
    return PostResult(message=msg, event=event, created=True)


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


def set_profile(
    tx: WriteTx, org: str, user_id: str, *, display_name: str | None, avatar_url: str | None
) -> Profile:
    codec.check_text(display_name, avatar_url)
    now = codec.now_us()
    tx.db.send(
        "INSERT INTO profiles (org, user_id, display_name, avatar_url, updated_at_us)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT (org, user_id) DO UPDATE SET"
        " display_name = excluded.display_name, avatar_url = excluded.avatar_url,"
        " updated_at_us = excluded.updated_at_us",
        (org, user_id, display_name, avatar_url, now),
    )
    return Profile(org, user_id, display_name, avatar_url, codec.from_us(now))
