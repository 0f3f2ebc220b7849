"""Pinned messages."""

from __future__ import annotations

from collections.abc import Sequence

from parley.core.events import EventName
from parley.core.records import (
    ChannelEvent,
    Pin,
)
from parley.store import codec
from parley.store.db import Db
from parley.store.sql.log import append_event
from parley.store.sql.messages import live_message
from parley.store.writetx import WriteTx


def set_pin(
    tx: WriteTx, org: str, channel_id: str, message_id: str, user_id: str, *, on: bool
) -> ChannelEvent | None:
    db = tx.db
    tx.last_seq(org, channel_id)
    msg = live_message(db, org, channel_id, message_id)
    now = codec.now_us()
    if on:
        changed = db.run(
            "INSERT INTO pins (org, channel_id, message_id, pinned_by, pinned_at_us)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (org, channel_id, message_id, user_id, now),
        )
    else:
        changed = db.run(
            "DELETE FROM pins WHERE org = ? AND channel_id = ? AND message_id = ?",
            (org, channel_id, message_id),
        )
    if changed == 0:
        return None
    seq = tx.next_seq(org, channel_id, activity_us=None)
    name = EventName.MESSAGE_PINNED if on else EventName.MESSAGE_UNPINNED
    data = {"message_id": message_id, "message_seq": msg.seq, "user_id": user_id}
    return append_event(tx, org, channel_id, seq, name, data, now, user_id)


def pinned_ids(db: Db, org: str, channel_id: str, message_ids: Sequence[str]) -> set[str]:
    if not message_ids:
        return set()
    rows = db.all(
        "SELECT message_id FROM pins WHERE org = ? AND channel_id = ?"
        f" AND message_id IN ({codec.placeholders(len(message_ids))})",
        (org, channel_id, *message_ids),
    )
    return {r[0] for r in rows}


def list_pins(db: Db, org: str, channel_id: str) -> list[Pin]:
    rows = db.all(
        f"SELECT {codec.MESSAGE_COLS}, p.pinned_by, p.pinned_at_us FROM pins p JOIN messages m"
        " ON m.org = p.org AND m.id = p.message_id"
        " WHERE p.org = ? AND p.channel_id = ? AND m.deleted = FALSE"
        " ORDER BY p.pinned_at_us DESC, m.seq DESC",
        (org, channel_id),
    )
    return [Pin(codec.message(r), r[10], codec.from_us(r[11])) for r in rows]
