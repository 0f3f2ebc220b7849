"""Scheduled messages on a real store (SQLite and PostgreSQL): posted once at their time
through the post pipeline, editable and cancellable until then, surviving a restart."""

from __future__ import annotations

import time

import pytest

from parley.core.claims import Claims
from parley.core.codes import ErrorCode
from parley.core.records import Draft
from parley.domain.scheduled import idempotency_key
from parley.domain.services import Services
from parley.store import SqlStore, open_store, sql
from tests.support.api import RecordingSink, make_services
from tests.support.features import channel, refused


def user(sub: str, org: str) -> Claims:
    return Claims(sub, org, exp=2e9)


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def on(svc: Services, clock: Clock) -> Services:
    svc.jobs.clock = clock
    return svc


async def texts(svc: Services, org: str, cid: str) -> list[str]:
    page = await svc.messages.list_messages(org, "alice", cid, limit=50)
    return [m.text for m in page.items]


async def test_posted_once_at_its_time_by_its_author(svc: Services, org: str) -> None:
    clock = Clock()
    on(svc, clock)
    cid = await channel(svc, org)
    s = await svc.scheduled.create(user("bob", org), cid, "later, **all**", {"in_seconds": 600})
    assert s.state == "scheduled" and s.send_at.timestamp() == pytest.approx(clock.now + 600)
    assert await svc.jobs.run_due() == 0
    assert await texts(svc, org, cid) == []
    clock.now += 601
    assert await svc.jobs.run_due() == 1
    assert await texts(svc, org, cid) == ["later, **all**"]
    sent = await svc.scheduled.get(user("bob", org), s.id)
    assert sent.state == "sent" and sent.message_id is not None
    page = await svc.messages.list_messages(org, "alice", cid, limit=5)
    assert page.items[0].author == "bob" and page.items[0].id == sent.message_id
    clock.now += 3600
    assert await svc.jobs.run_due() == 0  # once
    assert await texts(svc, org, cid) == ["later, **all**"]


async def test_a_rerun_after_a_crash_between_post_and_mark_posts_nothing_more(
    svc: Services, store: SqlStore, org: str
) -> None:
    clock = Clock()
    on(svc, clock)
    cid = await channel(svc, org)
    s = await svc.scheduled.create(user("bob", org), cid, "exactly once", {"in_seconds": 60})
    # The first run posted, then its node died before marking it sent:
    first = await svc.messages.poster.post(
        Draft(org, cid, "bob", "exactly once", idempotency_key=idempotency_key(s.id))
    )
    clock.now += 61
    assert await svc.jobs.run_due() == 1
    assert await texts(svc, org, cid) == ["exactly once"]
    sent = await svc.scheduled.get(user("bob", org), s.id)
    assert sent.state == "sent" and sent.message_id == first.message.id


async def test_access_is_checked_again_when_it_is_sent(svc: Services, org: str) -> None:
    clock = Clock()
    on(svc, clock)
    cid = await channel(svc, org)
    s = await svc.scheduled.create(user("bob", org), cid, "bye", {"in_seconds": 60})
    await svc.members.remove_member(org, "alice", cid, "bob")
    clock.now += 61
    assert await svc.jobs.run_due() == 1
    assert await texts(svc, org, cid) == []
    failed = await svc.scheduled.get(user("bob", org), s.id)
    assert failed.state == "failed" and failed.error == "no such channel"
    job = await svc.jobs.store.read(sql.jobs.get_job, "scheduled_message", s.id)
    assert job is not None and job.state == "done"  # settled, not retried


async def test_edit_and_cancel_until_sent(svc: Services, org: str) -> None:
    clock = Clock()
    on(svc, clock)
    cid = await channel(svc, org)
    bob = user("bob", org)
    a = await svc.scheduled.create(bob, cid, "draft", {"in_seconds": 60})
    b = await svc.scheduled.create(bob, cid, "never", {"in_seconds": 60})
    edited = await svc.scheduled.edit(bob, a.id, text="final", when_={"in_seconds": 300})
    assert edited.text == "final" and edited.send_at.timestamp() == pytest.approx(clock.now + 300)
    cancelled = await svc.scheduled.cancel(bob, b.id)
    assert cancelled.state == "cancelled"
    clock.now += 100
    assert await svc.jobs.run_due() == 0  # moved to +300; b cancelled
    clock.now += 201
    assert await svc.jobs.run_due() == 1
    assert await texts(svc, org, cid) == ["final"]
    await refused(ErrorCode.CONFLICT, svc.scheduled.edit(bob, a.id, text="x", when_={}))
    await refused(ErrorCode.CONFLICT, svc.scheduled.cancel(bob, a.id))
    await refused(ErrorCode.CONFLICT, svc.scheduled.cancel(bob, b.id))
    listed = await svc.scheduled.list(bob, channel_id=cid, limit=None)
    assert {(s.id, s.state) for s in listed} == {(a.id, "sent"), (b.id, "cancelled")}


