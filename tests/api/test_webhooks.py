"""``/v1/webhooks`` over REST: service tokens only, the secret shown once, the delivery
log, JSON 4xx for bad input."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from parley.core.claims import SERVICE_ROLE
from parley.domain.webhooks import WebhookConfig
from tests.support.api import Env, chat_env, make_settings
from tests.support.receiver import receiver

SECRET = "s3cret-s3cret-s3cret"


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    settings = replace(make_settings(), webhooks=WebhookConfig(allow_private=True))
    async with chat_env(tmp_path, settings) as e:
        yield e


async def test_webhook_endpoints_and_the_delivery_log(env: Env) -> None:
    with receiver(SECRET) as rx:
        body = {"url": rx.url, "patterns": ["events.acme.deploy.>"], "secret": SECRET}
        status, created = await env.call(
            "POST", "/v1/webhooks", "ops", roles=[SERVICE_ROLE], json=body
        )
        assert status == 201 and created["secret"] == SECRET and created["enabled"] is True
        hid = created["id"]
        status, listed = await env.call("GET", "/v1/webhooks", "ops", roles=[SERVICE_ROLE])
        assert status == 200 and [h["id"] for h in listed["items"]] == [hid]
        assert "secret" not in listed["items"][0]
        status, _ = await env.call(
            "POST",
            "/v1/events",
            "ops",
            roles=[SERVICE_ROLE],
            json={"topic": "events.acme.deploy.app.done.v2", "data": {"v": 2}},
        )
        assert status in (200, 202)
        await env.chat.webhooks.pump()
        assert await env.chat.jobs.run_due() == 1
        assert [r.json["data"] for r in rx.signed] == [{"v": 2}]
        status, log = await env.call(
            "GET", f"/v1/webhooks/{hid}/deliveries", "ops", roles=[SERVICE_ROLE]
        )
        assert status == 200 and [(d["state"], d["status_code"]) for d in log["items"]] == [
            ("delivered", 200)
        ]
        status, edited = await env.call(
            "PATCH", f"/v1/webhooks/{hid}", "ops", roles=[SERVICE_ROLE], json={"enabled": False}
        )
        assert status == 200 and edited["enabled"] is False
        status, _ = await env.call("DELETE", f"/v1/webhooks/{hid}", "ops", roles=[SERVICE_ROLE])
        assert status == 204
        assert (await env.call("GET", f"/v1/webhooks/{hid}", "ops", roles=[SERVICE_ROLE]))[0] == 404


async def test_bad_input_and_who_may(env: Env) -> None:
    good = {"url": "http://127.0.0.1:9/x", "patterns": ["events.acme.>"]}
    status, body = await env.call("POST", "/v1/webhooks", "alice", json=good)
    assert status == 403 and body["error"]["code"] == "forbidden"
    assert (await env.call("GET", "/v1/webhooks", "alice"))[0] == 403
    for bad, code in (
        ({"url": "gopher://x", "patterns": ["events.acme.>"]}, 400),
        ({"url": "http://127.0.0.1:9/x", "patterns": ["events.other.>"]}, 403),
        ({"url": "http://127.0.0.1:9/x", "patterns": ["events.acme.a b"]}, 400),
        ({"url": "http://127.0.0.1:9/x", "patterns": "events.acme.>"}, 400),
        ({"url": "http://127.0.0.1:9/x"}, 400),
        ({**good, "extra": True}, 400),
    ):
        status, body = await env.call("POST", "/v1/webhooks", "ops", roles=[SERVICE_ROLE], json=bad)
        assert status == code and "error" in body, bad
    status, created = await env.call("POST", "/v1/webhooks", "ops", roles=[SERVICE_ROLE], json=good)
    hid = created["id"]
    for path in (f"/v1/webhooks/{hid}", f"/v1/webhooks/{hid}/deliveries"):
        status, _ = await env.call("GET", path, "ops", org="other", roles=[SERVICE_ROLE])
        assert status == 404
