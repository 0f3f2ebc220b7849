"""Issue "federation bridges", Matrix end to end: the whole service with its application
service against a real Synapse on 127.0.0.1 (tests/support/synapse.py). A Parley member
and a Matrix user converse both ways with a thread reply, an edit, a delete and a
reaction; a Synapse restart mid-conversation loses nothing; an unlinked channel never
leaves Parley; another org cannot link this org's channel."""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any, TypeVar

import httpx
import pytest

from parley.domain.federation import FederationConfig, MatrixConfig
from parley.settings import Settings
from tests.conftest import make_token
from tests.support.live import LiveApp, live_app
from tests.support.synapse import SERVER_NAME, Synapse, synapse  # noqa: F401 (fixture)

T = TypeVar("T")
WAIT = 45.0


def eventually(fn: Callable[[], T | None], what: str, timeout: float = WAIT) -> T:
    """Poll ``fn`` until it returns something (bounded in time)."""
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def api(
    app: LiveApp,
    method: str,
    path: str,
    user: str,
    body: Any = None,
    *,
    org: str = "acme",
    roles: tuple[str, ...] = (),
) -> tuple[int, Any]:
    resp = httpx.request(
        method,
        app.http_url + path,
        json=body,
        headers={"Authorization": f"Bearer {make_token(user, org, roles=roles)}"},
        timeout=20,
    )
    return resp.status_code, (resp.json() if resp.content else None)


@pytest.fixture
def app(synapse: Synapse, settings: Settings) -> Iterator[LiveApp]:  # noqa: F811
    matrix = MatrixConfig(
        homeserver_url=synapse.url,
        server_name=SERVER_NAME,
        as_token=synapse.as_token,
        hs_token=synapse.hs_token,
        bridge_url=f"http://127.0.0.1:{synapse.parley_port}",
    )
    settings = replace(
        settings,
        http_port=synapse.parley_port,
        federation=FederationConfig(matrix=matrix, retry_max=2.0, poll_interval=1.0),
    )
    with live_app(settings) as live:
        yield live


def room_events(synapse: Synapse, token: str, room: str) -> list[dict[str, Any]]:  # noqa: F811
    q = urllib.parse.quote(room, safe="")
    body = synapse.call(token, "GET", f"/rooms/{q}/messages?dir=b&limit=100")
    events: list[dict[str, Any]] = body["chunk"]
    return events


def parley_messages(app: LiveApp, cid: str, user: str = "bob") -> list[dict[str, Any]]:
    status, body = api(app, "GET", f"/v1/channels/{cid}/messages?limit=100", user)
    assert status == 200, body
    items: list[dict[str, Any]] = body["items"]
    return items


