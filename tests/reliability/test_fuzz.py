"""Hypothesis against a live ``parley serve`` (SQLite): random REST calls on every route of
its own ``/openapi.json`` (random path ids, query strings and JSON bodies, as a member, a
stranger and a service) and random WebSocket commands. Never a 5xx, never an ``internal``
error or a 1011 close, and a refused request (4xx, ``ok: false``) leaves every stored
table exactly as it was (a snapshot of the SQLite file before and after)."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from tests.conftest import make_token
from tests.reliability.conftest import Figures, Scale
from tests.reliability.harness import ORG, ParleyServer, create_channel

pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.NonInteractiveExampleWarning")

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.sampled_from(["", " ", "\x00", "owner", "admin", "group", "direct", "broadcast",
                     "events.acme.a.b", "events.other.x.y", "https://x.example/a", "👍"]),
)  # fmt: skip
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
FIELDS = [
    "kind", "name", "topic", "members", "user_id", "role", "text", "idempotency_key", "seq",
    "display_name", "avatar_url", "data", "events", "chunk", "index", "emoji", "channel",
    "comment", "title", "assignee", "due", "seconds", "files", "root", "also_send_to_channel",
    "message_id", "remove", "since", "status", "token", "note",
]  # fmt: skip
bodies = st.one_of(
    json_values, st.dictionaries(st.sampled_from(FIELDS), json_values, min_size=1, max_size=4)
)
QUERY = ["before", "after", "limit", "from", "to", "cursor", "q", "users", "name", "channel"]
queries = st.dictionaries(
    st.sampled_from(QUERY),
    st.one_of(st.text(max_size=12), st.integers(-5, 2**64).map(str)),
    max_size=3,
)
CALLERS = [("alice", ()), ("mallory", ()), ("svc", ("service",))]


def snapshot(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, read through a read-only connection (WAL: committed
    data only); not the node registry, whose heartbeat changes it by itself."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        names = [
            r[0]
            for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            if not r[0].startswith("sqlite_") and r[0] != "nodes"
        ]
        return {n: sorted(conn.execute(f'SELECT * FROM "{n}"'), key=repr) for n in names}
    finally:
        conn.close()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[dict[str, Any]]:
    server = ParleyServer(tmp_path, PARLEY_MAX_BAD_FRAMES="1000000")
    server.start()
    try:
        cid = create_channel(server, "fuzz", ["alice", "bob"])["id"]
        status, msg = server.rest("POST", f"/v1/channels/{cid}/messages", "alice",
                                  {"text": "hello"}, roles=())  # fmt: skip
        assert status == 201, msg
        status, doc = server.rest("GET", "/openapi.json")
        assert status == 200
        routes = sorted(
            (method.upper(), path)
            for path, ops in doc["paths"].items()
            for method in ops
            if method in {"get", "post", "put", "patch", "delete"}
        )
        yield {
            "server": server,
            "db": server.data_dir / "parley.sqlite3",
            "ids": {"cid": cid, "mid": msg["message_id"]},
            "routes": routes,
        }
    finally:
        server.stop()
    assert "Traceback" not in server.log_text()


def test_a_body_that_is_not_utf8_is_bad_json_and_stores_nothing(world: dict[str, Any]) -> None:
    """Found by the fuzzing below: Quart decoded the body before parsing it, so a body that
    is not UTF-8 was a 500 ``internal``."""
    server: ParleyServer = world["server"]
    before = snapshot(world["db"])
    cid = world["ids"]["cid"]
    for user, roles, path in [
        ("alice", (), f"/v1/channels/{cid}/messages"),
        ("svc", ("service",), "/v1/events"),
        ("alice", (), "/v1/channels"),
    ]:
        status, body = server.rest(
            "POST", path, user, roles=roles, content=b"\xff\xfe{}",
            headers={"Content-Type": "application/json"},
        )  # fmt: skip
        assert (status, body["error"]["code"]) == (400, "bad_json"), (path, body)
    assert snapshot(world["db"]) == before


def _fill(path: str, ids: dict[str, str], choice: st.DataObject) -> str:
    def one(m: re.Match[str]) -> str:
        name = m.group(1)
        real = ids["cid"] if "channel" in name or name == "id" else ids["mid"]
        options = [real, "alice", "bob", "ch_nope", "x" * 300, "%00", "..", "%F0%9F%91%8D"]
        return str(choice.draw(st.sampled_from(options)))

    return re.sub(r"\{([^}]+)\}", one, path)


def test_fuzzed_rest_requests_never_5xx_and_refusals_change_nothing(
    world: dict[str, Any], scale: Scale, figures: Figures
) -> None:
    server: ParleyServer = world["server"]
    statuses: dict[int, int] = {}
    refused_checked = 0

    @settings(
        max_examples=scale.pick(150, 2000),
        deadline=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(data=st.data())
    def one_request(data: st.DataObject) -> None:
        nonlocal refused_checked
        method, template = data.draw(st.sampled_from(world["routes"]))
        if template in {"/v1/users/{user_id}"} and method == "DELETE":
            return  # erasing the fixture's users would only make later examples 404
        path = _fill(template, world["ids"], data)
        user, roles = data.draw(st.sampled_from(CALLERS))
        body = data.draw(bodies) if method in {"POST", "PUT", "PATCH"} else None
        raw = data.draw(st.sampled_from([None, b"{", b"\xff\xfe", b"[1,2", b"null"]))
        before = snapshot(world["db"])
        headers = {"Authorization": f"Bearer {make_token(user, ORG, roles=roles)}"}
        if raw is not None or body is not None:
            headers["Content-Type"] = "application/json"
        with httpx.Client(base_url=server.http_url, timeout=30) as client:
            resp = client.request(
                method,
                path,
                params=data.draw(queries),
                content=raw if raw is not None else
                (None if body is None else json.dumps(body).encode()),
                headers=headers,
            )  # fmt: skip
        statuses[resp.status_code] = statuses.get(resp.status_code, 0) + 1
        assert resp.status_code < 500, (method, path, body, resp.text[:500])
        if resp.status_code >= 400:
            err = resp.json()["error"]
            assert err["code"] != "internal", err
            assert snapshot(world["db"]) == before, (method, path, body, resp.text[:300])
            refused_checked += 1

    one_request()
    figures(
        f"{sum(statuses.values())} REST requests over {len(world['routes'])} routes: "
        f"statuses {dict(sorted(statuses.items()))}; {refused_checked} refusals, "
        "store unchanged after each"
    )


OPS = [
    "subscribe", "unsubscribe", "publish", "ping", "refresh", "post", "read", "reply",
    "react", "edit", "delete", "typing", "presence", "nope",
]  # fmt: skip


def test_fuzzed_websocket_commands_never_internal_and_refusals_change_nothing(
    world: dict[str, Any], scale: Scale, figures: Figures
) -> None:
    server: ParleyServer = world["server"]
    codes: dict[str, int] = {}
    closes: dict[int, int] = {}
    box: dict[str, ClientConnection] = {}
    stack = ExitStack()

    def ws() -> ClientConnection:
        if "ws" not in box:
            box["ws"] = stack.enter_context(
                connect(
                    server.ws_url,
                    additional_headers={"Authorization": f"Bearer {make_token('alice', ORG)}"},
                )
            )
            assert json.loads(box["ws"].recv(timeout=10))["type"] == "hello"
        return box["ws"]

    ids = world["ids"]
    values = st.one_of(json_values, st.sampled_from(
        [ids["cid"], ids["mid"], "events.acme.conversations.conversation.>", {ids["cid"]: 0}]
    ))  # fmt: skip
    plausible = {
        "channel": st.sampled_from([ids["cid"], "ch_nope", ""]),
        "text": st.text(max_size=30),
        "topic": st.sampled_from(["events.acme.conversations.conversation.>",
                                  "events.acme.client.x.y", "events.acme.*.>", "events.other.a",
                                  "events.acme.users.user.mentioned.bob", "a..b", ">"]),
        "message_id": st.sampled_from([ids["mid"], "msg_nope"]),
        "root": st.sampled_from([ids["mid"], "msg_nope"]),
        "emoji": st.sampled_from(["👍", "x", "👍👍", ""]),
        "seq": st.integers(-3, 2**64),
        "since": st.dictionaries(st.sampled_from([ids["cid"], "ch_nope"]), st.integers(-1, 99)),
        "data": json_values,
        "status": st.sampled_from(["online", "away", "offline"]),
        "idempotency_key": st.text(max_size=10),
        "remove": st.booleans(),
    }  # fmt: skip
    commands = st.one_of(
        st.fixed_dictionaries(
            {"id": st.integers(0, 2**53), "op": st.sampled_from(OPS)},
            optional={f: values for f in FIELDS},
        ),
        st.fixed_dictionaries(
            {"id": st.integers(0, 2**53), "op": st.sampled_from(OPS)}, optional=plausible
        ),
        json_values,
    )

    @settings(
        max_examples=scale.pick(200, 3000),
        deadline=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(command=commands, raw=st.sampled_from([False, False, False, True]))
    def one_command(command: Any, raw: bool) -> None:
        frame = json.dumps(command)
        if raw:
            frame = frame[: max(1, len(frame) // 2)]  # truncated JSON
        before = snapshot(world["db"])
        conn = ws()
        try:
            conn.send(frame)
            while True:  # the reply (pushes from earlier commands may come first)
                msg = json.loads(conn.recv(timeout=10))
                if "ok" in msg:
                    break
        except ConnectionClosed as exc:
            code = exc.rcvd.code if exc.rcvd is not None else 1006
            closes[code] = closes.get(code, 0) + 1
            box.pop("ws").close()
            assert code in {1008, 1009}, code
            return
        key = "ok" if msg["ok"] else msg["error"]["code"]
        codes[key] = codes.get(key, 0) + 1
        assert key != "internal", (command, msg)
        if not msg["ok"]:
            assert snapshot(world["db"]) == before, (command, msg)

    with stack:
        one_command()
    figures(
        f"{sum(codes.values()) + sum(closes.values())} WebSocket commands: replies "
        f"{dict(sorted(codes.items()))}, closes {closes}; store unchanged after each refusal"
    )
