"""Attachment records (the bytes live in a blob store, :mod:`parley.store.blobs`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from parley.core.records import Attachment
from parley.store import codec
from parley.store.db import Db
from parley.store.ids import new_id
from parley.store.writetx import WriteTx

ATTACHMENT_COLS = (
    "a.id, a.org, a.channel_id, a.uploader, a.message_id, a.name, a.content_type, a.size,"
    " a.width, a.height, a.sha256, a.blob_key, a.created_at_us"
)


def attachment_from_row(row: tuple[Any, ...]) -> Attachment:
    return Attachment(
        id=row[0],
        org=row[1],
        channel_id=row[2],
        uploader=row[3],
        message_id=row[4],
        name=row[5],
        content_type=row[6],
        size=int(row[7]),
        width=None if row[8] is None else int(row[8]),
        height=None if row[9] is None else int(row[9]),
        sha256=row[10],
        blob_key=row[11],
        created_at=codec.from_us(int(row[12])),
    )


def insert_attachment(
    tx: WriteTx,
    org: str,
    channel_id: str,
    *,
    uploader: str,
    name: str,
    content_type: str,
    size: int,
    width: int | None,
    height: int | None,
    sha256: str,
    blob_key: str,
) -> Attachment:
    codec.check_text(name, content_type)
    tx.last_seq(org, channel_id)  # NotFound for no channel
    now = codec.now_us()
    att = Attachment(
        id=new_id("file"),
        org=org,
        channel_id=channel_id,
        uploader=uploader,
        message_id=None,
        name=name,
        content_type=content_type,
        size=size,
        width=width,
        height=height,
        sha256=sha256,
        blob_key=blob_key,
        created_at=codec.from_us(now),
    )
    tx.db.send(
        "INSERT INTO attachments (org, id, channel_id, uploader, message_id, name,"
        " content_type, size, width, height, sha256, blob_key, created_at_us)"
        " VALUES (?, ?, ?, ?, NULL, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            org,
            att.id,
            channel_id,
            uploader,
            name,
            content_type,
            size,
            width,
            height,
            sha256,
            blob_key,
            now,
        ),
    )
    return att


@dataclass(frozen=True, slots=True)
class NewFile:
    """A stored blob to record as an attachment."""

    name: str
    content_type: str
    size: int
    width: int | None
    height: int | None
    sha256: str
    blob_key: str


def stored_bytes(db: Db, org: str, user_id: str) -> tuple[int, int]:
    """(bytes of the files ``user_id`` uploaded, bytes of every file of ``org``), posted or
    not: what the upload quotas count (docs/files.md)."""
    row = db.one(
        "SELECT COALESCE(SUM(CASE WHEN uploader = ? THEN size ELSE 0 END), 0),"
        " COALESCE(SUM(size), 0) FROM attachments WHERE org = ?",
        (user_id, org),
    )
    return (0, 0) if row is None else (int(row[0]), int(row[1]))


def insert_attachments(
    tx: WriteTx,
    org: str,
    channel_id: str,
    uploader: str,
    files: Sequence[NewFile],
    *,
    check_quota: Callable[[int, int], None],
) -> list[Attachment]:
    """Record ``files`` together, or none: ``check_quota(user_bytes, org_bytes)`` sees the
    bytes stored before them, in the write transaction (so concurrent uploads cannot both
    pass it), and raises to refuse."""
    check_quota(*stored_bytes(tx.db, org, uploader))
    return [
        insert_attachment(
            tx,
            org,
            channel_id,
            uploader=uploader,
            name=f.name,
            content_type=f.content_type,
            size=f.size,
            width=f.width,
            height=f.height,
            sha256=f.sha256,
            blob_key=f.blob_key,
        )
        for f in files
    ]


def get_attachment(db: Db, org: str, file_id: str) -> Attachment | None:
    row = db.one(
        f"SELECT {ATTACHMENT_COLS} FROM attachments a WHERE a.org = ? AND a.id = ?",
        (org, file_id),
    )
    return None if row is None else attachment_from_row(row)


def message_attachments(db: Db, org: str, message_ids: Sequence[str]) -> list[Attachment]:
    if not message_ids:
        return []
    marks = ", ".join("?" for _ in message_ids)
    rows = db.all(
        f"SELECT {ATTACHMENT_COLS} FROM attachments a WHERE a.org = ?"
        f" AND a.message_id IN ({marks}) ORDER BY a.created_at_us, a.id",
        (org, *message_ids),
    )
    return [attachment_from_row(r) for r in rows]
