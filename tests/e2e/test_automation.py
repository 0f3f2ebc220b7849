"""Scheduling, webhooks and bots end to end on a real server (SQLite and PostgreSQL):
a bot on 127.0.0.1 answers a mention by calling Parley's REST API with its own token, an
integration's webhook receives both posts signed, and a scheduled message is posted once
by a server started after its due time."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest
from websockets.sync.client import connect

from parley.core.claims import SERVICE_ROLE
from parley.domain.jobs import JobsConfig
from parley.domain.webhooks import WebhookConfig
from parley.settings import Settings
from tests.conftest import make_token
from tests.e2e.test_channels import TIMEOUT, Client, rest
from tests.support.live import LiveApp, live_app
from tests.support.receiver import Received, receiver
from tests.support.store import PgSchemas

SECRET = "automation-secret-0123"
OPS = ("ops", (SERVICE_ROLE,))


@pytest.fixture(params=["sqlite", "postgres"])
def auto_settings(request: pytest.FixtureRequest, settings: Settings) -> Settings:
    settings = replace(
        settings,
        webhooks=WebhookConfig(allow_private=True, timeout=TIMEOUT),
        jobs=JobsConfig(poll_interval=0.2),
    )
    if request.param == "postgres":
        schemas: PgSchemas = request.getfixturevalue("pg_schemas")
        settings = replace(settings, database_url=schemas.new())
    return settings


@pytest.fixture
def app(auto_settings: Settings) -> Iterator[LiveApp]:
    with live_app(auto_settings) as live:
        yield live


def until(check: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        if (got := check()) is not None and got is not False:
            return got
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def ops(app: LiveApp, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    return rest(app, method, path, OPS[0], body, roles=OPS[1])


def texts(app: LiveApp, cid: str) -> list[tuple[str, str]]:
    status, page = rest(app, "GET", f"/v1/channels/{cid}/messages", "alice")
    assert status == 200, page
    return [(m["author"], m["text"]) for m in reversed(page["items"])]


def test_a_bot_answers_a_mention_through_the_rest_api_and_a_webhook_sees_it_all(
    app: LiveApp,
) -> None:
    answered: set[str] = set()

    def answer(got: Received) -> int:
        """The bot: read what triggered it, answer in the channel with its own token; a
        delivery sent again (its first answer came too late) is answered once."""
        if got.delivery in answered:
            return 200
        answered.add(got.delivery)
        msg = got.json["message"]
        req = urllib.request.Request(
            f"{app.http_url}/v1/channels/{msg['channel']}/messages",
            method="POST",
            data=json.dumps({"text": f"hi {msg['author']}, you said: {msg['text']}"}).encode(),
            headers={
                "Authorization": f"Bearer {make_token(got.json['bot'])}",
                "Content-Type": "application/json",
            },
        )
        with urllib.request.urlopen(req, timeout=TIMEOUT) as resp:
            return 200 if resp.status in (200, 201) else 500

    with receiver(SECRET, on_post=answer) as bot, receiver(SECRET) as hook:
        status, _ = ops(
            app,
            "PUT",
            "/v1/bots/helper",
            {"webhook_url": bot.url, "auto_respond": "on_mention", "secret": SECRET},
        )
        assert status == 201
        status, created = ops(
            app,
            "POST",
            "/v1/webhooks",
            {
                "url": hook.url,
                "patterns": ["events.acme.conversations.conversation.message_posted.*"],
                "secret": SECRET,
            },
        )
        assert status == 201, created
        status, ch = rest(
            app,
            "POST",
            "/v1/channels",
            "alice",
            {"kind": "group", "name": "g", "members": ["helper"]},
        )
        assert status == 201
        cid = ch["id"]
        status, _ = rest(
            app, "POST", f"/v1/channels/{cid}/messages", "alice", {"text": "@helper ping"}
        )
        assert status == 201
        want = [("alice", "@helper ping"), ("helper", "hi alice, you said: @helper ping")]
        until(lambda: texts(app, cid) == want, "the bot's answer")
        until(lambda: len(hook.signed) == 2, "both posts at the webhook")
        assert [r.json["data"]["text"] for r in hook.signed] == [t for _, t in want]
        assert all(r.signed for r in bot.received) and len(answered) == 1  # once
        status, log = ops(app, "GET", "/v1/bots/helper/deliveries")
        assert status == 200 and [d["state"] for d in log["items"]] == ["delivered"]
        status, seen = rest(app, "GET", "/v1/bots/helper", "alice")
        assert status == 200 and seen == {
            "user_id": "helper",
            "bot": True,
            "auto_respond": "on_mention",
        }


def test_a_scheduled_message_is_posted_once_after_a_restart_across_its_due_time(
    auto_settings: Settings,
) -> None:
    with live_app(auto_settings) as first:
        status, ch = rest(
            first,
            "POST",
            "/v1/channels",
            "alice",
            {"kind": "group", "name": "g", "members": ["bob"]},
        )
        cid = ch["id"]
        status, s = rest(
            first,
            "POST",
            f"/v1/channels/{cid}/scheduled-messages",
            "bob",
            {"text": "posted by the next server", "in_seconds": 1.5},
        )
        assert status == 201 and s["state"] == "scheduled"
    # The server is down while its time passes.
    time.sleep(2)
    with live_app(auto_settings) as second:
        until(lambda: texts(second, cid) == [("bob", "posted by the next server")], "the post")
        status, got = rest(second, "GET", f"/v1/scheduled-messages/{s['id']}", "bob")
        assert status == 200 and got["state"] == "sent"
        time.sleep(0.5)  # a few more polls: still once
        assert texts(second, cid) == [("bob", "posted by the next server")]


def test_a_websocket_publish_reaches_a_matching_webhook(app: LiveApp) -> None:
    """A service's ``publish`` op over the WebSocket goes through the hub's publish
    observers to the org's webhooks, as ``POST /v1/events`` does; a topic the pattern does
    not match is not sent."""
    with receiver(SECRET) as hook:
        status, created = ops(
            app,
            "POST",
            "/v1/webhooks",
            {"url": hook.url, "patterns": ["events.acme.tasks.task.>"], "secret": SECRET},
        )
        assert status == 201, created
        headers = {"Authorization": f"Bearer {make_token(OPS[0], roles=list(OPS[1]))}"}
        with connect(app.ws_url, additional_headers=headers) as ws:
            client = Client(ws)
            for topic in ("events.acme.billing.invoice.paid.1", "events.acme.tasks.task.done.7"):
                assert client.call("publish", topic=topic, data={"n": 1})["ok"]
        got = until(lambda: hook.signed or None, "the publish at the webhook")
        assert [(r.json["topic"], r.json["data"]) for r in got] == [
            ("events.acme.tasks.task.done.7", {"n": 1})
        ]
        # Both publishes were offered in order: the first was never queued.
        status, log = ops(app, "GET", f"/v1/webhooks/{created['id']}/deliveries")
        assert status == 200 and [d["topic"] for d in log["items"]] == [
            "events.acme.tasks.task.done.7"
        ]
