"""Outgoing webhooks end to end on a real store (SQLite and PostgreSQL) and a real
receiver on 127.0.0.1 that checks each signature: matching, signing, retries with
backoff, disabling after consecutive failures, the delivery log, bad input."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace

import pytest

from parley.core.claims import SERVICE_ROLE, Claims
from parley.core.codes import ErrorCode
from parley.domain import outbound
from parley.domain.services import Services
from parley.domain.webhooks import WebhookConfig
from parley.store import SqlStore
from tests.support.api import RecordingSink, make_services, make_settings
from tests.support.features import channel, refused
from tests.support.receiver import Receiver, receiver

SECRET = "s3cret-s3cret-s3cret"


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def hooks_svc(store: SqlStore, sink: RecordingSink, clock: Clock) -> Services:
    config = WebhookConfig(
        allow_private=True, max_failures=3, max_attempts=5, backoff_first=10, timeout=5
    )
    svc = make_services(store, sink, replace(make_settings(), webhooks=config))
    svc.jobs.clock = clock
    return svc


@pytest.fixture
def rx(clock: Clock) -> Iterator[Receiver]:
    with receiver(SECRET, now=clock) as r:
        yield r


def admin(org: str) -> Claims:
    return Claims("ops", org, exp=2e9, roles=(SERVICE_ROLE,))


async def deliver_all(svc: Services) -> int:
    await svc.webhooks.pump()
    return await svc.jobs.run_due()


async def test_matching_events_are_posted_signed_once(
    hooks_svc: Services, org: str, rx: Receiver
) -> None:
    svc = hooks_svc
    hook = await svc.webhooks.create(
        admin(org),
        url=rx.url,
        patterns=[
            f"events.{org}.conversations.conversation.message_posted.*",
            f"events.{org}.deploy.>",
        ],
        secret=SECRET,
    )
    assert hook.enabled and hook.secret == SECRET
    cid = await channel(svc, org)
    m = (await svc.messages.post_message(org, "alice", cid, "hello hooks")).message
    await svc.reactions.react(org, "bob", cid, m.id, "👍", on=True)  # not matched
    svc.events.publish_event(admin(org), f"events.{org}.deploy.app.done.v1", {"ok": True})
    svc.events.publish_event(admin(org), f"events.{org}.other.x.y.z", {"no": 1})  # not matched
    assert await deliver_all(svc) == 2
    assert [r.signed for r in rx.received] == [True, True]
    by_topic = {r.topic: r for r in rx.received}
    posted = by_topic[f"events.{org}.conversations.conversation.message_posted.{cid}"].json
    assert posted["type"] == "event" and posted["data"]["text"] == "hello hooks"
    assert posted["data"]["channel"] == cid and posted["data"]["author"] == "alice"
    assert by_topic[f"events.{org}.deploy.app.done.v1"].json["data"] == {"ok": True}
    log = await svc.webhooks.deliveries(admin(org), hook.id, before=None, limit=None)
    assert {(d.state, d.attempts, d.status_code) for d in log} == {("delivered", 1, 200)}
    assert {d.id for d in log} == {r.delivery for r in rx.received}
    assert await deliver_all(svc) == 0  # each once
    assert len(rx.received) == 2


async def test_retries_with_backoff_then_disables_after_consecutive_failures(
    hooks_svc: Services, org: str, rx: Receiver, clock: Clock
) -> None:
    svc = hooks_svc
    hook = await svc.webhooks.create(
        admin(org), url=rx.url, patterns=[f"events.{org}.deploy.>"], secret=SECRET
    )
    rx.status = 503
    svc.events.publish_event(admin(org), f"events.{org}.deploy.a.b.c", {"n": 1})
    assert await deliver_all(svc) == 1
    [d] = await svc.webhooks.deliveries(admin(org), hook.id, before=None, limit=None)
    assert (d.state, d.attempts, d.status_code, d.error) == ("pending", 1, 503, "HTTP 503")
    clock.now += 9
    assert await deliver_all(svc) == 0  # backoff: 10 s
    clock.now += 2
    assert await deliver_all(svc) == 1  # second attempt fails too
    rx.status = 200
    clock.now += 21
    assert await deliver_all(svc) == 1  # third (after 20 s) succeeds: failures reset
    [d] = await svc.webhooks.deliveries(admin(org), hook.id, before=None, limit=None)
    assert (d.state, d.attempts) == ("delivered", 3)
    assert (await svc.webhooks.get(admin(org), hook.id)).failures == 0
    rx.status = 500
    for i in range(3):
        svc.events.publish_event(admin(org), f"events.{org}.deploy.a.b.c", {"n": 10 + i})
    assert await deliver_all(svc) == 3
    off = await svc.webhooks.get(admin(org), hook.id)
    assert not off.enabled and off.disabled_reason == "3 consecutive failed deliveries"
    log = await svc.webhooks.deliveries(admin(org), hook.id, before=None, limit=None)
    # the attempt that disabled it failed for good; the two before wait for their retry
    assert sorted(d.state for d in log[:3]) == ["failed", "pending", "pending"]
    posts = len(rx.received)
    clock.now += 100
    assert await deliver_all(svc) == 2  # their retries find it disabled: no POST
    assert len(rx.received) == posts
    log = await svc.webhooks.deliveries(admin(org), hook.id, before=None, limit=None)
    assert [d.state for d in log] == ["failed", "failed", "failed", "delivered"]
    assert {d.error for d in log[:3]} >= {"webhook disabled: 3 consecutive failed deliveries"}
    svc.events.publish_event(admin(org), f"events.{org}.deploy.a.b.c", {"n": 99})
    assert await deliver_all(svc) == 0  # disabled: nothing more is queued
    again = await svc.webhooks.update(admin(org), hook.id, enabled=True)
    assert again.enabled and again.failures == 0
    rx.status = 200
    svc.events.publish_event(admin(org), f"events.{org}.deploy.a.b.c", {"n": 100})
    assert await deliver_all(svc) == 1
    assert rx.received[-1].json["data"] == {"n": 100}


async def test_a_receiver_sees_a_bad_signature_and_replays_are_refused() -> None:
    body = b'{"x":1}'
    header = outbound.sign(SECRET, 1_000_000, body)
    assert header.startswith("t=1000000,v1=")
    assert outbound.verify(SECRET, header, body, now=1_000_100)
    assert not outbound.verify(SECRET, header, body + b" ", now=1_000_100)
    assert not outbound.verify("other-secret-123456", header, body, now=1_000_100)
    assert not outbound.verify(SECRET, header, body, now=1_000_000 + 301)  # too old: replay
    assert not outbound.verify(SECRET, "v1=abc", body, now=1_000_000)


async def test_private_addresses_are_refused_unless_allowed(
    svc: Services, org: str, rx: Receiver
) -> None:
    """The default settings (``svc``) refuse loopback; the previews' check is reused."""
    status = svc.webhooks.create(admin(org), url=rx.url, patterns=[f"events.{org}.>"])
    await refused(ErrorCode.BAD_REQUEST, status)
    for url in ("http://10.0.0.1/x", "http://169.254.169.254/latest", "http://[::1]:80/"):
        await refused(
            ErrorCode.BAD_REQUEST,
            svc.webhooks.create(admin(org), url=url, patterns=[f"events.{org}.>"]),
        )


