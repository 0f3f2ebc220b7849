"""Retention (docs/privacy.md), on SQLite and PostgreSQL and on virtual time: who sets
an org's and a channel's period, the shorter one wins, and the background job redacts
messages once they are older than it, exactly as a delete does."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import trio
import trio.testing

from parley.core.claims import SERVICE_ROLE, Claims
from parley.core.codes import ErrorCode
from parley.domain.retention import RetentionConfig, RetentionService
from parley.domain.services import Services
from parley.store import SqlStore, codec, sql
from tests.support.features import refused

HOUR = 3600
DAY = 24 * HOUR


def user(sub: str, org: str) -> Claims:
    return Claims(sub, org, exp=2e9)


def service(org: str) -> Claims:
    return Claims("ops", org, exp=2e9, roles=(SERVICE_ROLE,))


async def test_who_sets_retention(svc: Services, org: str) -> None:
    cid = (
        await svc.channels.create_channel(org, "alice", kind="group", name="g", members=["bob"])
    ).id
    r = svc.retention
    assert (await r.org_retention(user("bob", org))).effective_seconds is None
    await refused(ErrorCode.FORBIDDEN, r.set_org_retention(user("alice", org), 30 * DAY))
    for bad in (10, True, "30", 10**12, 1.5):
        await refused(ErrorCode.BAD_REQUEST, r.set_org_retention(service(org), bad))
    assert (await r.set_org_retention(service(org), 30 * DAY)).org_seconds == 30 * DAY
    # a channel's owners/admins (or a service) tighten it; members read it; others: 404
    await refused(ErrorCode.FORBIDDEN, r.set_channel_retention(user("bob", org), cid, DAY))
    await refused(ErrorCode.NOT_FOUND, r.set_channel_retention(user("eve", org), cid, DAY))
    await refused(ErrorCode.NOT_FOUND, r.channel_retention(user("eve", org), cid))
    await refused(ErrorCode.NOT_FOUND, r.set_channel_retention(service(org), "ch_nope", DAY))
    got = await r.set_channel_retention(user("alice", org), cid, 90 * DAY)
    assert (got.org_seconds, got.channel_seconds, got.effective_seconds) == (
        30 * DAY,
        90 * DAY,
        30 * DAY,  # the org's period is a promise a channel cannot loosen
    )
    got = await r.set_channel_retention(service(org), cid, DAY)
    assert got.effective_seconds == DAY
    assert (await r.channel_retention(user("bob", org), cid)).channel_seconds == DAY
    got = await r.set_channel_retention(user("alice", org), cid, None)
    assert (got.channel_seconds, got.effective_seconds) == (None, 30 * DAY)
    assert (await r.set_org_retention(service(org), None)).effective_seconds is None


class Probe(RetentionService):
    """The job, handing each sweep's count to the test and waiting until it is taken.
    The clock can still move while the test reads the store (reads run in threads), so the
    test reads it only where a later sweep cannot change the answer."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.send, self.swept = trio.open_memory_channel[int](0)

    async def sweep(self) -> int:
        n = await super().sweep()
        await self.send.send(n)
        return n


async def test_expired_messages_are_redacted_on_virtual_time(
    svc: Services,
    store: SqlStore,
    org: str,
    autojump_clock: trio.testing.MockClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    base = time.time() - trio.current_time()
    # the store stamps messages on the same virtual wall clock (MockClock reads are pure
    # arithmetic, safe from the store's threads)
    monkeypatch.setattr(
        codec, "now_us", lambda: int((base + autojump_clock.current_time()) * 1_000_000)
    )
    job = Probe(
        store,
        svc.files.blobs,
        RetentionConfig(interval_seconds=HOUR, batch=2),
        clock=lambda: base + trio.current_time(),
    )
    ch = await svc.channels.create_channel(org, "alice", kind="group", name="g", members=["bob"])
    keep = (await svc.channels.create_channel(org, "alice", kind="group", name="k")).id
    cid = ch.id
    old = [
        (await svc.messages.post_message(org, "bob", cid, f"secret {i}")).message for i in range(5)
    ]
    kept = (await svc.messages.post_message(org, "alice", keep, "no policy here")).message
    await svc.retention.set_channel_retention(user("alice", org), cid, DAY)
    start = trio.current_time()
    assert [m.created_at.timestamp() for m in old] == [pytest.approx(base + start)] * 5

    async def deleted(cid: str, mid: str) -> bool:
        msg = await store.read(sql.messages.get_message, org, cid, mid)
        return msg is not None and msg.deleted

    newer = None
    async with trio.open_nursery() as nursery:
        nursery.start_soon(job.run)
        for hour in range(25):  # the sweeps at 0h .. 24h: nothing is a day old yet
            assert await job.swept.receive() == 0
            assert trio.current_time() - start == hour * HOUR
            if hour == 23:
                newer = (await svc.messages.post_message(org, "bob", cid, "fresh")).message
        # Every sweep up to 24h redacted nothing (each reported 0). Reading the messages
        # here instead would race the 25h sweep: a store read runs in a thread, and the
        # autojump clock advances while the test waits for it.
        assert await job.swept.receive() == 5  # at 25h, in batches of 2
        assert all([await deleted(cid, m.id) for m in old])
        assert newer is not None and not await deleted(cid, newer.id)
        assert not await deleted(keep, kept.id)
        events = await store.read(sql.log.events_after, org, cid, 0, limit=100)
        assert "secret" not in json.dumps([e.data for e in events])
        actors = {e.data["actor"] for e in events if e.event == "message_deleted"}
        assert actors == {"parley:retention"}
        # the newer one goes at the first sweep more than a day after it was posted (at
        # 23h, or at 24h if the clock moved while it was being written)
        posted = round((newer.created_at.timestamp() - base - start) / HOUR, 3)
        assert 23 <= posted <= 24
        due = int(posted) + 25
        counts = [await job.swept.receive() for _ in range(26, due + 1)]  # 26h .. due
        assert counts == [0] * (due - 26) + [1]
        assert await deleted(cid, newer.id) and not await deleted(keep, kept.id)
        nursery.cancel_scope.cancel()
