"""Bots that answer, on a real store (SQLite and PostgreSQL) with a real bot endpoint on
127.0.0.1 checking signatures: what triggers a bot, what does not, retries, bad input."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any, cast

import pytest
import trio
import trio.testing

from parley.core.claims import SERVICE_ROLE, Claims
from parley.core.codes import ErrorCode
from parley.domain.services import Services
from parley.domain.webhooks import WebhookConfig
from parley.store import SqlStore, Store
from tests.support.api import RecordingSink, make_services, make_settings
from tests.support.features import refused
from tests.support.receiver import Receiver, receiver

SECRET = "bot-secret-0123456789"


@pytest.fixture
def bot_svc(store: SqlStore, sink: RecordingSink) -> Services:
    config = WebhookConfig(allow_private=True, max_attempts=3, backoff_first=10)
    return make_services(store, sink, replace(make_settings(), webhooks=config))


@pytest.fixture
def rx() -> Iterator[Receiver]:
    with receiver(SECRET) as r:
        yield r


def admin(org: str) -> Claims:
    return Claims("ops", org, exp=2e9, roles=(SERVICE_ROLE,))


async def flush(svc: Services) -> int:
    return await svc.jobs.run_due()


async def test_what_triggers_a_bot(bot_svc: Services, org: str, rx: Receiver) -> None:
    svc = bot_svc
    for name, mode in (("helper", "on_mention"), ("dmbot", "on_dm"), ("quiet", "off")):
        bot, new = await svc.bots.register(
            admin(org), name, webhook_url=rx.url, auto_respond=mode, secret=SECRET
        )
        assert new and bot.auto_respond == mode
    g = await svc.channels.create_channel(
        org, "alice", kind="group", name="g", members=["bob", "helper", "dmbot", "quiet"]
    )
    m = (await svc.messages.post_message(org, "alice", g.id, "@helper @quiet @dmbot hi")).message
    await svc.messages.post_message(org, "alice", g.id, "no mention here")
    assert await flush(svc) == 2  # helper and dmbot (mentioned); quiet is off
    got = {r.json["bot"]: r.json for r in rx.signed}
    assert set(got) == {"helper", "dmbot"} and len(rx.received) == 2
    assert got["helper"]["trigger"] == "mention" and got["helper"]["message"]["id"] == m.id
    assert got["helper"]["message"]["text"] == "@helper @quiet @dmbot hi"
    assert got["helper"]["message"]["author"] == "alice"
    rx.received.clear()
    dm = await svc.channels.create_channel(org, "alice", kind="direct", members=["dmbot"])
    dm2 = await svc.channels.create_channel(org, "alice", kind="direct", members=["helper"])
    await svc.messages.post_message(org, "alice", dm.id, "in a dm")
    await svc.messages.post_message(org, "alice", dm2.id, "no mention, on_mention bot")
    assert await flush(svc) == 1
    [r] = rx.signed
    assert (r.json["bot"], r.json["trigger"], r.json["message"]["text"]) == (
        "dmbot",
        "dm",
        "in a dm",
    )
    rx.received.clear()
    # a bot's own post triggers no bot; a bot not in the channel is not told
    await svc.messages.post_message(org, "helper", g.id, "@dmbot answer")
    other = await svc.channels.create_channel(org, "alice", kind="group", name="o", members=[])
    await svc.messages.post_message(org, "alice", other.id, "@helper are you there?")
    assert await flush(svc) == 0 and rx.received == []


async def test_a_failing_bot_endpoint_is_retried_then_logged_failed(
    bot_svc: Services, org: str, rx: Receiver
) -> None:
    svc = bot_svc
    clock = [time.time()]
    svc.jobs.clock = lambda: clock[0]
    rx.now = lambda: clock[0]
    await svc.bots.register(
        admin(org), "helper", webhook_url=rx.url, auto_respond="on_mention", secret=SECRET
    )
    g = await svc.channels.create_channel(org, "alice", kind="group", name="g", members=["helper"])
    rx.status = 500
    await svc.messages.post_message(org, "alice", g.id, "@helper help")
    for _ in range(3):
        assert await flush(svc) == 1
        clock[0] += 100
    [d] = await svc.bots.deliveries(admin(org), "helper", before=None, limit=None)
    assert (d.state, d.attempts, d.status_code) == ("failed", 3, 500)
    assert len(rx.signed) == 3 and len({r.delivery for r in rx.signed}) == 1  # same id


async def test_bad_input_and_who_may(bot_svc: Services, svc: Services, org: str) -> None:
    b = bot_svc.bots
    url = "http://127.0.0.1:9/bot"
    user = Claims("alice", org, exp=2e9)
    await refused(ErrorCode.FORBIDDEN, b.register(user, "x", webhook_url=url, auto_respond="off"))
    await refused(ErrorCode.FORBIDDEN, b.bots(user))
    await refused(
        ErrorCode.BAD_REQUEST, b.register(admin(org), "x", webhook_url=url, auto_respond="always")
    )
    await refused(
        ErrorCode.BAD_REQUEST, b.register(admin(org), "x", webhook_url="nope", auto_respond="off")
    )
    await refused(
        ErrorCode.BAD_REQUEST, b.register(admin(org), "", webhook_url=url, auto_respond="off")
    )
    # the default settings refuse private addresses
    await refused(
        ErrorCode.BAD_REQUEST,
        svc.bots.register(admin(org), "x", webhook_url=url, auto_respond="off"),
    )
    bot, new = await b.register(admin(org), "x", webhook_url=url, auto_respond="off")
    assert new and bot.secret  # a secret made by Parley
    assert (await b.get(user, "x")).user_id == "x"
    await refused(ErrorCode.NOT_FOUND, b.get(admin(org + "z"), "x"))
    await refused(ErrorCode.NOT_FOUND, b.get(user, "alice"))
    await refused(ErrorCode.FORBIDDEN, b.delete(user, "x"))
    await b.delete(admin(org), "x")
    await refused(ErrorCode.NOT_FOUND, b.get(user, "x"))


class SlowFirstRead:
    """The store, but its first read returns only once ``release`` is set (a load that
    started before a change and finishes after it)."""

    def __init__(self, inner: SqlStore) -> None:
        self.inner = inner
        self.release = trio.Event()
        self.first = True

    async def read(self, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        result = await self.inner.read(fn, *args, **kwargs)
        if self.first:
            self.first = False
            await self.release.wait()
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


async def test_a_stale_load_finishing_last_does_not_hide_a_new_bot(
    bot_svc: Services, store: SqlStore, org: str, rx: Receiver
) -> None:
    svc = bot_svc
    slow = SlowFirstRead(store)
    svc.bots.store = cast(Store, slow)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(svc.bots.load)  # reads the table before the bot exists
        await trio.testing.wait_all_tasks_blocked()
        await svc.bots.register(
            admin(org), "helper", webhook_url=rx.url, auto_respond="on_mention", secret=SECRET
        )
        slow.release.set()
    g = await svc.channels.create_channel(org, "alice", kind="group", name="g", members=["helper"])
    await svc.messages.post_message(org, "alice", g.id, "@helper still there?")
    assert await flush(svc) == 1 and [r.json["bot"] for r in rx.signed] == ["helper"]
