"""Attachments and search end to end over REST (+ a WebSocket member), on SQLite and
PostgreSQL: a file posted in a channel is fetched by its members and by no one else; search
finds exactly what a user may see."""

from __future__ import annotations

import json
import struct
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import replace
from typing import Any
from urllib.parse import quote

import pytest

from parley.domain.files import FilesConfig
from parley.settings import Settings
from tests.conftest import make_token
from tests.e2e.test_channels import TIMEOUT, TOPIC, dial, rest
from tests.support.live import LiveApp, live_app
from tests.support.store import PgSchemas

LIMIT = 4096
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + struct.pack(">II", 3, 2) + b"\x08\x02\x00\x00\x00"


@pytest.fixture(params=["sqlite", "postgres"])
def app(
    request: pytest.FixtureRequest, settings: Settings
) -> Iterator[LiveApp]:
    settings = replace(settings, files=FilesConfig(max_upload_bytes=LIMIT))
    if request.param == "postgres":
        schemas: PgSchemas = request.getfixturevalue("pg_schemas")
        settings = replace(settings, database_url=schemas.new())
    with live_app(settings) as live:
        yield live


def raw(
    app: LiveApp,
    method: str,
    path: str,
    user: str,
    data: bytes | None = None,
    *,
    org: str = "acme",
    content_type: str = "application/octet-stream",
) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(
        app.http_url + path,
        method=method,
        data=data,
        headers={"Authorization": f"Bearer {make_token(user, org)}", "Content-Type": content_type},
    )
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, {k.lower(): v for k, v in err.headers.items()}, err.read()


def upload(app: LiveApp, cid: str, user: str, name: str, data: bytes) -> tuple[int, Any]:
    status, _, body = raw(app, "POST", f"/v1/channels/{cid}/files?name={quote(name)}", user, data)
    return status, json.loads(body)


def multipart(app: LiveApp, cid: str, user: str, files: list[tuple[str, bytes]]) -> Any:
    boundary = uuid.uuid4().hex
    body = b""
    for name, data in files:
        body += (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
                f'filename="{name}"\r\nContent-Type: text/html\r\n\r\n'
            ).encode()
            + data
            + b"\r\n"
        )
    body += f"--{boundary}--\r\n".encode()
    status, _, out = raw(
        app,
        "POST",
        f"/v1/channels/{cid}/files",
        user,
        body,
        content_type=f"multipart/form-data; boundary={boundary}",
    )
    assert status == 201, out
    return json.loads(out)


