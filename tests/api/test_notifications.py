"""The notification REST API: inbox, marks, service requests (idempotent), rules,
preferences, push subscriptions, thread follows, one-click unsubscribe; and clear 4xx."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from parley.domain.notify_email import unsubscribe_token
from parley.domain.notify_push import b64url
from tests.support.api import Env, chat_env

SERVICE = ["service"]
# A browser's subscription keys: a P-256 public point and a 16-byte auth secret, base64url.
P256DH = b64url(
    ec.generate_private_key(ec.SECP256R1())
    .public_key()
    .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
)
AUTH = b64url(b"0123456789abcdef")


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    async with chat_env(tmp_path) as e:
        yield e


async def notify(env: Env, body: dict[str, Any], **kw: Any) -> tuple[int, Any]:
    return await env.call("POST", "/v1/notifications", "backend", roles=SERVICE, json=body, **kw)


async def test_inbox_marks_and_unread(env: Env) -> None:
    cid = await env.channel(members=["bob"])
    await env.post(cid, "@bob look")
    await env.post(cid, "@bob again")
    status, body = await env.call("GET", "/v1/notifications", "bob")
    assert status == 200 and body["unread"] == 2 and body["next_cursor"] is None
    first, second = body["items"]
    assert first["body"] == "@bob again" and first["type"] == "mention"
    assert first["link"]["channel"] == cid and first["delivery"]["push"] == "none"
    assert first["created_at"].endswith("Z") and first["read_at"] is None
    status, page = await env.call("GET", "/v1/notifications", "bob", query={"limit": 1})
    assert [i["id"] for i in page["items"]] == [first["id"]] and page["next_cursor"] == first["id"]
    status, one = await env.call("POST", f"/v1/notifications/{second['id']}/read", "bob")
    assert status == 200 and one["read_at"] is not None and one["seen_at"] is not None
    status, count = await env.call("GET", "/v1/notifications/unread-count", "bob")
    assert count == {"unread": 1}
    status, marked = await env.call(
        "POST", "/v1/notifications/mark", "bob", json={"state": "read", "up_to": first["id"]}
    )
    assert status == 200 and marked == {"changed": [first["id"]], "unread": 0}
    topics = [t for t, _ in env.sink.published if ".notification.updated." in t]
    assert len(topics) == 2 and all(t.endswith(".bob") for t in topics)
    status, archived = await env.call("POST", f"/v1/notifications/{first['id']}/archive", "bob")
    assert archived["archived_at"] is not None
    status, rest = await env.call("GET", "/v1/notifications", "bob", query={"archived": "true"})
    assert [i["id"] for i in rest["items"]] == [first["id"]]
    status, filtered = await env.call(
        "GET", "/v1/notifications", "bob", query={"type": "dm", "archived": "all"}
    )
    assert filtered["items"] == []
    # Someone else's, unknown, bad filters.
    assert (await env.call("GET", f"/v1/notifications/{first['id']}", "alice"))[0] == 404
    assert (await env.call("GET", f"/v1/notifications/{first['id']}", "bob", org="other"))[0] == 404
    assert (await env.call("POST", "/v1/notifications/ntf_nope/read", "bob"))[0] == 404
    bad = await env.call("GET", "/v1/notifications", "bob", query={"since": "yesterday"})
    assert bad[0] == 400 and bad[1]["error"]["code"] == "bad_request"
    bad = await env.call("POST", "/v1/notifications/mark", "bob", json={"state": "read"})
    assert bad[0] == 400


async def test_services_notify_idempotently_and_schedule(env: Env) -> None:
    cid = await env.channel(members=["bob", "carol"])
    status, team = await env.call(
        "POST", "/v1/teams", "alice", json={"name": "ops", "members": ["carol"]}
    )
    assert status == 201, team
    body = {
        "recipients": {"users": ["bob"], "teams": ["ops"], "channel": cid},
        "type": "deploy.failed",
        "priority": "high",
        "title": "Deploy failed",
        "body": "build 42",
        "link": {"url": "https://ci.example/42"},
    }
    key = {"Idempotency-Key": "deploy-42"}
    status, sent = await notify(env, body, headers=key)
    assert status == 201 and sent["state"] == "sent" and sent["count"] == 3
    status, again = await notify(env, body, headers=key)
    assert status == 201 and again == sent  # replayed, nothing created twice
    status, inbox = await env.call("GET", "/v1/notifications", "carol")
    assert [i["type"] for i in inbox["items"]] == ["deploy.failed"]
    status, batch = await env.call(
        "POST",
        "/v1/notifications:batch",
        "backend",
        roles=SERVICE,
        json={"notifications": [body, {**body, "send_at": "2999-01-01T00:00:00Z"}]},
    )
    assert status == 201 and [r["state"] for r in batch["results"]] == ["sent", "scheduled"]
    sid = batch["results"][1]["scheduled"]["id"]
    status, got = await env.call(
        "GET", f"/v1/notifications/scheduled/{sid}", "backend", roles=SERVICE
    )
    assert status == 200 and got["state"] == "scheduled"
    status, cancelled = await env.call(
        "DELETE", f"/v1/notifications/scheduled/{sid}", "backend", roles=SERVICE
    )
    assert status == 200 and cancelled["state"] == "cancelled"
    again = await env.call("DELETE", f"/v1/notifications/scheduled/{sid}", "backend", roles=SERVICE)
    assert again[0] == 409
    other = await env.call(
        "GET", f"/v1/notifications/scheduled/{sid}", "x", org="o2", roles=SERVICE
    )
    assert other[0] == 404
    # Users may not send; bad recipients and fields are clear 400/404s.
    assert (await env.call("POST", "/v1/notifications", "bob", json=body))[0] == 403
    for bad, code in [
        ({**body, "recipients": {"users": [""]}}, 400),
        ({**body, "recipients": {"teams": ["nobody"]}}, 404),
        ({**body, "recipients": {"channel": "ch_x"}}, 404),
        ({**body, "priority": "max"}, 400),
        ({**body, "colour": "red"}, 400),
        ({**body, "type": "Not A Type"}, 400),
    ]:
        status, err = await notify(env, bad)
        assert status == code, (bad, err)
        assert err["error"]["message"]
    assert (await notify(env, body, org="other"))[0] == 404  # the channel is not in org other


async def test_rules_crud(env: Env) -> None:
    rule = {
        "name": "task done",
        "topic": "events.acme.tasks.task.completed.*",
        "recipients": {"field": "data.created_by"},
        "title": "${data.title} done",
    }
    assert (await env.call("POST", "/v1/notification-rules", "bob", json=rule))[0] == 403
    status, made = await env.call(
        "POST", "/v1/notification-rules", "root", roles=["admin"], json=rule
    )
    assert status == 201 and made["match_count"] == 0 and made["enabled"] is True
    rid = made["id"]
    status, listed = await env.call("GET", "/v1/notification-rules", "svc", roles=SERVICE)
    assert [r["id"] for r in listed["items"]] == [rid]
    status, replaced = await env.call(
        "PUT",
        f"/v1/notification-rules/{rid}",
        "svc",
        roles=SERVICE,
        json={**rule, "enabled": False, "priority": "urgent"},
    )
    assert status == 200 and replaced["enabled"] is False and replaced["priority"] == "urgent"
    for bad in (
        {**rule, "topic": "events.other.>"},
        {**rule, "conditions": [{"field": "data.x", "op": "eval", "value": "1"}]},
        {**rule, "title": "${data.title"},
        {**rule, "recipients": {}},
    ):
        status, err = await env.call(
            "POST", "/v1/notification-rules", "svc", roles=SERVICE, json=bad
        )
        assert status == 400, bad
        assert err["error"]["code"] == "bad_request"
    other = await env.call("GET", f"/v1/notification-rules/{rid}", "s", org="o2", roles=SERVICE)
    assert other[0] == 404
    assert (await env.call("DELETE", f"/v1/notification-rules/{rid}", "svc", roles=SERVICE))[
        0
    ] == 200
    assert (await env.call("GET", f"/v1/notification-rules/{rid}", "svc", roles=SERVICE))[0] == 404


async def test_preferences_subscriptions_follows_and_unsubscribe(env: Env) -> None:
    cid = await env.channel(members=["bob"])
    status, prefs = await env.call("GET", "/v1/me/notification-preferences", "bob")
    assert status == 200 and prefs["level"] == "mentions_and_dms" and prefs["dnd"] is None
    status, prefs = await env.call(
        "PATCH",
        "/v1/me/notification-preferences",
        "bob",
        json={
            "channels": {cid: "mute"},
            "dnd": {"start": "22:00", "end": "07:00", "time_zone": "Europe/Paris"},
            "keywords": ["Release"],
            "email": "bob@example.com",
        },
    )
    assert status == 200, prefs
    assert prefs["channels"] == {cid: "mute"} and prefs["keywords"] == ["release"]
    assert prefs["dnd"]["time_zone"] == "Europe/Paris" and prefs["dnd"]["days"] == [
        1,
        2,
        3,
        4,
        5,
        6,
        7,
    ]
    live = [d for t, d in env.sink.published if t.endswith("notification.preferences.bob")]
    assert live[-1]["email"] == "bob@example.com"
    status, prefs = await env.call(
        "PATCH", "/v1/me/notification-preferences", "bob", json={"dnd": None}
    )
    assert prefs["dnd"] is None and prefs["channels"] == {cid: "mute"}
    bad = await env.call(
        "PATCH", "/v1/me/notification-preferences", "bob", json={"dnd": {"time_zone": "X/Y"}}
    )
    assert bad[0] == 400

    sub = {"endpoint": "https://push.example/abc", "keys": {"p256dh": P256DH, "auth": AUTH}}
    status, made = await env.call("POST", "/v1/me/push-subscriptions", "bob", json=sub)
    assert status == 201, made
    status, subs = await env.call("GET", "/v1/me/push-subscriptions", "bob")
    assert [s["id"] for s in subs["items"]] == [made["id"]]
    assert (await env.call("DELETE", f"/v1/me/push-subscriptions/{made['id']}", "alice"))[0] == 404
    assert (await env.call("DELETE", f"/v1/me/push-subscriptions/{made['id']}", "bob"))[0] == 200
    bad_keys = {**sub, "keys": {"p256dh": "AAAA", "auth": AUTH}}
    assert (await env.call("POST", "/v1/me/push-subscriptions", "bob", json=bad_keys))[0] == 400
    no_push = await env.call("GET", "/v1/push/vapid-public-key", "bob")
    assert no_push[0] == 404  # these tests configure no VAPID key

    root = await env.post(cid, "thread")
    path = f"/v1/channels/{cid}/threads/{root['message_id']}/follow"
    assert (await env.call("GET", path, "alice"))[1]["following"] is True
    followed = {"root_id": root["message_id"], "following": True}
    assert (await env.call("PUT", path, "bob"))[1] == followed
    assert (await env.call("DELETE", path, "bob"))[1]["following"] is False
    assert (await env.call("PUT", path, "zed"))[0] == 404

    token = unsubscribe_token(env.chat.notify.unsubscribe_key, "acme", "bob")
    resp = await env.request("GET", "/v1/notifications/unsubscribe", None, query={"token": token})
    assert resp.status_code == 200 and "<form method='post'" in await resp.get_data(as_text=True)
    assert (await env.call("GET", "/v1/me/notification-preferences", "bob"))[1][
        "email_unsubscribed"
    ] is False  # a GET changes nothing
    status, out = await env.call(
        "POST",
        "/v1/notifications/unsubscribe",
        None,
        query={"token": token},
        data=b"List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert status == 200 and out == {"unsubscribed": True}
    prefs = (await env.call("GET", "/v1/me/notification-preferences", "bob"))[1]
    assert prefs["email_unsubscribed"] is True
    forged = await env.call(
        "POST", "/v1/notifications/unsubscribe", None, query={"token": token[:-2] + "xx"}
    )
    assert forged[0] == 404
    status, prefs = await env.call(
        "PUT", "/v1/me/notification-preferences/email", "bob", json={"subscribed": True}
    )
    assert prefs["email_unsubscribed"] is False
