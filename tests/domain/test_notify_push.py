"""Web Push against a local push endpoint that checks the VAPID JWT and decrypts the
payload with the subscription's key; gone subscriptions (410) are removed."""

from __future__ import annotations

import time
from dataclasses import replace

import trio

from parley.app import build_services
from parley.core.records import Message
from parley.domain.notify_push import URGENCY, PushLanes, VapidKey, new_private_key_pem
from parley.domain.services import Services
from parley.store import SqlStore
from tests.support.api import RecordingSink, make_settings
from tests.support.features import channel
from tests.support.webpush import PushEndpoint


def services(store: SqlStore, pem: str) -> Services:
    s = make_settings()
    s = replace(s, notifications=replace(s.notifications, vapid_private_key=pem, push_ttl=120))
    return build_services(
        s, store, RecordingSink(), verify=s.token_verifier().verify, spawn=lambda *a: None
    )


async def test_pushes_are_signed_encrypted_and_gone_ones_removed(store: SqlStore, org: str) -> None:
    pem = new_private_key_pem()
    endpoint = PushEndpoint(VapidKey(pem).public_key)
    svc = services(store, pem)
    pusher = svc.notify.push
    assert pusher is not None and pusher.key.public_key == endpoint.server_key
    async with trio.open_nursery() as nursery:
        await endpoint.start(nursery)
        n = svc.notify.service
        for name in ("phone", "laptop", "old"):
            dev = endpoint.device(name)
            await n.add_subscription(org, "bob", endpoint.endpoint(name), dev.keys())
        endpoint.gone.add("old")
        cid = await channel(svc, org, ["bob", "carol"])
        post = await svc.messages.post_message(org, "alice", cid, "@bob @carol ship it")
        with trio.fail_after(20):
            assert await pusher.flush() == 2  # bob's and carol's
        assert len(endpoint.pushes) + len(endpoint.refused) == 3
        nursery.cancel_scope.cancel()
    assert endpoint.refused == ["410 /push/old"]
    assert sorted(p.device for p in endpoint.pushes) == ["laptop", "phone"]
    msg: Message = post.message
    for p in endpoint.pushes:
        assert p.payload["body"] == "@bob @carol ship it" and p.payload["type"] == "mention"
        assert p.payload["link"] == {"channel": cid, "message": msg.id}
        assert p.headers["ttl"] == "120" and p.headers["urgency"] == URGENCY["high"]
        assert p.claims["sub"] == "mailto:admin@localhost"
        assert time.time() < p.claims["exp"] <= time.time() + 24 * 3600
    subs = await n.subscriptions(org, "bob")
    assert sorted(s.endpoint.rsplit("/", 1)[1] for s in subs) == ["laptop", "phone"]
    [bobs] = (await n.inbox(org, "bob", limit=None, cursor=None))[0]
    [carols] = (await n.inbox(org, "carol", limit=None, cursor=None))[0]
    assert (bobs.push_state, carols.push_state) == ("sent", "skipped")  # carol: no device


async def test_pushes_reuse_a_few_keep_alive_connections_per_origin(
    store: SqlStore, org: str
) -> None:
    pem = new_private_key_pem()
    endpoint = PushEndpoint(VapidKey(pem).public_key)
    s = make_settings()
    s = replace(
        s, notifications=replace(s.notifications, vapid_private_key=pem, push_concurrency=3)
    )
    svc = build_services(
        s, store, RecordingSink(), verify=s.token_verifier().verify, spawn=lambda *a: None
    )
    pusher = svc.notify.push
    assert pusher is not None
    users = [f"u{i}" for i in range(12)]
    async with trio.open_nursery() as nursery:
        await endpoint.start(nursery)
        for u in users:
            await svc.notify.service.add_subscription(
                org, u, endpoint.endpoint(u), endpoint.device(u).keys()
            )
        cid = await channel(svc, org, users)
        await svc.messages.post_message(org, "alice", cid, "@channel two rounds")
        await svc.messages.post_message(org, "alice", cid, "@channel of pushes")
        with trio.fail_after(20):
            assert await pusher.flush() == 24
        nursery.cancel_scope.cancel()
    assert len(endpoint.pushes) == 24 and endpoint.refused == []
    # 24 pushes in two batches over at most 3 connections (the lanes of the one origin).
    assert 1 <= endpoint.connections <= 3


async def test_lanes_bound_the_requests_in_flight_per_origin() -> None:
    endpoint = PushEndpoint(VapidKey(new_private_key_pem()).public_key)
    lanes = PushLanes(2, timeout=5.0)
    async with trio.open_nursery() as nursery:
        await endpoint.start(nursery)
        url = endpoint.endpoint("nobody")  # no VAPID header: refused (400), still an answer
        statuses: list[int] = []

        async def one() -> None:
            statuses.append((await lanes.post(url, {}, b"x")).status_code)

        with trio.fail_after(20):
            async with trio.open_nursery() as inner:
                for _ in range(10):
                    inner.start_soon(one)
        assert lanes.lanes(url.split("/push/")[0]) == 2
        await lanes.aclose()
        nursery.cancel_scope.cancel()
    assert len(statuses) == 10 and endpoint.connections == 2
