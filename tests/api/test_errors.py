"""Bad input to the conversation endpoints: always a JSON 4xx."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import jwt
import pytest

from parley.store import StoreUnavailable
from tests.support.api import SECRET, Env, chat_env


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    async with chat_env(tmp_path) as e:
        yield e


async def test_bad_inputs_are_json_4xx(env: Env) -> None:
    cid = await env.channel(members=("bob",))
    mid = (await env.post(cid, "hello"))["message_id"]
    m = f"/v1/channels/{cid}/messages/{mid}"
    cases: list[tuple[str, str, Any, int]] = [
        ("PATCH", m, {"text": ""}, 400),
        ("PATCH", m, {"text": 5}, 400),
        ("PATCH", m, {"text": "x", "extra": 1}, 400),
        ("PATCH", m, {"text": "x" * 20000}, 413),
        ("PATCH", m, {"text": "```la!ng\ncode\n```"}, 400),
        ("PATCH", f"/v1/channels/{cid}/messages/msg_none", {"text": "x"}, 404),
        ("PATCH", f"/v1/channels/{cid}/messages/a%00b", {"text": "x"}, 404),
        ("POST", f"{m}/reactions", {"emoji": "not an emoji"}, 400),
        ("POST", f"{m}/reactions", {"emoji": None}, 400),
        ("POST", f"{m}/reactions", [], 400),
        ("DELETE", f"{m}/reactions/%F0%9F%91%8D", None, 200),
        ("DELETE", f"{m}/reactions/xx", None, 400),
        ("DELETE", f"{m}/reactions/%FF%FE", None, 400),
        ("POST", f"{m}/reactions", {"emoji": "\U0001f44d\U0001f44d"}, 400),
        ("POST", f"{m}/reactions", {"emoji": "\U0001f1eb\U0001f1f7\U0001f1e9\U0001f1ea"}, 400),
        ("POST", f"/v1/channels/{cid}/threads/{mid}/replies", {"text": "  "}, 400),
        (
            "POST",
            f"/v1/channels/{cid}/threads/{mid}/replies",
            {"text": "x", "also_send_to_channel": "yes"},
            400,
        ),
        ("POST", f"/v1/channels/{cid}/threads/msg_none/replies", {"text": "x"}, 404),
        ("POST", f"/v1/channels/{cid}/threads/{mid}/read", {"seq": -1}, 400),
        ("GET", f"/v1/channels/{cid}/timeline?before=-5", None, 400),
        ("GET", f"/v1/channels/{cid}/timeline?limit=0", None, 400),
        ("GET", f"/v1/channels/{cid}/timeline?limit=abc", None, 400),
        ("GET", f"/v1/channels/{cid}/threads/{mid}?after=-1", None, 400),
        ("PUT", f"/v1/channels/{cid}/pins/msg_none", None, 404),
        ("POST", "/v1/bookmarks", {"channel": cid, "message_id": mid, "note": "n" * 1001}, 400),
        ("POST", "/v1/bookmarks", {"channel": cid}, 400),
        ("GET", "/v1/bookmarks?cursor=%%%", None, 400),
        ("DELETE", "/v1/bookmarks/msg_none", None, 404),
        ("POST", f"{m}/share", {"channel": "ch_none"}, 404),
        ("POST", f"{m}/share", {"channel": cid, "comment": "\x00"}, 400),
        ("POST", f"{m}/tasks", {"title": "t", "due": "tomorrow"}, 400),
        ("POST", f"{m}/tasks", {"title": "t", "due": "2026-13-45"}, 400),
        ("POST", f"{m}/tasks", {"title": "t", "assignee": "stranger"}, 400),
        ("POST", f"{m}/tasks", {"title": "x" * 301}, 400),
        ("GET", "/v1/tasks/task_none", None, 404),
        ("POST", "/v1/tasks/task_none/complete", None, 404),
        ("POST", "/v1/teams", {"name": "@bad name"}, 400),
        ("POST", "/v1/teams", {"name": "channel"}, 400),
        ("POST", "/v1/teams", {"name": "ok", "members": [""]}, 400),
        ("GET", "/v1/teams/team_none", None, 404),
        ("POST", "/v1/teams/team_none/members", {"user_id": "x"}, 404),
    ]
    for method, path, body, expected in cases:
        status, got = await env.call(method, path, "alice", json=body)
        assert status == expected, (method, path, body, got)
        if status >= 400:
            assert set(got["error"]) == {"code", "message"}, got


@pytest.mark.parametrize(
    "body",
    [
        b'{"topic": "events.acme.billing.invoice.paid.i1", "data": {"x": NaN}}',
        b'{"topic": "events.acme.billing.invoice.paid.i1", "data": {"x": Infinity}}',
        b'{"topic": "events.acme.billing.invoice.paid.i1", "data": '
        + b"[" * 100_000
        + b"]" * 100_000
        + b"}",
    ],
    ids=["nan", "infinity", "nested-100k"],
)
async def test_non_standard_json_is_400_bad_json(env: Env, body: bytes) -> None:
    """Standard JSON only: NaN, Infinity and nesting beyond the parser's limit are refused
    (not republished as null, not a 500), and nothing is published."""
    status, out = await env.call(
        "POST",
        "/v1/events",
        "svc",
        roles=("service",),
        data=body,
        headers={"Content-Type": "application/json"},
    )
    assert (status, out["error"]["code"]) == (400, "bad_json")
    assert env.sink.published == []


async def test_a_token_with_infinite_exp_is_401(env: Env) -> None:
    token = jwt.encode({"sub": "alice", "org": "acme", "exp": float("inf")}, SECRET, "HS256")
    resp = await env.client.get("/v1/channels", headers={"Authorization": f"Bearer {token}"})
    body = await resp.get_json()
    assert resp.status_code == 401 and "exp must be a finite number" in body["error"]["message"]


async def test_an_outage_is_503_with_retry_after(
    env: Env, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The store cannot be reached: 503 ``unavailable`` with Retry-After, no traceback."""
    cid = await env.channel()

    async def down(*args: object, **kwargs: object) -> None:
        raise StoreUnavailable("database unavailable: connection refused")

    monkeypatch.setattr(env.store, "read", down)
    monkeypatch.setattr(env.store, "write", down)
    for method, path, body in (
        ("GET", f"/v1/channels/{cid}/messages", None),
        ("POST", f"/v1/channels/{cid}/messages", {"text": "hi"}),
    ):
        resp = await env.request(method, path, "alice", json=body)
        assert resp.status_code == 503 and resp.headers["Retry-After"] == "5"
        assert (await resp.get_json())["error"]["code"] == "unavailable"
    assert "Traceback" not in caplog.text


