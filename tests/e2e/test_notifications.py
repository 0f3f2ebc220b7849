"""Issue "notifications" end to end, on SQLite and PostgreSQL: the whole service as the
composition root wires it (the broker's hub and connections, the REST app, the
notification tasks), a real SMTP server and a local Web Push endpoint on loopback, and
trio's mock clock, moved by hand, for the email delay.

alice @mentions offline bob: bob's push endpoint receives the encrypted payload, and 10
virtual minutes later exactly one digest arrives; bob reads it on one device and his
other devices see it read; a muted channel sends nothing unless urgent; a rule on
``events.acme.tasks.task.completed.*`` notifies the task's creator; bad rules, bad
recipients, other orgs and foreign ids get clear 4xx errors."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any

import pytest
import trio
import trio.lowlevel
import trio.testing

from parley.api.app import create_app
from parley.app import build_services
from parley.broker.auth import issue_token
from parley.broker.hub import Hub
from parley.broker.server import BrokerServer
from parley.domain.notify_push import VapidKey, new_private_key_pem
from parley.domain.services import Services
from parley.domain.wsops import WebSocketOps
from parley.store import SqlStore
from tests.support.api import SECRET, Env, RecordingSink, make_settings
from tests.support.smtp import Inbox, smtp_server
from tests.support.webpush import PushEndpoint
from tests.support.wsclient import MemClient

ORG = "acme"


@pytest.fixture
def clock() -> trio.testing.MockClock:
    """Time runs as usual (so ``fail_after`` bounds every wait) and jumps when told."""
    return trio.testing.MockClock(rate=1.0)


@dataclass
class World:
    env: Env
    svc: Services
    server: BrokerServer
    push: PushEndpoint
    smtp: Inbox
    clock: trio.testing.MockClock
    nursery: trio.Nursery
    #: The wall clock the services and the broker run on (jumps with the mock clock).
    wall: Callable[[], float]

    async def device(self, user: str, roles: tuple[str, ...] = ()) -> MemClient:
        """A WebSocket connection of ``user`` subscribed to their notifications."""
        client_stream, server_stream = trio.testing.memory_stream_pair()
        self.nursery.start_soon(self.server.handle, server_stream)
        c = MemClient(client_stream)
        tok = issue_token(SECRET, sub=user, org=ORG, ttl=3600, now=self.wall(), roles=roles)
        await c.handshake(f"/ws?access_token={tok}")
        assert (await c.recv())["type"] == "hello"
        await c.send_json(
            {"id": 1, "op": "subscribe", "topic": f"events.{ORG}.users.notification.*.{user}"}
        )
        assert (await c.recv())["ok"] is True
        return c

    async def eventually(
        self, user: str, query: dict[str, Any], done: Callable[[list[Any]], bool]
    ) -> list[Any]:
        """``user``'s inbox (filtered by ``query``) once ``done`` says so (within 10 s)."""
        with trio.fail_after(10):
            while True:
                status, body = await self.env.call("GET", "/v1/notifications", user, query=query)
                assert status == 200
                if done(body["items"]):
                    items: list[Any] = body["items"]
                    return items
                await trio.sleep(0.02)

    async def settle(self) -> None:
        """Let the background tasks (rules, push) finish what they were handed."""
        for _ in range(50):
            await trio.testing.wait_all_tasks_blocked()
            await trio.lowlevel.checkpoint()


async def next_push(c: MemClient, event: str) -> dict[str, Any]:
    while True:
        msg = await c.recv()
        if msg.get("type") == "event" and ".notification." + event + "." in msg["topic"]:
            data: dict[str, Any] = msg["data"]
            return data


@asynccontextmanager
async def world(store: SqlStore, clock: trio.testing.MockClock) -> AsyncIterator[World]:
    pem = new_private_key_pem()
    with smtp_server() as smtp:
        s = make_settings()
        s = replace(
            s,
            notifications=replace(
                s.notifications,
                smtp_url=smtp.url,
                email_delay=600,
                vapid_private_key=pem,
                public_url="https://parley.example",
            ),
        )
        wall0, t0 = time.time(), trio.current_time()

        def wall() -> float:
            return wall0 + trio.current_time() - t0

        hub = Hub(s.presence)
        async with trio.open_nursery() as nursery:
            svc = build_services(
                s,
                store,
                hub,
                verify=s.token_verifier().verify,
                spawn=nursery.start_soon,
                presence=hub.presence,
                sessions=hub,
                clock=wall,
            )
            hub.publish_observers.append(svc.notify.events.offer_published)
            server = BrokerServer(
                s.broker,
                hub,
                s.token_verifier(),
                ops=WebSocketOps(svc),
                wall_clock=wall,
            )
            push = PushEndpoint(VapidKey(pem).public_key)
            await push.start(nursery)
            nursery.start_soon(svc.notify.run)
            app = create_app(svc)
            async with app.test_app() as test_app:
                env = Env(store, RecordingSink(), svc, app, test_app.test_client())
                yield World(env, svc, server, push, smtp, clock, nursery, wall)
            nursery.cancel_scope.cancel()


