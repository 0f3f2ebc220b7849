"""Conversions between database values and the records of :mod:`store.models`.

Both backends store instants as BIGINT microseconds since the Unix epoch (UTC): exact,
ordered the same way by both, and free of driver time-zone handling.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from parley.core.events import EventName
from parley.core.records import (
    Channel,
    ChannelEvent,
    ChannelKind,
    Member,
    Message,
    Profile,
    Receipt,
    Role,
)
from parley.core.times import rfc3339 as rfc3339

Row = Sequence[Any]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


I64_MIN = -(2**63)
I64_MAX = 2**63 - 1


def i64(value: int) -> int:
    """Clamp a caller's integer (seq, limit) into BIGINT range, so that both backends
    treat out-of-range values alike instead of raising driver errors."""
    return min(max(int(value), I64_MIN), I64_MAX)


def limit_of(value: int) -> int:
    """A LIMIT we can still add 1 to."""
    return min(int(value), I64_MAX - 1)


def check_text(*values: str | None) -> None:
    """Text is stored as given, except NUL, which PostgreSQL cannot store: both backends
    refuse it alike (ValueError: the caller's bad input)."""
    for value in values:
        if value is not None and "\x00" in value:
            raise ValueError("text must not contain NUL characters")


def placeholders(n: int) -> str:
    """``?, ?, ?`` for an ``IN (...)`` of ``n`` values."""
    return ", ".join("?" * n)


def now_us() -> int:
    return time.time_ns() // 1000


def from_us(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def opt_from_us(us: int | None) -> datetime | None:
    return None if us is None else from_us(us)


def to_us(dt: datetime) -> int:
    """Microseconds since the epoch; a naive datetime is a caller bug (ValueError)."""
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError("timestamps must be timezone-aware")
    return (dt - _EPOCH) // _MICROSECOND


def dumps(data: dict[str, Any]) -> str:
    return orjson.dumps(data).decode()


def loads(value: str | bytes | dict[str, Any]) -> dict[str, Any]:
    """SQLite returns the JSON text; psycopg has already decoded a ``jsonb`` value."""
    if isinstance(value, dict):
        return value
    loaded = orjson.loads(value)
    if not isinstance(loaded, dict):
        raise ValueError("event data is not a JSON object")
    return loaded


# -- opaque cursors -------------------------------------------------------------------


def encode_cursor(*parts: int | str) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(list(parts))).decode().rstrip("=")


def decode_cursor(cursor: str, *types: type) -> tuple[Any, ...]:
    """Decode a cursor made by :func:`encode_cursor`; ValueError if it is not one."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        parts = orjson.loads(raw)
    except (binascii.Error, orjson.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError("invalid cursor") from exc
    if (
        not isinstance(parts, list)
        or len(parts) != len(types)
        or not all(type(p) is t for p, t in zip(parts, types, strict=True))
        or any(type(p) is int and not I64_MIN <= p <= I64_MAX for p in parts)
    ):
        raise ValueError("invalid cursor")
    return tuple(parts)


# -- rows -> records --------------------------------------------------------------------

CHANNEL_COLS = (
    "c.id, c.org, c.kind, c.name, c.topic, c.created_at_us, c.created_by, c.member_count, "
    "c.last_seq"
)
MEMBER_COLS = "m.channel_id, m.user_id, m.role, m.joined_at_us, m.read_seq"
MESSAGE_COLS = (
    "m.id, m.org, m.channel_id, m.seq, m.author, m.text, m.created_at_us, m.edited_at_us, "
    "m.deleted, m.idempotency_key"
)
EVENT_COLS = "e.org, e.channel_id, e.seq, e.event, e.data, e.ts_us, e.actor"
PROFILE_COLS = "p.org, p.user_id, p.display_name, p.avatar_url, p.updated_at_us"


def channel(row: Row) -> Channel:
    return Channel(
        id=row[0],
        org=row[1],
        kind=ChannelKind(row[2]),
        name=row[3],
        topic=row[4],
        created_at=from_us(row[5]),
        created_by=row[6],
        member_count=int(row[7]),
        last_seq=int(row[8]),
    )


def member(row: Row) -> Member:
    return Member(
        channel_id=row[0],
        user_id=row[1],
        role=Role(row[2]),
        joined_at=from_us(row[3]),
        read_seq=int(row[4]),
    )


def message(row: Row) -> Message:
    return Message(
        id=row[0],
        org=row[1],
        channel_id=row[2],
        seq=int(row[3]),
        author=row[4],
        text=row[5],
        created_at=from_us(row[6]),
        edited_at=opt_from_us(row[7]),
        deleted=bool(row[8]),
        idempotency_key=row[9],
    )


def event(row: Row) -> ChannelEvent:
    return ChannelEvent(
        org=row[0],
        channel_id=row[1],
        seq=int(row[2]),
        event=EventName(row[3]),
        data=loads(row[4]),
        ts=from_us(row[5]),
        actor=row[6],
    )


def profile(row: Row) -> Profile:
    return Profile(
        org=row[0],
        user_id=row[1],
        display_name=row[2],
        avatar_url=row[3],
        updated_at=opt_from_us(row[4]),
    )


def receipt(row: Row) -> Receipt:
    return Receipt(user_id=row[0], read_seq=int(row[1]), updated_at=opt_from_us(row[2]))


def message_data(msg: Message) -> dict[str, Any]:
    """The ``message_posted`` event payload: the whole message."""
    return {
        "id": msg.id,
        "channel_id": msg.channel_id,
        "seq": msg.seq,
        "author": msg.author,
        "text": msg.text,
        "created_at": rfc3339(msg.created_at),
        "edited_at": None if msg.edited_at is None else rfc3339(msg.edited_at),
        "deleted": msg.deleted,
    }