async def test_bad_input_and_other_users_and_orgs(svc: Services, org: str) -> None:
    clock = Clock()
    on(svc, clock)
    cid = await channel(svc, org)
    bob = user("bob", org)
    past = "2001-01-01T00:00:00Z"
    await refused(ErrorCode.BAD_REQUEST, svc.scheduled.create(bob, cid, "x", {"send_at": past}))
    await refused(ErrorCode.BAD_REQUEST, svc.scheduled.create(bob, cid, "x", {}))
    both = {"in_seconds": 5, "send_at": "2099-01-01T00:00:00Z"}
    await refused(ErrorCode.BAD_REQUEST, svc.scheduled.create(bob, cid, "x", both))
    far = {"in_seconds": 10 * 366 * 86400}
    await refused(ErrorCode.BAD_REQUEST, svc.scheduled.create(bob, cid, "x", far))
    bad_tz = {"tomorrow_at": "09:00", "tz": "Mars/Olympus"}
    await refused(ErrorCode.BAD_REQUEST, svc.scheduled.create(bob, cid, "x", bad_tz))
    await refused(ErrorCode.BAD_REQUEST, svc.scheduled.create(bob, cid, "", {"in_seconds": 5}))
    # not a member, or another org's channel: the same not found
    dave = user("dave", org)
    await refused(ErrorCode.NOT_FOUND, svc.scheduled.create(dave, cid, "x", {"in_seconds": 5}))
    other = user("bob", org + "x")
    await refused(ErrorCode.NOT_FOUND, svc.scheduled.create(other, cid, "x", {"in_seconds": 5}))
    s = await svc.scheduled.create(bob, cid, "mine", {"in_seconds": 5})
    for stranger in (user("carol", org), other):
        await refused(ErrorCode.NOT_FOUND, svc.scheduled.get(stranger, s.id))
        await refused(ErrorCode.NOT_FOUND, svc.scheduled.cancel(stranger, s.id))
        await refused(ErrorCode.NOT_FOUND, svc.scheduled.edit(stranger, s.id, text="x", when_={}))
    assert (await svc.scheduled.get(bob, s.id)).state == "scheduled"


async def test_tomorrow_at_in_the_users_time_zone(svc: Services, org: str) -> None:
    clock = Clock()
    clock.now = 1_798_700_000.0  # 2026-12-31T07:33:20Z, 08:33 in Paris
    on(svc, clock)
    cid = await channel(svc, org)
    s = await svc.scheduled.create(
        user("bob", org), cid, "new year", {"tomorrow_at": "09:00", "tz": "Europe/Paris"}
    )
    assert s.send_at.isoformat() == "2027-01-01T08:00:00+00:00"


async def test_a_scheduled_message_survives_a_restart_across_its_due_time(
    store: SqlStore, store_url: str, org: str
) -> None:
    """Scheduled on one process's store, which then closes; its time passes while nothing
    runs; a new process (a new store, new services) posts it once."""
    clock = Clock()
    await store.aclose()  # the fixture's store only prepared (and truncated) the database
    async with open_store(store_url) as first:
        svc = on(make_services(first, RecordingSink()), clock)
        cid = await channel(svc, org)
        s = await svc.scheduled.create(user("bob", org), cid, "across", {"in_seconds": 60})
    clock.now += 3600
    async with open_store(store_url) as second:
        svc = on(make_services(second, RecordingSink()), clock)
        assert await svc.jobs.run_due() == 1
        assert await svc.jobs.run_due() == 0
        assert await texts(svc, org, cid) == ["across"]
        assert (await svc.scheduled.get(user("bob", org), s.id)).state == "sent"


async def test_an_account_deletion_erases_its_scheduled_messages_and_reminders(
    svc: Services, org: str
) -> None:
    clock = Clock()
    on(svc, clock)
    cid = await channel(svc, org)
    bob = user("bob", org)
    m = (await svc.messages.post_message(org, "alice", cid, "hi")).message
    s = await svc.scheduled.create(bob, cid, "after I am gone", {"in_seconds": 60})
    await svc.reminders.remind_message(bob, cid, m.id, note="n", when_={"in_seconds": 60})
    archive = await svc.accounts.export(bob, "bob")
    assert [x["id"] for x in archive["scheduled_messages"]] == [s.id]
    assert [x["note"] for x in archive["reminders"]] == ["n"]
    erased = await svc.accounts.delete(bob, "bob")
    assert erased["scheduled_messages"] == 1 and erased["reminders"] == 1
    clock.now += 61
    assert await svc.jobs.run_due() == 2  # their jobs find nothing to do
    assert await texts(svc, org, cid) == ["hi"]
