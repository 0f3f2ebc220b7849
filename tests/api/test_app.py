"""App-wide behaviour: auth, JSON errors for every failure, OpenAPI, health, serving."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from functools import partial
from pathlib import Path

import pytest
import trio

from parley.api.errors import STATUS
from parley.api.server import serve_http
from parley.broker.auth import issue_token
from parley.core.codes import ErrorCode
from tests.support.api import (
    SECRET,
    Env,
    RecordingSink,
    auth,
    chat_env,
    make_app,
    make_settings,
    open_test_store,
)


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    async with chat_env(tmp_path) as e:
        yield e


def test_every_error_code_has_a_status() -> None:
    assert set(STATUS) == set(ErrorCode)
    assert all(400 <= s < 600 for s in STATUS.values())


async def test_healthz_needs_no_token(env: Env) -> None:
    assert await env.call("GET", "/healthz", None) == (200, {"status": "ok"})


async def test_missing_token_is_401_json(env: Env) -> None:
    status, body = await env.call("GET", "/v1/channels", None)
    assert status == 401
    assert body["error"]["code"] == "unauthorized"


@pytest.mark.parametrize(
    "header",
    [
        "Bearer not-a-jwt",
        "Basic dXNlcjpwYXNz",
        "Bearer "
        + issue_token("wrong-secret-0123456789abcdef0123456789ab", sub="a", org="acme", ttl=60),
        "Bearer " + issue_token(SECRET, sub="a", org="acme", ttl=-10),
        "Bearer " + issue_token(SECRET, sub="a", org="bad.org", ttl=60),
    ],
)
async def test_invalid_token_is_401_json(env: Env, header: str) -> None:
    resp = await env.client.get("/v1/channels", headers={"Authorization": header})
    assert resp.status_code == 401
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    body = await resp.get_json()
    assert body["error"]["code"] == "unauthorized"


async def test_unknown_route_is_404_json(env: Env) -> None:
    status, body = await env.call("GET", "/v1/nope")
    assert status == 404
    assert body["error"]["code"] == "not_found"


async def test_wrong_method_is_405_json(env: Env) -> None:
    resp = await env.request("PATCH", "/v1/channels")
    assert resp.status_code == 405
    assert "GET" in resp.headers["Allow"]
    body = await resp.get_json()
    assert body["error"]["code"] == "bad_request"


async def test_bad_json_body_is_400_bad_json(env: Env) -> None:
    resp = await env.client.post(
        "/v1/channels",
        data=b"{not json",
        headers={**auth("alice"), "Content-Type": "application/json"},
    )
    assert resp.status_code == 400
    assert (await resp.get_json())["error"]["code"] == "bad_json"


async def test_non_json_body_is_400_bad_json(env: Env) -> None:
    resp = await env.client.post(
        "/v1/channels", data=b"kind=group", headers={**auth("alice"), "Content-Type": "text/plain"}
    )
    assert resp.status_code == 400
    assert (await resp.get_json())["error"]["code"] == "bad_json"


async def test_oversized_body_is_413_json(env: Env) -> None:
    cid = await env.channel()
    big = b'{"text": "' + b"x" * (300 * 1024) + b'"}'
    resp = await env.client.post(
        f"/v1/channels/{cid}/messages",
        data=big,
        headers={**auth("alice"), "Content-Type": "application/json"},
    )
    assert resp.status_code == 413
    assert (await resp.get_json())["error"]["code"] == "payload_too_large"


async def test_openapi_lists_every_resource(env: Env) -> None:
    status, doc = await env.call("GET", "/openapi.json", None)
    assert status == 200
    paths = doc["paths"]
    for p in [
        "/v1/channels",
        "/v1/channels/{channel_id}",
        "/v1/channels/{channel_id}/members",
        "/v1/channels/{channel_id}/members/{user_id}",
        "/v1/channels/{channel_id}/messages",
        "/v1/channels/{channel_id}/messages/{message_id}",
        "/v1/channels/{channel_id}/read",
        "/v1/channels/{channel_id}/receipts",
        "/v1/profile",
        "/v1/users/{user_id}/profile",
        "/v1/events",
        "/v1/events:batch",
        "/v1/channels/{channel_id}/streams",
        "/v1/channels/{channel_id}/streams/{stream_id}",
        "/v1/channels/{channel_id}/streams/{stream_id}/chunks",
        "/v1/channels/{channel_id}/streams/{stream_id}/complete",
        "/v1/channels/{channel_id}/streams/{stream_id}/cancel",
        "/healthz",
    ]:
        assert p in paths, p
    assert "bearer" in doc["components"]["securitySchemes"]
    resp = await env.client.get("/docs")
    assert resp.status_code == 200
    assert "swagger" in (await resp.get_data(as_text=True)).lower()


async def test_serve_http_serves_and_stops_on_cancel(tmp_path: Path) -> None:
    s = replace(make_settings(), http_port=0, shutdown_timeout=1.0)
    async with open_test_store(tmp_path) as store:
        app = make_app(store, RecordingSink(), s)
        async with trio.open_nursery() as nursery:
            serve = partial(serve_http, app, host=s.host, port=s.http_port, shutdown_timeout=1.0)
            binds = await nursery.start(serve)
            host, port = binds[0].removeprefix("http://").rsplit(":", 1)
            stream = await trio.open_tcp_stream(host, int(port))
            async with stream:
                await stream.send_all(
                    b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                )
                data = b""
                while not data.endswith(b"}\n"):  # the whole JSON body
                    data += await stream.receive_some()
            assert data.startswith(b"HTTP/1.1 200")
            assert data.endswith(b'{"status":"ok"}\n')
            nursery.cancel_scope.cancel()


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/v1/channels/{cid}/messages", rb'{"text": "a\u0000b"}'),
        ("POST", "/v1/channels/{cid}/messages", rb'{"text": "a\ud800b"}'),
        ("POST", "/v1/channels/{cid}/messages", rb'{"text": "hi", "idempotency_key": "\ud800"}'),
        ("POST", "/v1/channels", rb'{"kind": "group", "name": "\ud800"}'),
        ("POST", "/v1/channels", rb'{"kind": "group", "name": "x", "members": ["a\u0000"]}'),
        ("POST", "/v1/channels/{cid}/members", rb'{"user_id": "\u0000"}'),
        ("PUT", "/v1/profile", rb'{"display_name": "\udfff"}'),
        ("POST", "/v1/events", rb'{"topic": "events.acme.a", "data": "\ud800"}'),
    ],
)
async def test_unstorable_strings_are_400_not_500(
    env: Env, method: str, path: str, body: bytes
) -> None:
    cid = await env.channel()
    resp = await env.request(method, path.format(cid=cid), "svc", roles=["service"], data=body)
    assert resp.status_code == 400
    assert (await resp.get_json())["error"]["code"] == "bad_request"


@pytest.mark.parametrize(
    "path",
    [
        "/v1/channels/%00",
        "/v1/channels/%00/messages",
        "/v1/channels/{cid}/messages/%00",
        "/v1/channels/%ED%A0%80/receipts",
    ],
)
async def test_odd_ids_in_paths_are_404(env: Env, path: str) -> None:
    cid = await env.channel()
    status, body = await env.call("GET", path.format(cid=cid))
    assert (status, body["error"]["code"]) == (404, "not_found")
    status, _ = await env.call("DELETE", f"/v1/channels/{cid}/members/%00")
    assert status == 404
