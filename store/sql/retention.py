"""Retention periods, and redacting the messages older than them (docs/privacy.md)."""

from __future__ import annotations

from parley.store import codec
from parley.store.db import Db
from parley.store.sql.accounts import tombstone
from parley.store.writetx import WriteTx

#: The ``channel_id`` of an org's own period.
ORG_WIDE = ""
#: The ``actor`` of the ``message_deleted`` events retention writes.
RETENTION_ACTOR = "parley:retention"


def set_retention(
    tx: WriteTx, org: str, channel_id: str, seconds: int | None, *, actor: str
) -> None:
    """Set (``seconds``) or clear (``None``) the period of a channel, or of the org with
    :data:`ORG_WIDE`. NotFound for a channel that does not exist."""
    codec.check_text(channel_id, actor)
    if channel_id != ORG_WIDE:
        tx.last_seq(org, channel_id)  # NotFound, and the channel is locked
    if seconds is None:
        tx.db.send("DELETE FROM retention WHERE org = ? AND channel_id = ?", (org, channel_id))
        return
    tx.db.send(
        "INSERT INTO retention (org, channel_id, seconds, actor, updated_at_us)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT (org, channel_id) DO UPDATE SET"
        " seconds = excluded.seconds, actor = excluded.actor,"
        " updated_at_us = excluded.updated_at_us",
        (org, channel_id, seconds, actor, codec.now_us()),
    )


def retention_of(db: Db, org: str, channel_id: str) -> tuple[int | None, int | None]:
    """(the org's period, the channel's own period), in seconds; ``None``: not set."""
    rows = db.all(
        "SELECT channel_id, seconds FROM retention WHERE org = ? AND channel_id IN (?, ?)",
        (org, ORG_WIDE, channel_id),
    )
    got = {r[0]: int(r[1]) for r in rows}
    return got.get(ORG_WIDE), (got.get(channel_id) if channel_id != ORG_WIDE else None)


def channel_periods(db: Db) -> list[tuple[str, str, int]]:
    """Every channel under a retention period: (org, channel id, seconds), the shorter of
    the org's and the channel's own."""
    rows = db.all(
        "SELECT c.org, c.id, MIN(r.seconds) FROM channels c JOIN retention r"
        " ON r.org = c.org AND (r.channel_id = ? OR r.channel_id = c.id)"
        " GROUP BY c.org, c.id ORDER BY c.org, c.id",
        (ORG_WIDE,),
    )
    return [(r[0], r[1], int(r[2])) for r in rows]


def redact_expired(
    tx: WriteTx, org: str, channel_id: str, *, before_us: int, limit: int
) -> tuple[int, list[str]]:
    """Tombstone up to ``limit`` live messages of the channel created before
    ``before_us`` (oldest first), exactly as a delete does; return how many and the
    blob keys of their files (to delete after the commit)."""
    rows = tx.db.all(
        "SELECT id FROM messages WHERE org = ? AND channel_id = ? AND deleted = FALSE"
        " AND created_at_us < ? ORDER BY created_at_us, seq LIMIT ?",
        (org, channel_id, codec.i64(before_us), limit),
    )
    keys: list[str] = []
    for (message_id,) in rows:
        keys += tombstone(tx, org, channel_id, message_id, actor=RETENTION_ACTOR)
    return len(rows), keys
