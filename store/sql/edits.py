"""Editing and deleting messages, and their earlier versions."""

from __future__ import annotations

from typing import Any

from parley.core.events import EventName
from parley.core.records import (
    ChannelEvent,
    Message,
    Version,
)
from parley.core.times import rfc3339
from parley.store import codec
from parley.store.db import Db
from parley.store.errors import NotFound
from parley.store.sql.log import append_event, rewrite_message_events
from parley.store.sql.messages import live_message, message_row
from parley.store.writetx import WriteTx


def edit_message(
    tx: WriteTx, org: str, channel_id: str, message_id: str, *, text: str, actor: str
) -> tuple[Message, ChannelEvent]:
    codec.check_text(text)
    db = tx.db
    tx.last_seq(org, channel_id)
    msg = live_message(db, org, channel_id, message_id)
    now = codec.now_us()
    row = db.one(
        "SELECT COALESCE(MAX(version), 0) FROM message_versions WHERE org = ? AND message_id = ?",
        (org, message_id),
    )
    version = (0 if row is None else int(row[0])) + 1
    written = msg.edited_at or msg.created_at
    db.send(
        "INSERT INTO message_versions (org, message_id, version, text, written_at_us,"
        " replaced_at_us) VALUES (?, ?, ?, ?, ?, ?)",
        (org, message_id, version, msg.text, codec.to_us(written), now),
    )
    db.send(
        "UPDATE messages SET text = ?, edited_at_us = ? WHERE org = ? AND id = ?",
        (text, now, org, message_id),
    )
    seq = tx.next_seq(org, channel_id, activity_us=None)
    edited = Message(
        id=msg.id,
        org=org,
        channel_id=channel_id,
        seq=msg.seq,
        author=msg.author,
        text=text,
        created_at=msg.created_at,
        edited_at=codec.from_us(now),
        idempotency_key=msg.idempotency_key,
    )
    edited_at = rfc3339(edited.edited_at or edited.created_at)

    def to_current(data: dict[str, Any]) -> None:  # earlier versions leave the log
        data["text"] = text
        data["edited_at"] = edited_at

    rewrite_message_events(tx, org, message_id, to_current)
    data = codec.message_data(edited)
    data["version"] = version + 1
    event = append_event(
        tx, org, channel_id, seq, EventName.MESSAGE_EDITED, data, now, actor, message_id=msg.id
    )
    return edited, event


def delete_message(
    tx: WriteTx, org: str, channel_id: str, message_id: str, *, actor: str
) -> ChannelEvent | None:
    """Tombstone: no text, no history, no reactions or pins. ``None`` if already deleted."""
    db = tx.db
    tx.last_seq(org, channel_id)
    msg = message_row(db, org, channel_id, message_id)
    if msg is None:
        raise NotFound("no such message")
    if msg.deleted:
        return None
    now = codec.now_us()
    db.send(
        "UPDATE messages SET text = '', deleted = TRUE WHERE org = ? AND id = ?",
        (org, message_id),
    )
    for table in ("message_versions", "reactions", "pins", "mentions", "link_previews"):
        db.send(f"DELETE FROM {table} WHERE org = ? AND message_id = ?", (org, message_id))
    rewrite_message_events(tx, org, message_id, redact)
    _redact_shares_of(tx, org, message_id)
    seq = tx.next_seq(org, channel_id, activity_us=None)
    data = {"id": msg.id, "channel_id": channel_id, "seq": msg.seq, "actor": actor}
    return append_event(tx, org, channel_id, seq, EventName.MESSAGE_DELETED, data, now, actor)


def message_versions(db: Db, org: str, message_id: str) -> list[Version]:
    rows = db.all(
        "SELECT version, text, written_at_us, replaced_at_us FROM message_versions"
        " WHERE org = ? AND message_id = ? ORDER BY version",
        (org, message_id),
    )
    return [Version(int(r[0]), r[1], codec.from_us(r[2]), codec.from_us(r[3])) for r in rows]


def redact(data: dict[str, Any]) -> None:
    """A deleted message's logged payload: no text, no share snapshot, no files."""
    data["text"] = ""
    data["deleted"] = True
    if data.get("shared") is not None:
        data["shared"] = None
    if data.get("attachments"):
        data["attachments"] = []


def _redact_shares_of(tx: WriteTx, org: str, message_id: str) -> None:
    """Shares of a deleted message keep who shared it and when, not its text."""
    db = tx.db
    rows = db.all(
        "SELECT message_id, shared FROM message_meta WHERE org = ? AND shared_message_id = ?",
        (org, message_id),
    )
    for share_id, raw in rows:
        shared = codec.loads(raw)
        shared["text"] = ""
        shared["deleted"] = True
        db.send(
            "UPDATE message_meta SET shared = ? WHERE org = ? AND message_id = ?",
            (codec.dumps(shared), org, share_id),
        )
        rewrite_message_events(tx, org, share_id, _strip_share)


def _strip_share(data: dict[str, Any]) -> None:
    if isinstance(data.get("shared"), dict):
        data["shared"] = {**data["shared"], "text": "", "deleted": True}
