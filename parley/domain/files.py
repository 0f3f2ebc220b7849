"""Attachments: upload, download and posting files, with the chat's access rules.

Uploads go to a channel the caller is a member of; the bytes stream into the blob store
under a size limit; the content type is sniffed from the bytes (the declared one is never
trusted) and image dimensions are read from PNG, GIF and JPEG headers by the small parsers
below. Only members of the channel a file was uploaded to may read it; anyone else gets
``not_found``, exactly as for a file that does not exist. See docs/files.md.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct
import time
import unicodedata
from collections.abc import AsyncIterable, AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import orjson
import trio

from parley.core.codes import ErrorCode
from parley.core.errors import ClientError
from parley.core.records import Attachment, Draft, PostResult
from parley.domain import access, rules
from parley.domain.posting import Poster
from parley.store import Store, sql
from parley.store.blobs import BlobInfo, BlobStore, TooLarge
from parley.store.sql.files import NewFile

DEFAULT_MAX_UPLOAD = 25 * 1024 * 1024
GIB = 1024 * 1024 * 1024
MAX_NAME = 255


@dataclass(frozen=True, slots=True)
class FilesConfig:
    #: Largest upload in bytes (``PARLEY_MAX_UPLOAD_BYTES``). Bigger -> 413.
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD
    #: Blob directory (``PARLEY_BLOB_DIR``); default ``{data_dir}/blobs``.
    blob_dir: Path | None = None
    #: Seconds a signed download link lives by default, and at most.
    link_ttl: float = 300.0
    max_link_ttl: float = 3600.0
    #: Bytes of files one user may keep stored in an org (``PARLEY_UPLOAD_QUOTA_USER_BYTES``).
    user_quota_bytes: int = 2 * GIB
    #: Bytes of files one org may keep stored (``PARLEY_UPLOAD_QUOTA_ORG_BYTES``).
    org_quota_bytes: int = 100 * GIB


# -- content sniffing ----------------------------------------------------------------------

_MAGIC: list[tuple[bytes, int, str]] = [
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"GIF87a", 0, "image/gif"),
    (b"GIF89a", 0, "image/gif"),
    (b"%PDF-", 0, "application/pdf"),
    (b"PK\x03\x04", 0, "application/zip"),
    (b"\x1f\x8b", 0, "application/gzip"),
    (b"ftyp", 4, "video/mp4"),
    (b"OggS", 0, "audio/ogg"),
    (b"ID3", 0, "audio/mpeg"),
]


def sniff(head: bytes) -> str:
    """The content type from the first bytes; text only if it decodes as UTF-8 without
    control characters; else ``application/octet-stream``. Never ``text/html``: an
    uploaded page must not run as one of ours."""
    for magic, at, ctype in _MAGIC:
        if head[at : at + len(magic)] == magic:
            return ctype
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if not head:
        return "application/octet-stream"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 3:  # not just a character cut at the end of the head
            return "application/octet-stream"
        text = head[: exc.start].decode("utf-8")
    if any(unicodedata.category(c) == "Cc" and c not in "\t\n\r\f" for c in text):
        return "application/octet-stream"
    return "text/plain; charset=utf-8"


def image_size(head: bytes, ctype: str) -> tuple[int, int] | None:
    """(width, height) from a PNG IHDR, a GIF logical screen or a JPEG SOFn marker."""
    try:
        if ctype == "image/png" and head[12:16] == b"IHDR":
            w, h = struct.unpack(">II", head[16:24])
            return int(w), int(h)
        if ctype == "image/gif":
            w, h = struct.unpack("<HH", head[6:10])
            return int(w), int(h)
        if ctype == "image/jpeg":
            return _jpeg_size(head)
    except struct.error:
        return None
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            h, w = struct.unpack(">HH", data[i + 5 : i + 9])
            return int(w), int(h)
        i += 2 + length
    return None


def clean_name(name: str | None) -> str:
    """A display file name: the last path segment, no control characters, at most 255."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(c for c in base if unicodedata.category(c)[0] != "C").strip()
    if base in ("", ".", ".."):
        base = "file"
    return base[:MAX_NAME]


def new_file(name: str | None, blob: BlobInfo) -> NewFile:
    """The record of a stored blob: its sniffed type, image size and clean name."""
    return _new_file(name, blob)


def _new_file(name: str | None, blob: BlobInfo) -> NewFile:
    ctype = sniff(blob.head)
    dims = image_size(blob.head, ctype)
    return NewFile(
        name=clean_name(name),
        content_type=ctype,
        size=blob.size,
        width=None if dims is None else dims[0],
        height=None if dims is None else dims[1],
        sha256=blob.sha256,
        blob_key=blob.key,
    )


# -- the service -----------------------------------------------------------------------------


