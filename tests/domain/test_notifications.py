"""Notifications through the services as the root wires them (SQLite and PostgreSQL):
chat sources, the inbox and its marks, preferences, service requests, rules, scheduling."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from parley.core.claims import Claims
from parley.core.codes import ErrorCode
from parley.core.ports import Notice
from parley.domain.notify_push import new_private_key_pem
from parley.domain.notify_schedule import TableScheduler
from parley.domain.services import Services
from parley.store import SqlStore
from tests.support.api import RecordingSink, make_services, make_settings
from tests.support.features import channel, refused

SERVICE = ("service",)


def svc_claims(org: str, sub: str = "backend", roles: tuple[str, ...] = SERVICE) -> Claims:
    return Claims(sub=sub, org=org, exp=4e9, roles=roles)


def pushed(sink: RecordingSink, org: str, event: str, user: str) -> list[Any]:
    topic = f"events.{org}.users.notification.{event}.{user}"
    return [d for t, d in sink.published if t == topic]


async def inbox(svc: Services, org: str, user: str, **kw: Any) -> list[Any]:
    items, _ = await svc.notify.service.inbox(org, user, limit=None, cursor=None, **kw)
    return items


async def test_mentions_dms_and_everyone(svc: Services, sink: RecordingSink, org: str) -> None:
    cid = await channel(svc, org, ["bob", "carol", "dave"])
    await svc.teams.create_team(org, "alice", "design", ["carol", "zed"])
    await svc.messages.post_message(org, "alice", cid, "hey @bob and @design, not `@dave`")
    [n] = await inbox(svc, org, "bob")
    assert (n.type, n.priority, n.actor, n.link) == ("mention", "high", "alice", n.link)
    assert n.link["channel"] == cid and n.title.startswith("alice mentioned you")
    assert [x.type for x in await inbox(svc, org, "carol")] == ["mention"]
    assert await inbox(svc, org, "dave") == [] and await inbox(svc, org, "zed") == []
    [live] = pushed(sink, org, "created", "bob")
    assert live["id"] == n.id and live["alert"] is True and live["delivery"]["in_app"]

    await svc.messages.post_message(org, "bob", cid, "@channel lunch")
    for user in ("alice", "carol", "dave"):
        assert (await inbox(svc, org, user))[0].body == "@channel lunch", user
    assert len(await inbox(svc, org, "bob")) == 1  # not told of their own message

    dm = await svc.channels.create_channel(org, "alice", kind="direct", name="", members=["bob"])
    await svc.messages.post_message(org, "alice", dm.id, "psst @bob")
    first = (await inbox(svc, org, "bob"))[0]
    assert first.type == "dm"  # one notification, the strongest kind
    assert await svc.notify.service.unread_count(org, "bob") == 2


async def test_here_without_presence_reaches_everyone(svc: Services, org: str) -> None:
    # No broker in this process (no presence): @here falls back to every member.
    assert svc.presence is None
    cid = await channel(svc, org, ["bob", "carol"])
    await svc.messages.post_message(org, "alice", cid, "@here fire drill")
    for user in ("bob", "carol"):
        assert [n.type for n in await inbox(svc, org, user)] == ["mention"], user


async def test_threads_followed_by_taking_part(svc: Services, org: str) -> None:
    cid = await channel(svc, org, ["bob", "carol"])
    root = await svc.messages.post_message(org, "alice", cid, "plan?")
    await svc.threads.reply(org, "bob", cid, root.message.id, "yes")
    assert [n.type for n in await inbox(svc, org, "alice")] == ["reply"]
    await svc.threads.reply(org, "carol", cid, root.message.id, "me too")
    assert [n.type for n in await inbox(svc, org, "alice")] == ["reply", "reply"]
    assert [n.type for n in await inbox(svc, org, "bob")] == ["reply"]
    assert (await inbox(svc, org, "bob"))[0].link["thread"] == root.message.id
    svc_n = svc.notify.service
    assert await svc_n.following(org, "alice", cid, root.message.id)
    await svc_n.follow_thread(org, "alice", cid, root.message.id, False)
    assert not await svc_n.following(org, "alice", cid, root.message.id)
    await svc.threads.reply(org, "bob", cid, root.message.id, "again")
    assert len(await inbox(svc, org, "alice")) == 2  # unfollowed: nothing new
    await refused(ErrorCode.NOT_FOUND, svc_n.follow_thread(org, "zed", cid, root.message.id, True))


async def test_keywords_levels_and_mute(svc: Services, sink: RecordingSink, org: str) -> None:
    cid = await channel(svc, org, ["bob", "carol"])
    n = svc.notify.service
    await n.update_preferences(org, "carol", {"keywords": ["Deploy"]})
    await n.update_preferences(org, "bob", {"channels": {cid: "all"}})
    [prefs_push] = pushed(sink, org, "preferences", "bob")
    assert prefs_push["channels"] == {cid: "all"}
    await svc.messages.post_message(org, "alice", cid, "deploy is done")
    assert [x.type for x in await inbox(svc, org, "carol")] == ["keyword"]
    assert [x.type for x in await inbox(svc, org, "bob")] == ["message"]

    await n.update_preferences(org, "bob", {"channels": {cid: "mute"}})
    await svc.messages.post_message(org, "alice", cid, "@bob muted?")
    assert len(await inbox(svc, org, "bob")) == 1
    req = await n.check_request(
        svc_claims(org),
        {
            "recipients": {"users": ["bob"]},
            "priority": "urgent",
            "title": "Prod down",
            "link": {"channel": cid},
        },
    )
    [urgent] = await n.send_request(org, "backend", req, source={"kind": "service"})
    assert urgent.priority == "urgent" and urgent.recipient == "bob"
    assert (await inbox(svc, org, "bob", priority="urgent"))[0].id == urgent.id


async def test_marks_are_pushed_to_every_device(
    svc: Services, sink: RecordingSink, org: str
) -> None:
    cid = await channel(svc, org, ["bob"])
    for i in range(3):
        await svc.messages.post_message(org, "alice", cid, f"@bob {i}")
    items = await inbox(svc, org, "bob")
    assert [x.body for x in items] == ["@bob 2", "@bob 1", "@bob 0"]
    n = svc.notify.service
    assert await n.mark(org, "bob", "read", ids=[items[2].id]) == [items[2].id]
    [upd] = pushed(sink, org, "updated", "bob")
    assert upd == {"state": "read", "on": True, "ids": [items[2].id], "unread": 2}
    assert await n.mark(org, "bob", "read", ids=[items[2].id]) == []  # unchanged: no push
    assert await n.mark(org, "bob", "read", up_to=items[0].id) == [items[0].id, items[1].id]
    assert await n.unread_count(org, "bob") == 0
    got = await n.get(org, "bob", items[0].id)
    assert got.read_at is not None and got.seen_at is not None
    assert await n.mark(org, "bob", "read", ids=[items[0].id], on=False) == [items[0].id]
    assert [x.id for x in await inbox(svc, org, "bob", unread=True)] == [items[0].id]
    await n.mark(org, "bob", "archived", ids=[items[1].id])
    assert [x.id for x in await inbox(svc, org, "bob")] == [items[0].id, items[2].id]
    assert [x.id for x in await inbox(svc, org, "bob", archived=True)] == [items[1].id]
    page, cursor = await n.inbox(org, "bob", limit=1, cursor=None)
    assert cursor == page[0].id
    page2, end = await n.inbox(org, "bob", limit=5, cursor=cursor)
    assert [x.id for x in page2] == [items[2].id] and end is None
    # Foreign ids: another user's, another org's, nonsense.
    await refused(ErrorCode.NOT_FOUND, n.get(org, "alice", items[0].id))
    await refused(ErrorCode.NOT_FOUND, n.mark(org, "carol", "read", ids=[items[0].id]))
    await refused(ErrorCode.NOT_FOUND, n.mark("other", "bob", "read", up_to=items[0].id))
    await refused(ErrorCode.BAD_REQUEST, n.mark(org, "bob", "loved", ids=[items[0].id]))
    await refused(ErrorCode.BAD_REQUEST, n.inbox(org, "bob", limit=None, cursor="x"))


async def test_service_requests_are_checked(svc: Services, org: str) -> None:
    cid = await channel(svc, org, ["bob"])
    n = svc.notify.service
    good = {"recipients": {"channel": cid}, "title": "Standup", "type": "standup"}
    req = await n.check_request(svc_claims(org), good)
    sent = await n.send_request(org, "backend", req, source={"kind": "service"})
    assert sorted(x.recipient for x in sent) == ["alice", "bob"]
    await refused(ErrorCode.FORBIDDEN, n.check_request(svc_claims(org, "u", ()), good))
    for body, code in [
        ({**good, "recipients": {"channel": "ch_nope"}}, ErrorCode.NOT_FOUND),
        ({**good, "recipients": {"teams": ["ghosts"]}}, ErrorCode.NOT_FOUND),
        ({**good, "recipients": {}}, ErrorCode.BAD_REQUEST),
        ({**good, "priority": "max"}, ErrorCode.BAD_REQUEST),
        ({**good, "title": "x" * 201}, ErrorCode.BAD_REQUEST),
        ({**good, "link": {"url": "javascript:alert(1)"}}, ErrorCode.BAD_REQUEST),
        ({**good, "send_at": "tomorrow"}, ErrorCode.BAD_REQUEST),
    ]:
        await refused(code, n.check_request(svc_claims(org), body))
    # Another org's channel is no channel here.
    await refused(ErrorCode.NOT_FOUND, n.check_request(svc_claims("other"), good))


async def test_scheduled_requests_are_sent_once_when_due(svc: Services, org: str) -> None:
    n = svc.notify.service
    now = [1_800_000_000.0]
    n.clock = lambda: now[0]
    req = await n.check_request(
        svc_claims(org), {"recipients": {"users": ["bob"]}, "title": "Later"}
    )
    later = svc.notify.later
    assert isinstance(later, TableScheduler)  # the built-in one, until a jobs service
    s = await later.schedule(org, "backend", req, send_at_us=int((now[0] + 60) * 1e6))
    assert s.state == "scheduled"
    assert await later.run_due() == 0
    now[0] += 61
    assert await later.run_due() == 1
    assert await later.run_due() == 0
    assert [x.title for x in await inbox(svc, org, "bob")] == ["Later"]
    got = await later.get(org, s.id)
    assert (got.state, got.sent_count) == ("sent", 1)
    await refused(ErrorCode.CONFLICT, later.cancel(org, "backend", s.id))
    await refused(ErrorCode.NOT_FOUND, later.get("other", s.id))


async def test_task_assignment_and_rules(svc: Services, org: str) -> None:
    cid = await channel(svc, org, ["bob", "carol"])
    msg = await svc.messages.post_message(org, "alice", cid, "ship it")
    events = svc.notify.events
    admin = Claims(sub="root", org=org, exp=4e9, roles=("admin",))
    await refused(
        ErrorCode.FORBIDDEN,
        events.create_rule(Claims(sub="bob", org=org, exp=4e9), {"name": "x"}),
    )
    done = await events.create_rule(
        admin,
        {
            "name": "task done",
            "topic": f"events.{org}.tasks.task.completed.*",
            "recipients": {"field": "data.created_by", "users": ["zed"]},
            "title": "${data.completed_by} completed ${data.title}",
            "type": "task_completed",
        },
    )
    broken = await events.create_rule(
        admin,
        {
            "name": "needs a field",
            "topic": f"events.{org}.tasks.>",
            "recipients": {"field": "data.owner"},
            "title": "x",
        },
    )
    task = await svc.tasks.create_task(
        org, "alice", cid, msg.message.id, title="Ship", assignee="bob", due=None
    )
    await svc.tasks.complete_task(org, "bob", task.id)
    await events.drain()
    [assigned] = await inbox(svc, org, "bob")
    assert (assigned.type, assigned.actor, assigned.body) == ("task_assigned", "alice", "Ship")
    [completed] = await inbox(svc, org, "alice")
    assert (completed.type, completed.title) == ("task_completed", "bob completed Ship")
    assert completed.source == {"kind": "rule", "id": done.id, "topic": completed.source["topic"]}
    assert await inbox(svc, org, "zed") == []  # not a member of the task's channel
    got = await events.rule(admin, broken.id)
    assert got.error_count == 2 and "data.owner" in (got.last_error or "")
    assert (await events.rule(admin, done.id)).match_count == 1
    await refused(ErrorCode.NOT_FOUND, events.rule(Claims("s", "other", 4e9, SERVICE), done.id))
    await events.delete_rule(admin, broken.id)
    assert [r.id for r in await events.list_rules(admin)] == [done.id]


async def test_every_published_event_meets_the_rules(svc: Services, org: str) -> None:
    """REST service events, client publishes (through the hub's observers) and committed
    channel events reach the rules; reactions notify their message's author when on."""
    events = svc.notify.events
    admin = svc_claims(org)
    rule = {
        "name": "deploys",
        "topic": f"events.{org}.ci.>",
        "conditions": [{"field": "data.status", "value": "failed"}],
        "recipients": {"field": "data.owner"},
        "title": "Deploy ${data.id} failed",
        "priority": "urgent",
    }
    await events.create_rule(admin, rule)
    svc.events.publish_event(
        admin, f"events.{org}.ci.deploy.done.d1", {"status": "ok", "owner": "bob", "id": "d1"}
    )
    svc.events.publish_event(
        admin, f"events.{org}.ci.deploy.done.d2", {"status": "failed", "owner": "bob", "id": "d2"}
    )
    events.offer_published(
        f"events.{org}.ci.deploy.done.d3", {"status": "failed", "owner": "bob", "id": "d3"}
    )
    await events.drain()
    titles = [n.title for n in await inbox(svc, org, "bob")]
    assert titles == ["Deploy d3 failed", "Deploy d2 failed"]
    # Reactions: off by default, on when the author asks.
    cid = await channel(svc, org, ["bob"])
    post = await svc.messages.post_message(org, "alice", cid, "lunch?")
    await svc.reactions.react(org, "bob", cid, post.message.id, "👍", on=True)
    await events.drain()
    assert await inbox(svc, org, "alice") == []
    await svc.notify.service.update_preferences(
        org, "alice", {"delivery": {"reaction": {"in_app": True}}}
    )
    await svc.reactions.react(org, "bob", cid, post.message.id, "🎉", on=True)
    await events.drain()
    [r] = await inbox(svc, org, "alice")
    assert (r.type, r.actor, r.link["message"]) == ("reaction", "bob", post.message.id)


async def test_a_full_queue_drops_and_counts(svc: Services, org: str) -> None:
    from parley.domain.notify_events import EventNotifier

    small = EventNotifier(svc.notify.events.store, svc.notify.service, queue=2)
    for i in range(5):
        small.offer_published(f"events.{org}.ci.x.y.{i}", {})
    small.offer_published(f"events.{org}.users.notification.created.bob", {})  # never offered
    assert (small.received, small.dropped) == (2, 3)
    assert await small.drain() == 2


async def test_a_notice_is_stored_once_per_key(
    store: SqlStore, sink: RecordingSink, org: str
) -> None:
    s = make_settings()
    s = replace(s, notifications=replace(s.notifications, vapid_private_key=new_private_key_pem()))
    svc = make_services(store, sink, s)
    assert svc.notify.push is not None
    cid = await channel(svc, org, ["bob"])
    link = {"channel": cid, "message_id": "msg_1"}
    notice = Notice(org, "bob", "reminder", "Reminder", "look at this", link, key="rem_1")
    # The reminder's job runs twice (a node died before it completed): one row, one push.
    await svc.notify.service.notice(notice)
    await svc.notify.service.notice(notice)
    [n] = await inbox(svc, org, "bob")
    assert (n.type, n.source, n.link) == (
        "reminder",
        {"kind": "reminder", "key": "rem_1"},
        {"channel": cid, "message": "msg_1"},
    )
    assert [d["id"] for d in pushed(sink, org, "created", "bob")] == [n.id]
    assert await svc.notify.push.flush() == 1  # one Web Push (bob has no device: skipped)
    assert (await svc.notify.service.get(org, "bob", n.id)).push_state == "skipped"
    # Another key, or the same key for another user, is another notice.
    await svc.notify.service.notice(replace(notice, key="rem_2"))
    await svc.notify.service.notice(replace(notice, user_id="alice"))
    assert len(await inbox(svc, org, "bob")) == 2
    assert [x.source["key"] for x in await inbox(svc, org, "alice")] == ["rem_1"]
    assert await svc.notify.push.flush() == 2
