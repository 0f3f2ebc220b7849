"""Mentions of users in messages (unread counts, the latest mentions)."""

from __future__ import annotations

from collections.abc import Sequence

from parley.core.records import (
    Mention,
)
from parley.store.db import Db
from parley.store.writetx import WriteTx


def add_mentions(
    tx: WriteTx, org: str, channel_id: str, seq: int, message_id: str, users: Sequence[str]
) -> None:
    for user in users:
        tx.db.send(
            "INSERT INTO mentions (org, channel_id, seq, user_id, message_id)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (org, channel_id, seq, user, message_id),
        )


def mentions(db: Db, org: str, channel_id: str, user_id: str) -> tuple[int, list[Mention]]:
    """(unread mentions after the member's read position, the latest 50 mentions)."""
    row = db.one(
        "SELECT COUNT(*) FROM mentions x JOIN members r ON r.org = x.org"
        " AND r.channel_id = x.channel_id AND r.user_id = x.user_id"
        " WHERE x.org = ? AND x.channel_id = ? AND x.user_id = ? AND x.seq > r.read_seq",
        (org, channel_id, user_id),
    )
    rows = db.all(
        "SELECT channel_id, seq, message_id FROM mentions"
        " WHERE org = ? AND channel_id = ? AND user_id = ? ORDER BY seq DESC LIMIT 50",
        (org, channel_id, user_id),
    )
    return (0 if row is None else int(row[0])), [Mention(r[0], int(r[1]), r[2]) for r in rows]