async def test_bad_input_other_orgs_and_non_admins(hooks_svc: Services, org: str) -> None:
    svc = hooks_svc
    w = svc.webhooks
    ok = [f"events.{org}.>"]
    url = "http://127.0.0.1:9/hook"
    await refused(
        ErrorCode.FORBIDDEN, w.create(Claims("alice", org, exp=2e9), url=url, patterns=ok)
    )
    for bad_url in ("ftp://x/y", "not a url", "http://user:pw@127.0.0.1/", "", "http:///x"):
        await refused(ErrorCode.BAD_REQUEST, w.create(admin(org), url=bad_url, patterns=ok))
    await refused(ErrorCode.INVALID_TOPIC, w.create(admin(org), url=url, patterns=["events.a..b"]))
    await refused(ErrorCode.INVALID_TOPIC, w.create(admin(org), url=url, patterns=["a.>.b"]))
    await refused(ErrorCode.FORBIDDEN, w.create(admin(org), url=url, patterns=["events.other.>"]))
    await refused(ErrorCode.BAD_REQUEST, w.create(admin(org), url=url, patterns=[]))
    users = [f"events.{org}.users.user.mentioned.bob"]
    await refused(ErrorCode.BAD_REQUEST, w.create(admin(org), url=url, patterns=users))
    await refused(ErrorCode.BAD_REQUEST, w.create(admin(org), url=url, patterns=ok, secret="short"))
    hook = await w.create(admin(org), url=url, patterns=ok)
    assert len(hook.secret) >= 32  # made by Parley
    stranger = admin(org + "x")
    await refused(ErrorCode.NOT_FOUND, w.get(stranger, hook.id))
    await refused(ErrorCode.NOT_FOUND, w.update(stranger, hook.id, enabled=False))
    await refused(ErrorCode.NOT_FOUND, w.delete(stranger, hook.id))
    await refused(ErrorCode.NOT_FOUND, w.deliveries(stranger, hook.id, before=None, limit=None))
    assert await w.webhooks(stranger) == []
    await w.delete(admin(org), hook.id)
    await refused(ErrorCode.NOT_FOUND, w.get(admin(org), hook.id))


async def test_a_full_queue_drops_events_for_webhooks_without_blocking_publishers(
    store: SqlStore, sink: RecordingSink, org: str, rx: Receiver
) -> None:
    config = WebhookConfig(allow_private=True, queue=3)
    svc = make_services(store, sink, replace(make_settings(), webhooks=config))
    await svc.webhooks.create(
        admin(org), url=rx.url, patterns=[f"events.{org}.deploy.>"], secret=SECRET
    )
    for i in range(10):
        assert svc.events.publish_event(admin(org), f"events.{org}.deploy.a.b.c", {"i": i}) == 1
    assert svc.webhooks.dropped == 7 and len(sink.published) == 10
    assert await svc.webhooks.pump() == 3


async def test_settled_deliveries_leave_the_log_after_a_week(
    hooks_svc: Services, org: str, rx: Receiver, clock: Clock
) -> None:
    svc = hooks_svc
    hook = await svc.webhooks.create(
        admin(org), url=rx.url, patterns=[f"events.{org}.deploy.>"], secret=SECRET
    )
    svc.events.publish_event(admin(org), f"events.{org}.deploy.a.b.c", {"n": 1})
    assert await deliver_all(svc) == 1
    clock.now += 6 * 86400
    await svc.webhooks._purge()
    assert len(await svc.webhooks.deliveries(admin(org), hook.id, before=None, limit=None)) == 1
    clock.now += 2 * 86400
    svc.webhooks._last_purge = 0.0  # an hour has passed since
    await svc.webhooks._purge()
    assert await svc.webhooks.deliveries(admin(org), hook.id, before=None, limit=None) == []
