"""Content sniffing, image dimensions, file names and the local blob store."""

from __future__ import annotations

import struct
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio

from parley.domain.files import clean_name, image_size, sniff
from parley.settings import Settings
from parley.store.blobs import HEAD_BYTES, LocalBlobs, TooLarge

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + struct.pack(">II", 640, 480) + b"\x08\x02\0\0\0"
GIF = b"GIF89a" + struct.pack("<HH", 20, 10) + b"\x00" * 10
JPEG = (
    b"\xff\xd8"
    + b"\xff\xe0"
    + struct.pack(">H", 16)
    + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    + b"\xff\xc4"
    + struct.pack(">H", 4)
    + b"\x00\x00"  # a DHT segment (0xC4) is not a frame header
    + b"\xff\xc0"
    + struct.pack(">HBHHB", 11, 8, 300, 400, 1)
    + b"\x01\x11\x00"
)


@pytest.mark.parametrize(
    ("data", "ctype", "dims"),
    [
        (PNG, "image/png", (640, 480)),
        (GIF, "image/gif", (20, 10)),
        (JPEG, "image/jpeg", (400, 300)),
        (b"RIFF\0\0\0\0WEBPVP8 ", "image/webp", None),
        (b"%PDF-1.7", "application/pdf", None),
        (b"PK\x03\x04", "application/zip", None),
        (b"<html><script>alert(1)</script>", "text/plain; charset=utf-8", None),
        ("héllo wörld".encode(), "text/plain; charset=utf-8", None),
        (b"\x00\x01\x02binary", "application/octet-stream", None),
        (b"", "application/octet-stream", None),
        (b"\x89PNG\r\n\x1a\n\x00", "image/png", None),  # truncated header: no dims
        (b"\xff\xd8\xff\xe0\x00", "image/jpeg", None),
    ],
)
def test_sniff_and_dimensions(data: bytes, ctype: str, dims: tuple[int, int] | None) -> None:
    assert sniff(data) == ctype
    assert image_size(data, ctype) == dims


def test_text_cut_mid_character_is_still_text() -> None:
    head = ("é" * 10).encode()[:-1]
    assert sniff(head) == "text/plain; charset=utf-8"


@pytest.mark.parametrize(
    ("name", "clean"),
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\x\\report.pdf", "report.pdf"),
        ("a\x00b\nc.txt", "abc.txt"),
        ("", "file"),
        (None, "file"),
        ("..", "file"),
        ("x" * 300, "x" * 255),
    ],
)
def test_clean_name(name: str | None, clean: str) -> None:
    assert clean_name(name) == clean


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for p in parts:
        yield p


async def test_blobs_round_trip(tmp_path: Path) -> None:
    blobs = LocalBlobs(tmp_path / "blobs")
    big = b"a" * HEAD_BYTES + b"b" * 10
    info = await blobs.put(chunks(b"", big[:100], big[100:]), max_bytes=len(big))
    assert info.size == len(big)
    assert info.head == big[:HEAD_BYTES]
    got = b"".join([c async for c in blobs.read(info.key)])
    assert got == big
    await blobs.delete(info.key)
    with pytest.raises(FileNotFoundError):
        [c async for c in blobs.read(info.key)]


async def test_blob_over_limit_leaves_nothing(tmp_path: Path) -> None:
    blobs = LocalBlobs(tmp_path)
    with pytest.raises(TooLarge):
        await blobs.put(chunks(b"12345", b"6"), max_bytes=5)
    left = await trio.to_thread.run_sync(lambda: [p for p in tmp_path.rglob("*") if p.is_file()])
    assert left == []


@pytest.mark.parametrize("key", ["../x", "", "a/b", ".."])
async def test_blob_keys_are_not_paths(tmp_path: Path, key: str) -> None:
    with pytest.raises(FileNotFoundError):
        [c async for c in LocalBlobs(tmp_path).read(key)]


def test_files_config_from_env(tmp_path: Path) -> None:
    assert Settings.from_env({}).files.max_upload_bytes == 25 * 1024 * 1024
    env = {"PARLEY_MAX_UPLOAD_BYTES": "10", "PARLEY_BLOB_DIR": str(tmp_path)}
    c = Settings.from_env(env).files
    assert (c.max_upload_bytes, c.blob_dir) == (10, tmp_path)