class FileService:
    def __init__(
        self,
        store: Store,
        blobs: BlobStore,
        config: FilesConfig,
        poster: Poster,
        *,
        link_key: bytes | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.blobs = blobs
        self.config = config
        self.poster = poster
        #: Signs download links; a random key (links die with the process) unless the
        #: composition root derives one from the JWT secret, shared by every node.
        self.link_key = link_key if link_key is not None else secrets.token_bytes(32)
        self.wall_clock = wall_clock  # link expiry: links travel between processes

    async def upload(
        self,
        org: str,
        user_id: str,
        channel_id: str,
        name: str | None,
        chunks: AsyncIterable[bytes],
    ) -> Attachment:
        """Store a file for a later post in ``channel_id`` (members only)."""
        (att,) = await self.upload_many(org, user_id, channel_id, [(name, chunks)])
        return att

    async def upload_many(
        self,
        org: str,
        user_id: str,
        channel_id: str,
        files: Sequence[tuple[str | None, AsyncIterable[bytes]]],
    ) -> list[Attachment]:
        """Store files (name, bytes) for a later post in ``channel_id`` (members only): all
        of them or, refused, none (no blob, no row). A file over ``max_upload_bytes`` is
        ``payload_too_large`` (413); files that would take the uploader's or the org's
        stored bytes over its quota are ``quota_exceeded`` (429)."""
        await access.membership(self.store, org, user_id, channel_id)
        limit = self.config.max_upload_bytes
        used = await self.store.read(sql.files.stored_bytes, org, user_id)
        self.check_quota(*used, adding=0)  # already full: refused before reading a byte
        blobs: list[tuple[str | None, BlobInfo]] = []
        try:
            for name, chunks in files:
                try:
                    blobs.append((name, await self.blobs.put(chunks, max_bytes=limit)))
                except TooLarge:
                    raise ClientError(
                        ErrorCode.PAYLOAD_TOO_LARGE, f"files are limited to {limit} bytes"
                    ) from None
                self.check_quota(*used, adding=sum(b.size for _, b in blobs))
            new = [_new_file(name, blob) for name, blob in blobs]
            # Checked again in the write transaction: concurrent uploads cannot both pass.
            check = partial(self.check_quota, adding=sum(f.size for f in new))
            return await self.store.write(
                sql.files.insert_attachments, org, channel_id, user_id, new, check_quota=check
            )
        except BaseException:
            with trio.CancelScope(shield=True):
                for _, blob in blobs:
                    await self.blobs.delete(blob.key)
            raise

    def check_quota(self, user_bytes: int, org_bytes: int, *, adding: int) -> None:
        """Refuse (429 ``quota_exceeded``) ``adding`` bytes more to a user who stores
        ``user_bytes`` in an org that stores ``org_bytes``."""
        cfg = self.config
        if user_bytes + adding > cfg.user_quota_bytes:
            raise ClientError(
                ErrorCode.QUOTA_EXCEEDED,
                f"upload quota exceeded: you store {user_bytes} of {cfg.user_quota_bytes} "
                f"bytes; this upload needs {adding}",
            )
        if org_bytes + adding > cfg.org_quota_bytes:
            raise ClientError(
                ErrorCode.QUOTA_EXCEEDED,
                f"upload quota exceeded: the organization's {cfg.org_quota_bytes} bytes "
                "are used up",
            )

    async def get(self, org: str, user_id: str, file_id: str) -> Attachment:
        """A file's record: a draft (uploaded, not yet posted) for its uploader only; once
        posted, for members of the channel it was posted to."""
        att = None
        if rules.is_clean(file_id):
            att = await self.store.read(sql.files.get_attachment, org, file_id)
        if att is None or not await access.is_member(self.store, org, att.channel_id, user_id):
            raise access.not_found("file")
        if att.message_id is None and att.uploader != user_id:
            raise access.not_found("file")  # a draft is its uploader's until posted
        if att.message_id is not None:  # a deleted message takes its files with it
            msg = await self.store.read(
                sql.messages.get_message, org, att.channel_id, att.message_id
            )
            if msg is None or msg.deleted:
                raise access.not_found("file")
        return att

    async def open(
        self, org: str, user_id: str, file_id: str
    ) -> tuple[Attachment, AsyncIterator[bytes]]:
        att = await self.get(org, user_id, file_id)
        return att, self.blobs.read(att.blob_key)

    # -- signed download links (for <img src>, which sends no Authorization header) ----

    async def link(
        self, org: str, user_id: str, file_id: str, ttl: float | None = None
    ) -> tuple[str, float]:
        """A short-lived download link for a file the caller may read: the opaque ``link``
        parameter (an HMAC over org, user, file and expiry) and its expiry (wall clock)."""
        seconds = self.config.link_ttl if ttl is None else ttl
        if not 0 < seconds <= self.config.max_link_ttl:
            raise rules.bad(f"ttl must be 1 to {self.config.max_link_ttl:g} seconds")
        await self.get(org, user_id, file_id)
        expires = int(self.wall_clock() + seconds)
        payload = _b64(orjson.dumps([org, user_id, file_id, expires]))
        return f"{payload}.{_b64(self._sign(payload))}", float(expires)

    async def open_link(
        self, file_id: str, link: str
    ) -> tuple[Attachment, AsyncIterator[bytes], float]:
        """The file behind a download link, if the link is genuine, unexpired and for this
        file, and its user may still read the file (a removed member's links stop working).
        Anything else is ``not_found``; an expired link ``forbidden``. Also returns the
        seconds the link has left."""
        payload, _, sig = link.partition(".")
        try:
            good = hmac.compare_digest(_unb64(sig), self._sign(payload))
            org, user_id, linked, expires = orjson.loads(_unb64(payload)) if good else ("",) * 4
        except (ValueError, TypeError):
            good = False
        if not good or linked != file_id or not isinstance(expires, int):
            raise access.not_found("file")
        left = expires - self.wall_clock()
        if left <= 0:
            raise access.forbidden("this download link has expired; ask for a new one")
        att, chunks = await self.open(org, user_id, file_id)
        return att, chunks, left

    def _sign(self, payload: str) -> bytes:
        return hmac.new(self.link_key, payload.encode(), hashlib.sha256).digest()

    async def post(
        self, org: str, user_id: str, channel_id: str, text: str, file_ids: Sequence[str]
    ) -> tuple[PostResult, list[Attachment]]:
        """Post a message carrying files the caller uploaded to this channel (through the
        one post pipeline: the same checks and hooks as every post)."""
        draft = Draft(org, channel_id, user_id, text, file_ids=tuple(file_ids))
        result = await self.poster.post(draft, allow_empty=True)
        return result, list(result.attachments)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
