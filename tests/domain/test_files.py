"""Content sniffing, image dimensions, file names and the local blob store."""

from __future__ import annotations

import struct
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest
import trio

from parley.core.codes import ErrorCode
from parley.core.errors import ClientError
from parley.domain.files import FilesConfig, clean_name, image_size, sniff
from parley.domain.services import Services
from parley.settings import Settings
from parley.store import SqlStore, sql
from parley.store.blobs import HEAD_BYTES, LocalBlobs, TooLarge
from tests.support.api import RecordingSink, make_services, make_settings

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


# -- upload quotas (docs/files.md) ---------------------------------------------------------

QUOTA = FilesConfig(max_upload_bytes=100, user_quota_bytes=250, org_quota_bytes=400)


@pytest.fixture
def quota_svc(store: SqlStore, sink: RecordingSink, tmp_path: Path) -> Services:
    files = replace(QUOTA, blob_dir=tmp_path / "blobs")
    return make_services(store, sink, replace(make_settings(), files=files))


def blob_files(tmp_path: Path) -> list[Path]:
    return [p for p in (tmp_path / "blobs").rglob("*") if p.is_file()]


async def test_store_counts_stored_bytes_per_user_and_org(
    quota_svc: Services, store: SqlStore, org: str
) -> None:
    ch = await quota_svc.channels.create_channel(
        org, "alice", kind="group", name="g", members=["bob"]
    )
    assert await store.read(sql.files.stored_bytes, org, "alice") == (0, 0)
    await quota_svc.files.upload(org, "alice", ch.id, "a", chunks(b"a" * 60))
    await quota_svc.files.upload(org, "alice", ch.id, "b", chunks(b"b" * 40))
    await quota_svc.files.upload(org, "bob", ch.id, "c", chunks(b"c" * 7))
    assert await store.read(sql.files.stored_bytes, org, "alice") == (100, 107)
    assert await store.read(sql.files.stored_bytes, org, "bob") == (7, 107)
    assert await store.read(sql.files.stored_bytes, org, "carol") == (0, 107)
    assert await store.read(sql.files.stored_bytes, org + "x", "alice") == (0, 0)


async def test_user_quota_refuses_with_429_and_stores_nothing(
    quota_svc: Services, store: SqlStore, org: str, tmp_path: Path
) -> None:
    ch = await quota_svc.channels.create_channel(
        org, "alice", kind="group", name="g", members=["bob"]
    )
    for _ in range(2):
        await quota_svc.files.upload(org, "alice", ch.id, "f", chunks(b"x" * 100))
    kept = blob_files(tmp_path)
    with pytest.raises(ClientError) as refused:  # 200 + 60 > 250
        await quota_svc.files.upload(org, "alice", ch.id, "f", chunks(b"x" * 60))
    assert refused.value.code is ErrorCode.QUOTA_EXCEEDED
    assert await store.read(sql.files.stored_bytes, org, "alice") == (200, 200)
    assert blob_files(tmp_path) == kept
    await quota_svc.files.upload(org, "alice", ch.id, "f", chunks(b"x" * 50))  # exactly full
    # Another member has a quota of their own; the org's is shared.
    await quota_svc.files.upload(org, "bob", ch.id, "f", chunks(b"x" * 100))
    with pytest.raises(ClientError) as refused:  # org: 350 + 100 > 400
        await quota_svc.files.upload(org, "bob", ch.id, "f", chunks(b"x" * 100))
    assert refused.value.code is ErrorCode.QUOTA_EXCEEDED
    assert "organization" in refused.value.message
    assert await store.read(sql.files.stored_bytes, org, "bob") == (100, 350)


async def test_one_file_over_the_size_limit_is_413_and_stores_nothing(
    quota_svc: Services, store: SqlStore, org: str, tmp_path: Path
) -> None:
    ch = await quota_svc.channels.create_channel(
        org, "alice", kind="group", name="g", members=["bob"]
    )
    with pytest.raises(ClientError) as refused:
        await quota_svc.files.upload(org, "alice", ch.id, "f", chunks(b"x" * 101))
    assert refused.value.code is ErrorCode.PAYLOAD_TOO_LARGE
    assert await store.read(sql.files.stored_bytes, org, "alice") == (0, 0)
    assert blob_files(tmp_path) == []


async def test_files_of_one_upload_are_stored_together_or_not_at_all(
    quota_svc: Services, store: SqlStore, org: str, tmp_path: Path
) -> None:
    ch = await quota_svc.channels.create_channel(
        org, "alice", kind="group", name="g", members=["bob"]
    )
    parts = [("a", chunks(b"a" * 100)), ("b", chunks(b"b" * 100)), ("c", chunks(b"c" * 100))]
    with pytest.raises(ClientError) as refused:  # 300 > 250
        await quota_svc.files.upload_many(org, "alice", ch.id, parts)
    assert refused.value.code is ErrorCode.QUOTA_EXCEEDED
    parts = [("a", chunks(b"a" * 100)), ("b", chunks(b"b" * 101))]
    with pytest.raises(ClientError) as refused:
        await quota_svc.files.upload_many(org, "alice", ch.id, parts)
    assert refused.value.code is ErrorCode.PAYLOAD_TOO_LARGE
    assert await store.read(sql.files.stored_bytes, org, "alice") == (0, 0)
    assert blob_files(tmp_path) == []
    both = [("a", chunks(b"a" * 100)), ("b", chunks(b"b" * 100))]
    assert [f.size for f in await quota_svc.files.upload_many(org, "alice", ch.id, both)] == [
        100,
        100,
    ]


async def test_concurrent_uploads_cannot_both_pass_the_quota(
    quota_svc: Services, store: SqlStore, org: str, tmp_path: Path
) -> None:
    ch = await quota_svc.channels.create_channel(
        org, "alice", kind="group", name="g", members=["bob"]
    )
    outcomes: list[str] = []

    async def one() -> None:
        try:
            await quota_svc.files.upload(org, "alice", ch.id, "f", chunks(b"x" * 100))
            outcomes.append("stored")
        except ClientError as exc:
            outcomes.append(str(exc.code))

    async with trio.open_nursery() as nursery:
        for _ in range(3):  # each passes the check before streaming; 300 > 250
            nursery.start_soon(one)
    assert sorted(outcomes) == ["quota_exceeded", "stored", "stored"]
    assert await store.read(sql.files.stored_bytes, org, "alice") == (200, 200)
    assert len(blob_files(tmp_path)) == 2