def test_matrix_conversation_end_to_end(app: LiveApp, synapse: Synapse) -> None:  # noqa: F811
    mtok = synapse.register("maria")
    room = synapse.call(
        mtok, "POST", "/createRoom", {"preset": "public_chat", "room_alias_name": "partners"}
    )["room_id"]
    alias = f"#partners:{SERVER_NAME}"
    q = urllib.parse.quote(room, safe="")

    _, ch = api(
        app,
        "POST",
        "/v1/channels",
        "bob",
        {"kind": "group", "name": "partners", "members": ["carol"]},
    )
    cid = ch["id"]
    _, private = api(
        app,
        "POST",
        "/v1/channels",
        "bob",
        {"kind": "group", "name": "internal", "members": ["carol"]},
    )
    # Only org admins link; another org's admin cannot even see the channel.
    assert (
        api(
            app,
            "POST",
            f"/v1/channels/{cid}/federation",
            "bob",
            {"network": "matrix", "remote": alias},
        )[0]
        == 403
    )
    status, _ = api(
        app,
        "POST",
        f"/v1/channels/{cid}/federation",
        "eve",
        {"network": "matrix", "remote": alias},
        org="other",
        roles=("admin",),
    )
    assert status == 404
    status, link = api(
        app,
        "POST",
        f"/v1/channels/{cid}/federation",
        "root",
        {"network": "matrix", "remote": alias},
        roles=("admin",),
    )
    assert status == 201, link
    # The same room cannot be linked to a second channel (or org).
    assert (
        api(
            app,
            "POST",
            f"/v1/channels/{private['id']}/federation",
            "root",
            {"network": "matrix", "remote": alias},
            roles=("admin",),
        )[0]
        == 409
    )

    def matrix_event(pred: Callable[[dict[str, Any]], bool]) -> Callable[[], Any]:
        def find() -> Any:
            for ev in room_events(synapse, mtok, room):
                if pred(ev):
                    return ev
            return None

        return find

    def parley_message(pred: Callable[[dict[str, Any]], bool]) -> Callable[[], Any]:
        def find() -> Any:
            for m in parley_messages(app, cid):
                if pred(m):
                    return m
            return None

        return find

    # Parley -> Matrix: text with the Markdown subset, from bob's puppet.
    _, hello = api(app, "POST", f"/v1/channels/{cid}/messages", "bob", {"text": "hello **matrix**"})
    hello_id = hello["message_id"]
    api(app, "POST", f"/v1/channels/{private['id']}/messages", "bob", {"text": "internal only"})
    ev = eventually(
        matrix_event(lambda e: e.get("content", {}).get("body") == "hello **matrix**"),
        "bob's message on Matrix",
    )
    assert ev["sender"] == f"@parley_acme_bob:{SERVER_NAME}"
    assert ev["content"]["formatted_body"] == "<p>hello <strong>matrix</strong></p>"
    bob_event = ev["event_id"]

    # Matrix -> Parley: a remote member's message, marked remote; HTML is never taken.
    sent = synapse.call(
        mtok,
        "PUT",
        f"/rooms/{q}/send/m.room.message/t1",
        {
            "msgtype": "m.text",
            "body": "hi from matrix",
            "format": "org.matrix.custom.html",
            "formatted_body": "<script>x</script>hi",
        },
    )
    maria_event = sent["event_id"]
    m = eventually(parley_message(lambda m: m["text"] == "hi from matrix"), "maria on Parley")
    assert m["author"] == f"matrix:@maria:{SERVER_NAME}"
    remote = view(app, cid, m["id"])["remote"]
    assert remote["network"] == "matrix" and remote["origin"] == SERVER_NAME
    maria_msg = m["id"]
    _, fed = api(app, "GET", f"/v1/channels/{cid}/federation", "carol")
    assert [r["remote_user"] for r in fed["remote_members"]] == [f"@maria:{SERVER_NAME}"]
    assert fed["links"][0]["room_id"] == room

    # Threads both ways.
    synapse.call(
        mtok,
        "PUT",
        f"/rooms/{q}/send/m.room.message/t2",
        {
            "msgtype": "m.text",
            "body": "thread reply from matrix",
            "m.relates_to": {"rel_type": "m.thread", "event_id": bob_event},
        },
    )
    reply = eventually(
        lambda: next(
            (r for r in _thread(app, cid, hello_id) if r["text"] == "thread reply from matrix"),
            None,
        ),
        "maria's thread reply on Parley",
    )
    assert reply["thread_root"] == hello_id
    api(
        app,
        "POST",
        f"/v1/channels/{cid}/threads/{maria_msg}/replies",
        "bob",
        {"text": "thread reply from parley"},
    )
    ev = eventually(
        matrix_event(lambda e: e.get("content", {}).get("body") == "thread reply from parley"),
        "bob's thread reply on Matrix",
    )
    assert ev["content"]["m.relates_to"]["rel_type"] == "m.thread"
    assert ev["content"]["m.relates_to"]["event_id"] == maria_event

    # Edits both ways.
    api(
        app,
        "PATCH",
        f"/v1/channels/{cid}/messages/{hello_id}",
        "bob",
        {"text": "hello **matrix** (edited)"},
    )
    ev = eventually(
        matrix_event(
            lambda e: e.get("content", {}).get("m.relates_to", {}).get("rel_type") == "m.replace"
        ),
        "bob's edit on Matrix",
    )
    assert ev["content"]["m.new_content"]["body"] == "hello **matrix** (edited)"
    assert ev["content"]["m.relates_to"]["event_id"] == bob_event
    synapse.call(
        mtok,
        "PUT",
        f"/rooms/{q}/send/m.room.message/t3",
        {
            "msgtype": "m.text",
            "body": "* hi (edited)",
            "m.new_content": {"msgtype": "m.text", "body": "hi from matrix (edited)"},
            "m.relates_to": {"rel_type": "m.replace", "event_id": maria_event},
        },
    )
    eventually(
        parley_message(lambda m: m["id"] == maria_msg and m["text"] == "hi from matrix (edited)"),
        "maria's edit",
    )

    # Reactions both ways.
    synapse.call(
        mtok,
        "PUT",
        f"/rooms/{q}/send/m.reaction/t4",
        {"m.relates_to": {"rel_type": "m.annotation", "event_id": bob_event, "key": "👍"}},
    )
    eventually(
        lambda: [r["emoji"] for r in view(app, cid, hello_id)["reactions"]] == ["👍"] or None,
        "maria's reaction",
    )
    api(app, "POST", f"/v1/channels/{cid}/messages/{maria_msg}/reactions", "bob", {"emoji": "🎉"})
    eventually(
        matrix_event(
            lambda e: (
                e["type"] == "m.reaction"
                and e["content"]["m.relates_to"]["event_id"] == maria_event
                and e["content"]["m.relates_to"]["key"] == "🎉"
            )
        ),
        "bob's reaction",
    )

    # Files both ways (media upload and download, capped).
    up = httpx.post(
        f"{synapse.url}/_matrix/media/v3/upload?filename=report.txt",
        content=b"quarterly numbers\n",
        headers={"Authorization": f"Bearer {mtok}", "Content-Type": "text/plain"},
        timeout=20,
    ).json()
    synapse.call(
        mtok,
        "PUT",
        f"/rooms/{q}/send/m.room.message/tf",
        {
            "msgtype": "m.file",
            "body": "report.txt",
            "url": up["content_uri"],
            "info": {"mimetype": "text/plain", "size": 18},
        },
    )

    def found_report() -> Any:
        _, hits = api(app, "GET", "/v1/search?q=report&has_attachment=true", "bob")
        return next((h for h in hits.get("items", []) if h["matched"] == "files"), None)

    hit = eventually(found_report, "maria's file on Parley")
    assert hit["message"]["author"] == f"matrix:@maria:{SERVER_NAME}"
    files = httpx.post(
        f"{app.http_url}/v1/channels/{cid}/files?name=notes.txt",
        content=b"parley notes\n",
        headers={"Authorization": f"Bearer {make_token('bob', 'acme')}"},
        timeout=20,
    ).json()["files"]
    api(
        app,
        "POST",
        f"/v1/channels/{cid}/file-messages",
        "bob",
        {"text": "", "files": [files[0]["id"]]},
    )
    ev = eventually(
        matrix_event(lambda e: e.get("content", {}).get("body") == "notes.txt"),
        "bob's file on Matrix",
    )
    assert ev["content"]["msgtype"] == "m.file"
    server, media = ev["content"]["url"][len("mxc://") :].split("/")
    got = httpx.get(
        f"{synapse.url}/_matrix/client/v1/media/download/{server}/{media}",
        headers={"Authorization": f"Bearer {mtok}"},
        timeout=20,
    )
    assert got.content == b"parley notes\n"

    # The remote server restarts mid-conversation: what Parley posted meanwhile arrives.
    synapse.stop()
    api(app, "POST", f"/v1/channels/{cid}/messages", "bob", {"text": "while you were down"})
    synapse.start()
    eventually(
        matrix_event(lambda e: e.get("content", {}).get("body") == "while you were down"),
        "the message posted while Synapse was down",
    )
    synapse.call(
        mtok,
        "PUT",
        f"/rooms/{q}/send/m.room.message/t5",
        {"msgtype": "m.text", "body": "back again"},
    )
    eventually(parley_message(lambda m: m["text"] == "back again"), "maria after the restart")

    # Deletes both ways.
    api(app, "DELETE", f"/v1/channels/{cid}/messages/{hello_id}", "bob")
    eventually(
        matrix_event(lambda e: e["event_id"] == bob_event and not e.get("content")),
        "bob's message redacted on Matrix",
    )
    synapse.call(mtok, "PUT", f"/rooms/{q}/redact/{urllib.parse.quote(maria_event)}/t6", {})
    eventually(
        parley_message(lambda m: m["id"] == maria_msg and m["deleted"]),
        "maria's message deleted on Parley",
    )

    # Nothing relayed came back (each Parley text once in Parley), and the unlinked
    # channel's message never reached the room.
    texts = [m["text"] for m in parley_messages(app, cid)]
    assert texts.count("while you were down") == 1
    bodies = [e.get("content", {}).get("body") for e in room_events(synapse, mtok, room)]
    assert "internal only" not in bodies
    assert bodies.count("while you were down") == 1

    # Unlinked: nothing more crosses.
    assert api(app, "DELETE", f"/v1/channels/{cid}/federation", "root", roles=("admin",))[0] == 204
    api(app, "POST", f"/v1/channels/{cid}/messages", "bob", {"text": "after unlink"})
    synapse.call(
        mtok, "PUT", f"/rooms/{q}/send/m.room.message/t7", {"msgtype": "m.text", "body": "unheard"}
    )
    marker = synapse.call(
        mtok, "PUT", f"/rooms/{q}/send/m.room.message/t8", {"msgtype": "m.text", "body": "marker"}
    )
    assert marker["event_id"]
    time.sleep(2.0)  # a negative: give a wrong relay the time to show (bounded)
    assert "unheard" not in [m["text"] for m in parley_messages(app, cid)]
    assert "after unlink" not in [
        e.get("content", {}).get("body") for e in room_events(synapse, mtok, room)
    ]


def view(app: LiveApp, cid: str, mid: str) -> dict[str, Any]:
    status, body = api(app, "GET", f"/v1/channels/{cid}/messages/{mid}/view", "bob")
    assert status == 200, body
    out: dict[str, Any] = body
    return out


def _thread(app: LiveApp, cid: str, root: str) -> list[dict[str, Any]]:
    status, body = api(app, "GET", f"/v1/channels/{cid}/threads/{root}", "bob")
    if status != 200:
        return []
    replies: list[dict[str, Any]] = body.get("replies", [])
    return replies


def test_transactions_need_the_hs_token(app: LiveApp, synapse: Synapse) -> None:  # noqa: F811
    url = f"{app.http_url}/_matrix/app/v1/transactions/x1"
    assert httpx.put(url, json={"events": []}).status_code == 401
    bad = httpx.put(url, json={"events": []}, headers={"Authorization": "Bearer nope"})
    assert (bad.status_code, bad.json()["errcode"]) == (403, "M_FORBIDDEN")
    ok = httpx.put(url + f"?access_token={synapse.hs_token}", json={"events": []})
    assert (ok.status_code, ok.json()) == (200, {})