def test_files_reach_members_only(app: LiveApp) -> None:
    _, ch = rest(
        app, "POST", "/v1/channels", "alice", {"kind": "group", "name": "f", "members": ["bob"]}
    )
    cid = ch["id"]
    _, other = rest(
        app, "POST", "/v1/channels", "carol", {"kind": "group", "name": "g", "members": []}
    )
    with ExitStack() as stack:
        bob_ws = dial(stack, app, "bob")
        assert bob_ws.call("subscribe", topic=TOPIC)["ok"]

        status, png = upload(app, cid, "alice", "chart.png", PNG)
        assert status == 201, png
        (png_file,) = png["files"]
        assert (png_file["content_type"], png_file["width"], png_file["height"]) == (
            "image/png",
            3,
            2,
        )
        assert png_file["size"] == len(PNG) and png_file["message_id"] is None
        two = multipart(
            app, cid, "alice", [("../notes.txt", b"hello"), ("page.html", b"<script>x</script>")]
        )
        names = [(f["name"], f["content_type"]) for f in two["files"]]
        assert names == [
            ("notes.txt", "text/plain; charset=utf-8"),
            ("page.html", "text/plain; charset=utf-8"),
        ]

        # refusals: not a member, other org, too big, no such channel
        assert upload(app, cid, "carol", "x.txt", b"x")[0] == 404
        assert upload(app, cid, "alice", "x.txt", b"x")[0] == 201
        assert raw(app, "POST", f"/v1/channels/{cid}/files", "alice", b"x", org="globex")[0] == 404
        status, big = upload(app, cid, "alice", "big.bin", b"\0" * (LIMIT + 1))
        assert (status, big["error"]["code"]) == (413, "payload_too_large")
        assert upload(app, "nope", "alice", "x.txt", b"x")[0] == 404

        # a message carries several files; the event says so
        ids = [png_file["id"], two["files"][0]["id"]]
        status, posted = rest(
            app,
            "POST",
            f"/v1/channels/{cid}/file-messages",
            "alice",
            {"text": "see the quarterly chart", "files": ids},
        )
        assert status == 201, posted
        assert [f["message_id"] for f in posted["files"]] == [posted["message_id"]] * 2
        (ev,) = bob_ws.events(1)
        assert ev["seq"] == posted["seq"]
        assert [a["name"] for a in ev["data"]["attachments"]] == ["chart.png", "notes.txt"]
        assert "blob_key" not in ev["data"]["attachments"][0]
        status, again = rest(
            app, "POST", f"/v1/channels/{cid}/file-messages", "alice", {"files": ids[:1]}
        )
        assert (status, again["error"]["code"]) == (409, "conflict")
        spare = two["files"][1]["id"]
        for user, channel in (("bob", cid), ("carol", cid), ("carol", other["id"])):
            status, refused = rest(
                app, "POST", f"/v1/channels/{channel}/file-messages", user, {"files": [spare]}
            )
            assert status == 404, (user, refused)
        assert (
            rest(app, "POST", f"/v1/channels/{cid}/file-messages", "alice", {"files": []})[0] == 400
        )

        # downloads: members only
        status, headers, data = raw(app, "GET", f"/v1/files/{png_file['id']}/content", "bob")
        assert (status, data) == (200, PNG)
        assert headers["content-type"] == "image/png"
        assert headers["x-content-type-options"] == "nosniff"
        # the spare upload is still a draft: its uploader's only
        assert raw(app, "GET", f"/v1/files/{spare}/content", "bob")[0] == 404
        status, headers, data = raw(app, "GET", f"/v1/files/{spare}/content", "alice")
        assert status == 200 and data == b"<script>x</script>"
        assert headers["content-type"].startswith("text/plain")
        assert headers["content-disposition"].startswith("attachment")
        assert rest(app, "GET", f"/v1/files/{png_file['id']}", "bob")[1]["name"] == "chart.png"
        for user, org in (("carol", "acme"), ("bob", "globex")):
            assert raw(app, "GET", f"/v1/files/{png_file['id']}/content", user, org=org)[0] == 404
            assert raw(app, "GET", f"/v1/files/{png_file['id']}", user, org=org)[0] == 404
        assert raw(app, "GET", "/v1/files/file_nope/content", "bob")[0] == 404
        # removed from the channel: no longer a reader
        assert rest(app, "DELETE", f"/v1/channels/{cid}/members/bob", "alice")[0] in (200, 204)
        assert raw(app, "GET", f"/v1/files/{png_file['id']}/content", "bob")[0] == 404


