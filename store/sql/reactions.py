"""Reactions to messages."""

from __future__ import annotations

from collections.abc import Sequence

from parley.core.events import EventName
from parley.core.records import (
    ChannelEvent,
    ReactionCount,
)
from parley.store import codec
from parley.store.db import Db
from parley.store.sql.log import append_event
from parley.store.sql.messages import live_message
from parley.store.writetx import WriteTx


def set_reaction(
    tx: WriteTx,
    org: str,
    channel_id: str,
    message_id: str,
    user_id: str,
    emoji: str,
    *,
    on: bool,
) -> ChannelEvent | None:
    """Add (``on``) or remove one user's reaction; ``None`` when nothing changed."""
    codec.check_text(emoji)
    db = tx.db
    tx.last_seq(org, channel_id)
    msg = live_message(db, org, channel_id, message_id)
    now = codec.now_us()
    if on:
        changed = db.run(
            "INSERT INTO reactions (org, channel_id, message_id, emoji, user_id, created_at_us)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (org, channel_id, message_id, emoji, user_id, now),
        )
    else:
        changed = db.run(
            "DELETE FROM reactions WHERE org = ? AND message_id = ? AND emoji = ? AND user_id = ?",
            (org, message_id, emoji, user_id),
        )
    if changed == 0:
        return None
    row = db.one(
        "SELECT COUNT(*) FROM reactions WHERE org = ? AND message_id = ? AND emoji = ?",
        (org, message_id, emoji),
    )
    seq = tx.next_seq(org, channel_id, activity_us=None)
    name = EventName.REACTION_ADDED if on else EventName.REACTION_REMOVED
    data = {
        "message_id": message_id,
        "message_seq": msg.seq,
        "emoji": emoji,
        "user_id": user_id,
        "count": 0 if row is None else int(row[0]),
    }
    return append_event(tx, org, channel_id, seq, name, data, now, user_id)


def reactions(
    db: Db, org: str, message_ids: Sequence[str], user_id: str
) -> dict[str, list[ReactionCount]]:
    if not message_ids:
        return {}
    rows = db.all(
        "SELECT message_id, emoji, COUNT(*),"
        " SUM(CASE WHEN user_id = ? THEN 1 ELSE 0 END), MIN(created_at_us) FROM reactions"
        f" WHERE org = ? AND message_id IN ({codec.placeholders(len(message_ids))})"
        " GROUP BY message_id, emoji ORDER BY MIN(created_at_us), emoji",
        (user_id, org, *message_ids),
    )
    out: dict[str, list[ReactionCount]] = {}
    for mid, emoji, count, mine, _ in rows:
        out.setdefault(mid, []).append(ReactionCount(emoji, int(count), int(mine) > 0))
    return out
