"""CORS: browsers on PARLEY_ALLOWED_ORIGINS may call the REST API; others get no grant."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest
from quart.typing import TestClientProtocol as Client

from tests.support.api import RecordingSink, auth, make_app, make_settings, open_test_store

APP = "https://app.example"


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[Client]:
    async with open_test_store(tmp_path) as store:
        settings = replace(make_settings(), allowed_origins=(APP,))
        app = make_app(store, RecordingSink(), settings)
        async with app.test_app() as test_app:
            yield test_app.test_client()


async def test_preflight_from_an_allowed_origin_is_granted(client: Client) -> None:
    resp = await client.options(
        "/v1/channels",
        headers={
            "Origin": APP,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert resp.status_code == 200
    assert resp.headers["Access-Control-Allow-Origin"] == APP
    assert "POST" in resp.headers["Access-Control-Allow-Methods"]
    assert "authorization" in resp.headers["Access-Control-Allow-Headers"].lower()


async def test_request_from_an_allowed_origin_can_be_read(client: Client) -> None:
    resp = await client.get("/v1/channels", headers={"Origin": APP, **auth("alice")})
    assert resp.status_code == 200
    assert resp.headers["Access-Control-Allow-Origin"] == APP


async def test_other_origins_get_no_grant_and_auth_still_applies(
    client: Client,
) -> None:
    resp = await client.get(
        "/v1/channels", headers={"Origin": "https://evil.example", **auth("alice")}
    )
    assert "Access-Control-Allow-Origin" not in resp.headers
    resp = await client.get("/v1/channels", headers={"Origin": APP})
    assert resp.status_code == 401
    assert (await resp.get_json())["error"]["code"] == "unauthorized"


async def test_no_origins_configured_means_no_cors_headers(tmp_path: Path) -> None:
    async with open_test_store(tmp_path) as store:
        app = make_app(store, RecordingSink())
        async with app.test_app() as test_app:
            resp = await test_app.test_client().get(
                "/v1/channels", headers={"Origin": APP, **auth("alice")}
            )
    assert resp.status_code == 200
    assert "Access-Control-Allow-Origin" not in resp.headers