def test_search_finds_exactly_what_a_user_may_see(app: LiveApp) -> None:
    _, ch = rest(
        app, "POST", "/v1/channels", "alice", {"kind": "group", "name": "s", "members": ["bob"]}
    )
    cid = ch["id"]
    _, priv = rest(
        app, "POST", "/v1/channels", "carol", {"kind": "group", "name": "p", "members": []}
    )
    _, far = rest(
        app,
        "POST",
        "/v1/channels",
        "alice",
        {"kind": "group", "name": "o", "members": []},
        org="globex",
    )
    posted = [
        rest(
            app, "POST", f"/v1/channels/{cid}/messages", "alice", {"text": f"launch plan draft {i}"}
        )[1]
        for i in range(3)
    ]
    rest(
        app, "POST", f"/v1/channels/{priv['id']}/messages", "carol", {"text": "secret launch plan"}
    )
    rest(
        app,
        "POST",
        f"/v1/channels/{far['id']}/messages",
        "alice",
        {"text": "launch plan elsewhere"},
        org="globex",
    )
    _, up = upload(app, cid, "bob", "launch-budget.xlsx", b"PK\x03\x04zip")
    _, withfile = rest(
        app,
        "POST",
        f"/v1/channels/{cid}/file-messages",
        "bob",
        {"text": "numbers", "files": [up["files"][0]["id"]]},
    )

    status, res = rest(app, "GET", "/v1/search?q=launch", "bob")
    assert status == 200, res
    found = {h["message"]["id"] for h in res["items"]}
    assert found == {p["message_id"] for p in posted} | {withfile["message_id"]}
    hit = next(h for h in res["items"] if h["message"]["id"] == withfile["message_id"])
    assert hit["matched"] == "files"
    for h in res["items"]:
        (start, end), *_ = h["highlights"]
        assert h["snippet"][start:end].lower() == "launch"
    _, mine = rest(app, "GET", "/v1/search?q=launch", "carol")
    assert [h["message"]["text"] for h in mine["items"]] == ["secret launch plan"]
    _, theirs = rest(app, "GET", "/v1/search?q=launch", "alice", org="globex")
    assert [h["message"]["text"] for h in theirs["items"]] == ["launch plan elsewhere"]

    # filters and paging
    _, files_only = rest(app, "GET", "/v1/search?q=launch&has_attachment=true", "bob")
    assert [h["message"]["id"] for h in files_only["items"]] == [withfile["message_id"]]
    _, by_alice = rest(app, "GET", f"/v1/search?q=plan&author=alice&channel={cid}", "bob")
    assert len(by_alice["items"]) == 3
    seen: list[str] = []
    path = "/v1/search?q=plan&limit=2"
    while path:
        _, page = rest(app, "GET", path, "alice")
        seen += [h["message"]["id"] for h in page["items"]]
        path = (
            f"/v1/search?q=plan&limit=2&cursor={page['next_cursor']}" if page["next_cursor"] else ""
        )
    assert sorted(seen) == sorted(p["message_id"] for p in posted)
    for bad in (
        "",
        "q=",
        "q=%21%21",
        "q=x&limit=0",
        "q=x&limit=101",
        "q=x&cursor=zz",
        "q=x&from=yesterday",
    ):
        status, body = rest(app, "GET", f"/v1/search?{bad}", "bob")
        assert status == 400, (bad, body)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_upload_quota_holds_across_a_restart(
    request: pytest.FixtureRequest, settings: Settings, backend: str
) -> None:
    files = FilesConfig(max_upload_bytes=LIMIT, user_quota_bytes=2 * LIMIT, org_quota_bytes=10**9)
    settings = replace(settings, files=files)
    if backend == "postgres":
        schemas: PgSchemas = request.getfixturevalue("pg_schemas")
        settings = replace(settings, database_url=schemas.new())
    blobs = settings.data_dir / "blobs"
    with live_app(settings) as app:
        _, ch = rest(app, "POST", "/v1/channels", "alice", {"kind": "group", "name": "q"})
        cid = ch["id"]
        assert upload(app, cid, "alice", "a.bin", b"a" * LIMIT)[0] == 201
        status, big = upload(app, cid, "alice", "big.bin", b"b" * (LIMIT + 1))
        assert (status, big["error"]["code"]) == (413, "payload_too_large")
        assert upload(app, cid, "alice", "b.bin", b"b" * LIMIT)[0] == 201
        status, over = upload(app, cid, "alice", "c.bin", b"c")
        assert (status, over["error"]["code"]) == (429, "quota_exceeded")
        stored = sorted(p.name for p in blobs.rglob("*") if p.is_file())
        assert len(stored) == 2  # the refused uploads left no blob
    with live_app(settings) as app:  # counted from the attachments table, not in memory
        status, over = upload(app, cid, "alice", "c.bin", b"c")
        assert (status, over["error"]["code"]) == (429, "quota_exceeded")
        assert upload(app, cid, "bob", "c.bin", b"c")[0] == 404  # not a member: as before
        assert sorted(p.name for p in blobs.rglob("*") if p.is_file()) == stored
