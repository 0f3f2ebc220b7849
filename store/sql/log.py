"""The channel log: every event appended with the channel's next seq, and read back for recovery."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from parley.core.events import EventName
from parley.core.records import (
    ChannelEvent,
)
from parley.store import codec
from parley.store.db import Db
from parley.store.writetx import WriteTx


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
