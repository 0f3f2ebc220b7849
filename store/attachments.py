"""Attachment records, messages that carry them, link previews (docs/files.md).

The bytes live in a blob store (:mod:`store.blobs`); a row here says which channel a file
was uploaded to (downloads are for that channel's members only) and, once posted, which
message carries it. Posting a message with files writes the message, links the files,
sets ``messages.files_text`` (their names, searched with the text) and logs one
``message_posted`` event whose data lists the attachments, all in one transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

from parley.core.events import EventName
from parley.core.limits import MAX_FILES_PER_MESSAGE
from parley.core.records import Attachment, PostResult
from parley.store import codec
from parley.store.db import Db
from parley.store.errors import Conflict, NotFound
from parley.store.groupcommit import GroupCommitWriter
from parley.store.ids import new_id
from parley.store.readpool import ReadPool
from parley.store.writes import append_event, insert_message
from parley.store.writetx import WriteTx

ATTACHMENT_COLS = (
    "a.id, a.org, a.channel_id, a.uploader, a.message_id, a.name, a.content_type, a.size,"
    " a.width, a.height, a.sha256, a.blob_key, a.created_at_us"
)


def _attachment(row: tuple[Any, ...]) -> Attachment:
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


def post_with_files(
    tx: WriteTx,
    org: str,
    channel_id: str,
    *,
    author: str,
    text: str,
    file_ids: Sequence[str],
) -> tuple[PostResult, list[Attachment]]:
    """Post a message carrying ``file_ids``: files the author uploaded to this channel and
    no message carries yet (else NotFound / Conflict)."""
    codec.check_text(text)
    ids = list(dict.fromkeys(file_ids))
    if not 0 < len(ids) <= MAX_FILES_PER_MESSAGE:
        raise ValueError(f"a message carries 1 to {MAX_FILES_PER_MESSAGE} files")
    db = tx.db
    tx.last_seq(org, channel_id)  # NotFound, and the channel is locked
    files: list[Attachment] = []
    for fid in ids:
        row = db.one(
            f"SELECT {ATTACHMENT_COLS} FROM attachments a WHERE a.org = ? AND a.id = ?"
            f" AND a.channel_id = ? AND a.uploader = ?{db.for_update}",
            (org, fid, channel_id, author),
        )
        if row is None:
            raise NotFound(f"file {fid}")
        att = _attachment(row)
        if att.message_id is not None:
            raise Conflict(f"file {fid} is already posted")
        files.append(att)
    msg, now = insert_message(
        tx, org, channel_id, author=author, text=text, files_text=" ".join(f.name for f in files)
    )
    seq = msg.seq
    for f in files:
        db.send(
            "UPDATE attachments SET message_id = ? WHERE org = ? AND id = ?",
            (msg.id, org, f.id),
        )
    posted = [
        Attachment(**{**{k: getattr(f, k) for k in f.__slots__}, "message_id": msg.id})
        for f in files
    ]
    data = codec.message_data(msg)
    data["attachments"] = [f.public() for f in posted]
    event = append_event(
        tx, org, channel_id, seq, EventName.MESSAGE_POSTED, data, now, author, msg.created_at
    )
    return PostResult(message=msg, event=event, created=True), posted


def get_attachment(db: Db, org: str, file_id: str) -> Attachment | None:
    row = db.one(
        f"SELECT {ATTACHMENT_COLS} FROM attachments a WHERE a.org = ? AND a.id = ?",
        (org, file_id),
    )
    return None if row is None else _attachment(row)


def message_attachments(db: Db, org: str, message_ids: Sequence[str]) -> list[Attachment]:
    if not message_ids:
        return []
    marks = ", ".join("?" for _ in message_ids)
    rows = db.all(
        f"SELECT {ATTACHMENT_COLS} FROM attachments a WHERE a.org = ?"
        f" AND a.message_id IN ({marks}) ORDER BY a.created_at_us, a.id",
        (org, *message_ids),
    )
    return [_attachment(r) for r in rows]


def save_previews(
    tx: WriteTx, org: str, message_id: str, previews: Sequence[dict[str, Any]]
) -> None:
    now = codec.now_us()
    for p in previews:
        codec.check_text(p["url"], p.get("title"), p.get("description"), p.get("image"))
        tx.db.send(
            "INSERT INTO link_previews (org, message_id, url, title, description, image,"
            " fetched_at_us) VALUES (?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (org, message_id, url) DO UPDATE SET title = excluded.title,"
            " description = excluded.description, image = excluded.image,"
            " fetched_at_us = excluded.fetched_at_us",
            (org, message_id, p["url"], p.get("title"), p.get("description"), p.get("image"), now),
        )


def get_previews(db: Db, org: str, message_id: str) -> list[dict[str, Any]]:
    rows = db.all(
        "SELECT url, title, description, image FROM link_previews"
        " WHERE org = ? AND message_id = ? ORDER BY url",
        (org, message_id),
    )
    return [{"url": r[0], "title": r[1], "description": r[2], "image": r[3]} for r in rows]


class AttachmentsMixin:
    """Attachment methods of :class:`store.sql_store.SqlStore`."""

    _readers: ReadPool
    _writer: GroupCommitWriter

    async def add_attachment(
        self,
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
        fn = partial(
            insert_attachment,
            org=org,
            channel_id=channel_id,
            uploader=uploader,
            name=name,
            content_type=content_type,
            size=size,
            width=width,
            height=height,
            sha256=sha256,
            blob_key=blob_key,
        )
        return await self._writer.submit(fn)

    async def post_message_with_files(
        self, org: str, channel_id: str, *, author: str, text: str, file_ids: Sequence[str]
    ) -> tuple[PostResult, list[Attachment]]:
        fn = partial(
            post_with_files,
            org=org,
            channel_id=channel_id,
            author=author,
            text=text,
            file_ids=list(file_ids),
        )
        return await self._writer.submit(fn)

    async def get_attachment(self, org: str, file_id: str) -> Attachment | None:
        return await self._readers.run(partial(get_attachment, org=org, file_id=file_id))

    async def message_attachments(self, org: str, message_ids: Sequence[str]) -> list[Attachment]:
        fn = partial(message_attachments, org=org, message_ids=list(message_ids))
        return await self._readers.run(fn)

    async def save_previews(
        self, org: str, message_id: str, previews: Sequence[dict[str, Any]]
    ) -> None:
        fn = partial(save_previews, org=org, message_id=message_id, previews=list(previews))
        await self._writer.submit(fn)

    async def get_previews(self, org: str, message_id: str) -> list[dict[str, Any]]:
        return await self._readers.run(partial(get_previews, org=org, message_id=message_id))
