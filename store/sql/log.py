"""The channel log: every event appended with the channel's next seq, read back for
recovery, and rewritten where redaction must reach it (edits, deletes)."""

from __future__ import annotations

from collections.abc import Callable
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
    *,
    message_id: str | None = None,
) -> ChannelEvent:
    """Append one event. ``message_id``: the message the event carries (``message_posted``,
    ``message_edited``), so that :func:`rewrite_message_events` finds it again."""
    tx.db.defer(
        "INSERT INTO channel_events (org, channel_id, seq, event, data, ts_us, actor,"
        " message_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (org, channel_id, seq, name.value, codec.dumps(data), ts_us, actor, message_id),
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


def rewrite_message_events(
    tx: WriteTx, org: str, message_id: str, change: Callable[[dict[str, Any]], None]
) -> int:
    """Apply ``change`` (which edits the payload in place) to every logged event that
    carries the message, so that a replay yields what the message is now and never an
    earlier text. Returns the number of events rewritten."""
    rows = tx.db.all(
        "SELECT channel_id, seq, data FROM channel_events WHERE org = ? AND message_id = ?",
        (org, message_id),
    )
    for channel_id, seq, raw in rows:
        data = codec.loads(raw)
        change(data)
        tx.db.send(
            "UPDATE channel_events SET data = ? WHERE org = ? AND channel_id = ? AND seq = ?",
            (codec.dumps(data), org, channel_id, seq),
        )
    return len(rows)