async def test_the_notification_story(store: SqlStore, clock: trio.testing.MockClock) -> None:
    async with world(store, clock) as w:
        env = w.env
        # bob has a phone subscribed to Web Push, and the email claim in his token.
        phone = w.push.device("phone")
        status, _ = await env.call(
            "POST",
            "/v1/me/push-subscriptions",
            "bob",
            json={"endpoint": w.push.endpoint("phone"), "keys": phone.keys()},
        )
        assert status == 201
        headers = {"Authorization": "Bearer " + _email_token("bob")}
        assert (await env.call("GET", "/v1/notifications", "bob", headers=headers))[0] == 200
        cid = await env.channel(members=["bob", "carol"])

        # alice @mentions offline bob: the push endpoint decrypts the payload.
        await env.post(cid, "@bob can you review?")
        with trio.fail_after(30):
            await w.push.wait(1)
        [p] = w.push.pushes
        assert p.device == "phone" and p.payload["body"] == "@bob can you review?"
        assert p.payload["type"] == "mention" and p.headers["urgency"] == "high"
        assert p.claims["sub"].startswith("mailto:")

        # 10 virtual minutes later: exactly one digest.
        assert w.smtp.messages == []
        w.clock.jump(601)
        assert await trio.to_thread.run_sync(w.smtp.wait_for, 1)
        w.clock.jump(3600)
        await w.settle()
        await trio.to_thread.run_sync(time.sleep, 0.2)
        await w.settle()
        assert len(w.smtp.messages) == 1 and w.smtp.recipients == [["bob@example.com"]]
        digest = w.smtp.messages[0]
        assert digest["Subject"].startswith("alice mentioned you")
        assert digest["List-Unsubscribe"].startswith("<https://parley.example/v1/")

        # bob's two devices come online; he reads on one, the other sees it read.
        laptop, tablet = await w.device("bob"), await w.device("bob")
        status, inbox = await env.call("GET", "/v1/notifications", "bob")
        [n] = inbox["items"]
        assert n["delivery"] == {"in_app": "delivered", "push": "sent", "email": "sent"}
        status, _ = await env.call("POST", f"/v1/notifications/{n['id']}/read", "bob")
        for device in (laptop, tablet):
            with trio.fail_after(5):
                upd = await next_push(device, "updated")
            assert upd == {"state": "read", "on": True, "ids": [n["id"]], "unread": 0}

        # A muted channel sends nothing, unless urgent.
        status, _ = await env.call(
            "PATCH", "/v1/me/notification-preferences", "bob", json={"channels": {cid: "mute"}}
        )
        with trio.fail_after(5):
            prefs = await next_push(tablet, "preferences")
        assert prefs["channels"] == {cid: "mute"}
        await env.post(cid, "@bob still there?")
        await w.settle()
        assert (await env.call("GET", "/v1/notifications/unread-count", "bob"))[1]["unread"] == 0
        status, sent = await env.call(
            "POST",
            "/v1/notifications",
            "pager",
            roles=["service"],
            json={
                "recipients": {"channel": cid},
                "priority": "urgent",
                "title": "Prod is down",
                "type": "incident",
            },
        )
        assert status == 201 and sent["count"] == 3
        with trio.fail_after(5):
            live = await next_push(laptop, "created")
        assert (live["title"], live["priority"], live["alert"]) == ("Prod is down", "urgent", True)
        with trio.fail_after(30):
            await w.push.wait(2)
        assert w.push.pushes[1].payload["title"] == "Prod is down"
        assert w.push.pushes[1].headers["urgency"] == "high"

        # A rule on task completion notifies the task's creator (a field of the event).
        rule = {
            "name": "done",
            "topic": "events.acme.tasks.task.completed.*",
            "recipients": {"field": "data.created_by"},
            "title": "${data.completed_by} completed ${data.title}",
            "type": "task_completed",
        }
        status, made = await env.call(
            "POST", "/v1/notification-rules", "ops", roles=["admin"], json=rule
        )
        assert status == 201, made
        msg = await env.post(cid, "release notes")
        status, task = await env.call(
            "POST",
            f"/v1/channels/{cid}/messages/{msg['message_id']}/tasks",
            "alice",
            json={"title": "Write notes", "assignee": "carol"},
        )
        assert status == 201
        assert (await env.call("POST", f"/v1/tasks/{task['id']}/complete", "carol"))[0] == 200
        alices = await w.eventually(
            "alice", {"type": "task_completed"}, lambda items: len(items) == 1
        )
        assert [i["title"] for i in alices] == ["carol completed Write notes"]
        status, carols = await env.call(
            "GET", "/v1/notifications", "carol", query={"type": "task_assigned"}
        )
        assert len(carols["items"]) == 1
        status, got = await env.call(
            "GET", f"/v1/notification-rules/{made['id']}", "ops", roles=["admin"]
        )
        assert got["match_count"] == 1 and got["error_count"] == 0

        # Bad rules, bad recipients, other orgs and foreign ids: clear 4xx.
        bad_rule = await env.call(
            "POST",
            "/v1/notification-rules",
            "ops",
            roles=["admin"],
            json={**rule, "topic": "events.other.tasks.>"},
        )
        assert bad_rule[0] == 400 and "org" in bad_rule[1]["error"]["message"]
        bad_to = await env.call(
            "POST",
            "/v1/notifications",
            "pager",
            roles=["service"],
            json={"recipients": {"teams": ["nobody"]}, "title": "x"},
        )
        assert bad_to[0] == 404 and "team" in bad_to[1]["error"]["message"]
        assert (await env.call("GET", f"/v1/notifications/{n['id']}", "carol"))[0] == 404
        assert (await env.call("GET", f"/v1/notifications/{n['id']}", "bob", org="other"))[0] == 404
        other_rule = await env.call(
            "GET", f"/v1/notification-rules/{made['id']}", "x", org="other", roles=["admin"]
        )
        assert other_rule[0] == 404