async def test_replies_are_the_same_json_with_orjson_and_its_fallback() -> None:
    """Replies are encoded with orjson; what it refuses (an integer beyond 64 bits, a lone
    surrogate) is encoded by the stdlib as before, and dates keep the stdlib's form."""
    import datetime
    import json

    from quart_trio import QuartTrio

    from parley.api.errors import install_error_handlers

    app = QuartTrio("t")
    install_error_handlers(app)
    when = datetime.datetime(2026, 12, 2, 1, 2, 3, tzinfo=datetime.UTC)
    cases: list[Any] = [
        {"text": "h\u00e9llo \U0001f44d", "n": 1, "z": None, "l": [1.5, True]},
        {"big": 2**70},
        {"lone": "a\ud800b"},
        {"when": when},
        {3: "int key"},
    ]
    async with app.app_context():
        for obj in cases:
            response: Any = app.json.response(obj)  # Quart's Response
            body = await response.get_data()
            assert body.endswith(b"\n")
            assert response.mimetype == "application/json"
            expected = json.loads(app.json.dumps(obj))  # the stdlib encoder's answer
            assert json.loads(body) == expected
        utf8: Any = app.json.response(cases[0])
        assert b"h\xc3\xa9llo" in await utf8.get_data()


async def test_a_post_body_that_does_not_fit_is_400_as_before(env: Env) -> None:
    """The hottest routes validate with a validator built once (api/validation.py): the
    same 400s as quart-schema's, and nothing is posted."""
    cid = await env.channel()
    path = f"/v1/channels/{cid}/messages"
    status, out = await env.call(
        "POST", path, data=b"text=hi", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert (status, out["error"]["code"]) == (400, "bad_json")
    status, out = await env.call(
        "POST", path, data=b"{", headers={"Content-Type": "application/json"}
    )
    assert (status, out["error"]["code"]) == (400, "bad_json")
    for body, field in (({"text": 5}, "text"), ({"text": "x", "nope": 1}, "nope"), ([], "body")):
        status, out = await env.call("POST", path, json=body)
        assert (status, out["error"]["code"]) == (400, "bad_request"), body
        assert field in out["error"]["message"]
    status, page = await env.call("GET", path)
    assert status == 200 and page["items"] == []
