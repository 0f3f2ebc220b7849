"""Bad input to the search, file, preview and presence endpoints: JSON 4xx, never a 500
(in-process test client, SQLite)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from parley.domain.files import FilesConfig
from tests.support.api import Env, chat_env, make_settings


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    files = FilesConfig(max_upload_bytes=1000, blob_dir=tmp_path / "blobs")
    async with chat_env(tmp_path, replace(make_settings(), files=files)) as e:
        yield e


@pytest.mark.parametrize(
    "body",
    [
        {"files": [1]},
        {"files": "file_1"},
        {"files": []},
        {"files": ["a"] * 11},
        {"text": 5, "files": ["a"]},
        {"files": ["a"], "extra": True},
        {"files": ["a\x00"]},
        {"text": "a\x00", "files": ["a"]},
    ],
)
async def test_file_message_bad_bodies(env: Env, body: Any) -> None:
    cid = await env.channel()
    status, out = await env.call("POST", f"/v1/channels/{cid}/file-messages", json=body)
    assert status == 400, out
    assert out["error"]["code"] in ("bad_request", "bad_json")


async def test_file_message_not_json(env: Env) -> None:
    cid = await env.channel()
    status, out = await env.call("POST", f"/v1/channels/{cid}/file-messages", data=b"{nope")
    assert (status, out["error"]["code"]) == (400, "bad_json")


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"q": ""},
        {"q": "a\x00"},
        {"q": "x", "in_thread": "maybe"},
        {"q": "x", "has_attachment": "2"},
        {"q": "x", "limit": "many"},
        {"q": "x", "cursor": "!!"},
        {"q": "x", "to": "2026-13-01"},
        {"q": "x" * 300},
        {"q": "x", "channel": "c\x00"},
    ],
)
async def test_search_bad_queries(env: Env, query: dict[str, str]) -> None:
    status, out = await env.call("GET", "/v1/search", query=query)
    assert status == 400, out
    assert out["error"]["code"] == "bad_request"


async def test_search_needs_a_token(env: Env) -> None:
    status, out = await env.call("GET", "/v1/search", None, query={"q": "x"})
    assert (status, out["error"]["code"]) == (401, "unauthorized")


async def test_upload_and_download_in_process(env: Env) -> None:
    cid = await env.channel()
    resp = await env.request(
        "POST",
        f"/v1/channels/{cid}/files?name=a.txt",
        headers={"Content-Type": "text/html"},
        data=b"hello",
    )
    assert resp.status_code == 201
    (f,) = (await resp.get_json())["files"]
    assert f["content_type"] == "text/plain; charset=utf-8"
    # a draft (uploaded, not posted) is its uploader's: bob, a member, cannot read it yet
    for path in (f"/v1/files/{f['id']}", f"/v1/files/{f['id']}/content"):
        assert (await env.call("GET", path, "bob"))[0] == 404
        assert (await env.call("GET", path, "alice"))[0] == 200
    status, _ = await env.call(
        "POST", f"/v1/channels/{cid}/file-messages", json={"text": "", "files": [f["id"]]}
    )
    assert status == 201
    got = await env.request("GET", f"/v1/files/{f['id']}/content", "bob")
    assert (got.status_code, await got.get_data()) == (200, b"hello")
    assert (await env.call("GET", f"/v1/files/{f['id']}/content", "carol"))[0] == 404
    big = await env.request("POST", f"/v1/channels/{cid}/files", data=b"x" * 1001)
    assert big.status_code == 413
    # a body bigger than the API-wide limit is fine on the upload route only
    status, _ = await env.call("POST", f"/v1/channels/{cid}/messages", data=b"x" * 300_000)
    assert status == 413


async def test_multipart_without_file_part(env: Env) -> None:
    cid = await env.channel()
    body = b'--b\r\nContent-Disposition: form-data; name="other"\r\n\r\nx\r\n--b--\r\n'
    resp = await env.request(
        "POST",
        f"/v1/channels/{cid}/files",
        data=body,
        headers={"Content-Type": "multipart/form-data; boundary=b"},
    )
    assert resp.status_code == 400


@pytest.mark.parametrize("path", ["/v1/files/a%00b", "/v1/files/a%00b/content", "/v1/files/nope"])
async def test_file_ids_never_500(env: Env, path: str) -> None:
    status, out = await env.call("GET", path)
    assert status == 404, out


async def test_previews_refusals(env: Env) -> None:
    cid = await env.channel()
    msg = await env.post(cid, "hi http://example.com/")
    path = f"/v1/channels/{cid}/messages/{msg['message_id']}/previews"
    assert await env.call("GET", path, "bob") == (200, {"previews": []})  # previews are off
    assert (await env.call("GET", path, "carol"))[0] == 404
    assert (await env.call("GET", f"/v1/channels/{cid}/messages/nope/previews"))[0] == 404
    assert (await env.call("GET", f"/v1/channels/{cid}/messages/a%00/previews"))[0] == 404


async def test_presence_without_broker_is_unavailable(env: Env) -> None:
    status, out = await env.call("GET", "/v1/presence", query={"users": "bob"})
    assert (status, out["error"]["code"]) == (503, "unavailable")


async def test_files_of_a_deleted_message_are_gone(env: Env) -> None:
    cid = await env.channel()
    resp = await env.request("POST", f"/v1/channels/{cid}/files?name=a.txt", data=b"hello")
    (f,) = (await resp.get_json())["files"]
    status, posted = await env.call(
        "POST", f"/v1/channels/{cid}/file-messages", json={"text": "", "files": [f["id"]]}
    )
    assert status == 201, posted
    assert (await env.call("GET", f"/v1/files/{f['id']}", "bob"))[0] == 200
    store: Any = env.store
    await store.writer.exclusive(
        lambda db: db.run(
            "UPDATE messages SET deleted = TRUE WHERE id = ?", (posted["message_id"],)
        )
    )
    assert (await env.call("GET", f"/v1/files/{f['id']}", "bob"))[0] == 404
    assert (await env.call("GET", f"/v1/files/{f['id']}/content", "alice"))[0] == 404


async def test_signed_download_links(env: Env) -> None:
    """``<img src>`` sends no token: a short-lived signed link downloads the file, only for
    that file, only until it expires, only while its user may read the file."""
    cid = await env.channel(members=("bob",))
    resp = await env.request("POST", f"/v1/channels/{cid}/files?name=a.txt", data=b"hello")
    (f,) = (await resp.get_json())["files"]
    await env.call(
        "POST", f"/v1/channels/{cid}/file-messages", json={"text": "", "files": [f["id"]]}
    )
    status, made = await env.call("POST", f"/v1/files/{f['id']}/links", "bob", json={"ttl": 60})
    assert status == 201 and made["url"].startswith(f"/v1/files/{f['id']}/download?link=")
    got = await env.client.get(made["url"])  # no Authorization header
    assert (got.status_code, await got.get_data()) == (200, b"hello")
    assert got.headers["Cache-Control"].startswith("private, max-age=")
    link = made["url"].split("link=", 1)[1]
    payload, sig = link.split(".")
    for bad in (
        f"/v1/files/{f['id']}/download?link={payload}.{sig[:-2]}AA",  # forged signature
        f"/v1/files/file_other/download?link={link}",  # another file
        f"/v1/files/{f['id']}/download?link=garbage",
    ):
        assert (await env.client.get(bad)).status_code == 404
    assert (await env.client.get(f"/v1/files/{f['id']}/download")).status_code == 400
    # who may not read the file gets no link; a bad ttl is refused
    assert (await env.call("POST", f"/v1/files/{f['id']}/links", "carol", json={}))[0] == 404
    assert (await env.call("POST", f"/v1/files/{f['id']}/links", "bob", json={"ttl": 0}))[0] == 400
    assert (await env.call("POST", f"/v1/files/{f['id']}/links", "bob", json={"ttl": 9999}))[
        0
    ] == 400
    # bob removed from the channel: his link stops working at once
    await env.call("DELETE", f"/v1/channels/{cid}/members/bob", "alice")
    assert (await env.client.get(made["url"])).status_code == 404
    # and an expired link says so
    _, mine = await env.call("POST", f"/v1/files/{f['id']}/links", "alice", json={"ttl": 60})
    files = env.chat.files
    real = files.wall_clock
    files.wall_clock = lambda: real() + 61
    expired = await env.client.get(mine["url"])
    assert (
        expired.status_code == 403 and "expired" in (await expired.get_json())["error"]["message"]
    )


async def test_history_views_carry_attachments(env: Env) -> None:
    """History pages, the timeline and one message's view show a file message's attachments
    (as the live event does), so a reloaded page shows its images; a plain message has
    none, and a deleted one loses them."""
    cid = await env.channel()
    files = []
    for name in ("a.txt", "b.txt"):
        resp = await env.request("POST", f"/v1/channels/{cid}/files?name={name}", data=b"hi")
        files += (await resp.get_json())["files"]
    status, posted = await env.call(
        "POST",
        f"/v1/channels/{cid}/file-messages",
        json={"text": "two files", "files": [f["id"] for f in files]},
    )
    assert status == 201, posted
    plain = await env.post(cid, "no files")
    status, page = await env.call("GET", f"/v1/channels/{cid}/timeline", "bob")
    assert status == 200, page
    by_id = {m["id"]: m for m in page["items"]}
    got = by_id[posted["message_id"]]["attachments"]
    assert [(a["id"], a["name"]) for a in got] == [(f["id"], f["name"]) for f in files]
    assert "blob_key" not in got[0]
    assert by_id[plain["message_id"]]["attachments"] == []
    status, history = await env.call("GET", f"/v1/channels/{cid}/messages", "bob")
    assert status == 200, history
    listed = {m["id"]: m["attachments"] for m in history["items"]}
    assert [a["id"] for a in listed[posted["message_id"]]] == [f["id"] for f in files]
    assert listed[plain["message_id"]] == []
    view_path = f"/v1/channels/{cid}/messages/{posted['message_id']}/view"
    status, view = await env.call("GET", view_path, "bob")
    assert (status, [a["id"] for a in view["attachments"]]) == (200, [f["id"] for f in files])
    status, _ = await env.call("DELETE", f"/v1/channels/{cid}/messages/{posted['message_id']}")
    assert status in (200, 204)
    status, view = await env.call("GET", view_path, "bob")
    assert (status, view["attachments"]) == (200, [])
    status, history = await env.call("GET", f"/v1/channels/{cid}/messages", "bob")
    assert [m["attachments"] for m in history["items"] if m["id"] == posted["message_id"]] == [[]]
