"""The blob store: file bytes behind a narrow interface (docs/files.md).

:class:`LocalBlobs` keeps each blob as one file under a directory (by default
``{data_dir}/blobs``), written to a temporary name and renamed into place once complete,
so a reader never sees half a file. Keys are random (never derived from content or names:
no cross-tenant deduplication, nothing to guess). The size limit is enforced while the
bytes stream in; over it, the partial file is removed and :class:`TooLarge` raised.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import trio

#: Bytes kept from the start of a blob for content sniffing and image dimensions.
HEAD_BYTES = 64 * 1024
CHUNK = 64 * 1024


class TooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"larger than {limit} bytes")
        self.limit = limit


@dataclass(frozen=True, slots=True)
class BlobInfo:
    key: str
    size: int
    sha256: str
    #: The first HEAD_BYTES bytes.
    head: bytes


class BlobStore(Protocol):
    async def put(self, chunks: AsyncIterable[bytes], *, max_bytes: int) -> BlobInfo:
        """Store the bytes; TooLarge (and nothing kept) past ``max_bytes``."""
        ...

    def read(self, key: str) -> AsyncIterator[bytes]:
        """The blob's bytes in chunks; FileNotFoundError if there is none."""
        ...

    async def delete(self, key: str) -> None: ...


class LocalBlobs:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        if not key.isalnum():
            raise FileNotFoundError(key)
        return self.root / key[:2] / key

    async def put(self, chunks: AsyncIterable[bytes], *, max_bytes: int) -> BlobInfo:
        key = secrets.token_hex(16)
        final = self._path(key)
        tmp = final.with_name(f".{key}.part")
        await trio.to_thread.run_sync(lambda: final.parent.mkdir(parents=True, exist_ok=True))
        digest = hashlib.sha256()
        head = bytearray()
        size = 0
        try:
            async with await trio.open_file(tmp, "wb") as f:
                async for chunk in chunks:
                    if not chunk:
                        continue
                    size += len(chunk)
                    if size > max_bytes:
                        raise TooLarge(max_bytes)
                    digest.update(chunk)
                    if len(head) < HEAD_BYTES:
                        head += chunk[: HEAD_BYTES - len(head)]
                    await f.write(chunk)
            await trio.to_thread.run_sync(os.replace, tmp, final)
        except BaseException:
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(lambda: tmp.unlink(missing_ok=True))
                aclose = getattr(chunks, "aclose", None)
                if aclose is not None:  # an async generator stopped early: finalize it here
                    await aclose()
            raise
        return BlobInfo(key=key, size=size, sha256=digest.hexdigest(), head=bytes(head))

    async def read(self, key: str) -> AsyncIterator[bytes]:
        async with await trio.open_file(self._path(key), "rb") as f:
            while chunk := await f.read(CHUNK):
                yield chunk

    async def delete(self, key: str) -> None:
        path = self._path(key)
        await trio.to_thread.run_sync(lambda: path.unlink(missing_ok=True))