def _email_token(user: str) -> str:
    return issue_token(SECRET, sub=user, org=ORG, ttl=3600, email=f"{user}@example.com")


async def test_a_websocket_publish_meets_the_rules(
    store: SqlStore, clock: trio.testing.MockClock
) -> None:
    async with world(store, clock) as w:
        rule = {
            "name": "alerts",
            "topic": "events.acme.monitor.>",
            "recipients": {"users": ["bob"]},
            "title": "${data.check} is ${data.state}",
        }
        status, _ = await w.env.call(
            "POST", "/v1/notification-rules", "svc", roles=["service"], json=rule
        )
        assert status == 201
        bot = await w.device("monitor", roles=("service",))
        await bot.send_json(
            {
                "id": 2,
                "op": "publish",
                "topic": "events.acme.monitor.check.changed.db",
                "data": {"check": "db", "state": "down"},
            }
        )
        assert (await bot.recv())["ok"] is True
        items = await w.eventually("bob", {}, lambda items: len(items) == 1)
        assert items[0]["title"] == "db is down"
        assert items[0]["source"]["topic"] == "events.acme.monitor.check.changed.db"


async def test_here_reaches_only_the_members_online(
    store: SqlStore, clock: trio.testing.MockClock
) -> None:
    async with world(store, clock) as w:
        cid = await w.env.channel(members=["bob", "carol", "dave"])
        carol = await w.device("carol")  # carol is online; bob and dave are not
        await w.env.post(cid, "@here standup in 5")
        with trio.fail_after(5):
            live = await next_push(carol, "created")
        assert live["type"] == "mention" and live["body"] == "@here standup in 5"
        for user in ("bob", "dave"):
            assert (await w.env.call("GET", "/v1/notifications", user))[1]["items"] == []

        # @here naming someone offline still tells them; @channel tells everyone.
        await w.env.post(cid, "@here and @dave: ship it")
        dave = await w.eventually("dave", {}, lambda items: len(items) == 1)
        assert dave[0]["body"] == "@here and @dave: ship it"
        assert (await w.env.call("GET", "/v1/notifications", "bob"))[1]["items"] == []
        await w.env.post(cid, "@channel lunch")
        bob = await w.eventually("bob", {}, lambda items: len(items) == 1)
        assert bob[0]["type"] == "mention"
