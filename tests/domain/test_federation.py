"""Federated channels over a real store (SQLite and PostgreSQL): linking rules, what
comes in (idempotent, sanitised, remote members), and the outbox (ordered, persisted
cursor, retries, loop prevention) with a recording relay at the bridge boundary."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import replace

import pytest
import trio
import trio.testing

from parley.core.claims import Claims
from parley.core.codes import ErrorCode
from parley.core.errors import ClientError
from parley.core.records import Draft, FederationLink, Network
from parley.domain.federation import (
    FederationConfig,
    Incoming,
    InKind,
    MatrixConfig,
    Outgoing,
    OutKind,
    RelayError,
    RemoteSender,
    XmppConfig,
    idempotency_key,
    sanitize_text,
)
from parley.domain.services import Services
from parley.domain.views import message_views
from parley.store import SqlStore, sql
from tests.support.api import RecordingSink, make_services, make_settings

MATRIX = MatrixConfig("http://127.0.0.1:1", "hs.test", "as", "hs")
XMPP = XmppConfig("127.0.0.1", 1, "parley.test", "secret")
MARIA = RemoteSender("@maria:hs.test", "Maria", "hs.test")


@pytest.fixture
def fed(store: SqlStore, sink: RecordingSink) -> Services:
    cfg = FederationConfig(matrix=MATRIX, xmpp=XMPP, retry_first=1.0, retry_max=4.0)
    return make_services(store, sink, replace(make_settings(), federation=cfg))


def admin(org: str) -> Claims:
    return Claims("root", org, exp=2e9, roles=("admin",))


def user(sub: str, org: str) -> Claims:
    return Claims(sub, org, exp=2e9)


async def channel(svc: Services, org: str, owner: str = "bob") -> str:
    ch = await svc.channels.create_channel(org, owner, kind="group", name="c", members=["carol"])
    return ch.id


def room() -> str:
    return f"!{secrets.token_hex(6)}:hs.test"


async def test_only_org_admins_link_their_own_channels(fed: Services, org: str) -> None:
    cid = await channel(fed, org)
    r = room()
    with pytest.raises(ClientError) as exc:
        await fed.federation.link(user("bob", org), cid, "matrix", r)
    assert exc.value.code is ErrorCode.FORBIDDEN
    with pytest.raises(ClientError) as exc:  # another org: the channel is not there
        await fed.federation.link(admin("other" + org), cid, "matrix", r)
    assert exc.value.code is ErrorCode.NOT_FOUND
    with pytest.raises(ClientError) as exc:
        await fed.federation.link(admin(org), cid, "matrix", "not a room")
    assert exc.value.code is ErrorCode.BAD_REQUEST
    link = await fed.federation.link(admin(org), cid, "matrix", r)
    assert (link.network, link.room_id, link.relayed_seq) == (Network.MATRIX, r, link.relayed_seq)
    other = await channel(fed, org)
    with pytest.raises(ClientError) as exc:  # a room bridges one channel at most
        await fed.federation.link(admin(org), other, "matrix", r)
    assert exc.value.code is ErrorCode.CONFLICT
    xmpp = await fed.federation.link(admin(org), cid, "xmpp", "Room@Muc.Example.org")
    assert xmpp.remote == "room@muc.example.org"
    view = await fed.federation.links(user("carol", org), cid)
    assert [lk.network for lk in view.links] == [Network.MATRIX, Network.XMPP]
    with pytest.raises(ClientError):
        await fed.federation.links(user("mallory", org), cid)  # not a member: not found
    assert await fed.federation.unlink(admin(org), cid, "xmpp") == 1
    assert [lk.network for lk in (await fed.federation.links(admin(org), cid)).links] == [
        Network.MATRIX
    ]


async def test_without_a_bridge_linking_is_refused(store: SqlStore, org: str) -> None:
    svc = make_services(store, RecordingSink())
    cid = await channel(svc, org)
    with pytest.raises(ClientError) as exc:
        await svc.federation.link(admin(org), cid, "matrix", room())
    assert exc.value.code is ErrorCode.CONFLICT


async def _linked(fed: Services, org: str) -> tuple[str, FederationLink]:
    cid = await channel(fed, org)
    return cid, await fed.federation.link(admin(org), cid, "matrix", room())


async def test_remote_messages_are_idempotent_sanitised_and_marked(
    fed: Services, store: SqlStore, org: str
) -> None:
    cid, link = await _linked(fed, org)
    ev = Incoming(InKind.MESSAGE, "$e1", MARIA, text="hi\x07 there\n```py\nx")
    mid = await fed.federation.receive(link, ev)
    assert mid is not None
    assert await fed.federation.receive(link, ev) == mid  # a redelivery: the same message
    msgs = await store.read(sql.messages.list_messages, org, cid)
    assert [m.text for m in msgs] == ["hi  there\n```py\nx\n```"]
    assert msgs[0].author == "matrix:@maria:hs.test"
    (v,) = await message_views(store, org, "bob", msgs)
    assert v.remote is not None and (v.remote.display_name, v.remote.origin) == (
        "Maria",
        "hs.test",
    )
    # Edits and deletes only by the remote author; reactions mapped and undone.
    mallory = RemoteSender("@mallory:evil.test", "M", "evil.test")
    assert (
        await fed.federation.receive(
            link, Incoming(InKind.EDIT, "$e2", mallory, text="pwned", target="$e1")
        )
        is None
    )
    await fed.federation.receive(
        link, Incoming(InKind.EDIT, "$e3", MARIA, text="hi (edited)", target="$e1")
    )
    await fed.federation.receive(
        link, Incoming(InKind.REACT, "$r1", MARIA, target="$e1", emoji="👍")
    )
    (v,) = await message_views(
        store, org, "bob", await store.read(sql.messages.list_messages, org, cid)
    )
    assert (v.message.text, [r.emoji for r in v.reactions]) == ("hi (edited)", ["👍"])
    await fed.federation.receive(link, Incoming(InKind.REDACT, "$x1", MARIA, target="$r1"))
    await fed.federation.receive(link, Incoming(InKind.REDACT, "$x2", mallory, target="$e1"))
    (v,) = await message_views(
        store, org, "bob", await store.read(sql.messages.list_messages, org, cid)
    )
    assert (v.reactions, v.message.deleted) == ([], False)
    await fed.federation.receive(link, Incoming(InKind.REDACT, "$x3", MARIA, target="$e1"))
    assert (await store.read(sql.messages.list_messages, org, cid))[0].deleted


def test_sanitize_text_caps_and_strips() -> None:
    assert sanitize_text("a\x00b\x1bc") == "a b c"
    big = "é" * 20_000
    assert len(sanitize_text(big).encode()) <= 16 * 1024
    assert sanitize_text("<b>html</b>") == "<b>html</b>"  # stored as text, never rendered


@pytest.fixture
def autojump_clock() -> trio.testing.MockClock:
    """Virtual time that jumps only once the test has been idle for a moment of real
    time: the store's threads run in real time, and a clock that jumped at every idle
    instant could spend the outbox's whole virtual deadline while one of them works."""
    return trio.testing.MockClock(autojump_threshold=0.02)


async def until(pred: Callable[[], bool]) -> None:
    """Wait (virtual time, bounded) until ``pred()``: the store's threads run in real time."""
    with trio.fail_after(600):
        while not pred():  # noqa: ASYNC110 (polls the outbox counters, bounded)
            await trio.sleep(0.1)


class RecordingRelay:
    """The bridge boundary: records what the outbox relays; fails while ``down``."""

    def __init__(self) -> None:
        self.items: list[Outgoing] = []
        self.down = False
        self.linked_rooms: list[str] = []
        self.times: list[float] = []
        self.only: str | None = None

    async def relay(self, item: Outgoing) -> str | None:
        if self.only is not None and item.link.id != self.only:
            return None  # another test's link (the PostgreSQL schema is shared)
        if self.down:
            raise RelayError("down")
        self.items.append(item)
        self.times.append(trio.current_time())
        return f"$out{len(self.items)}" if item.kind in (OutKind.POST, OutKind.REACT) else None

    def linked(self, link: FederationLink) -> None:
        self.linked_rooms.append(link.remote)

    def unlinked(self, link: FederationLink) -> None:
        pass


async def test_outbox_relays_in_order_retries_and_never_loops(
    fed: Services, store: SqlStore, org: str, autojump_clock: trio.testing.MockClock
) -> None:
    cid, link = await _linked(fed, org)
    unlinked = await channel(fed, org)
    relay = RecordingRelay()
    outbox = fed.outbox
    assert outbox is not None
    outbox.relays[Network.MATRIX] = relay
    poster = fed.messages
    async with trio.open_nursery() as nursery:
        await nursery.start(outbox.run)
        assert link.remote in relay.linked_rooms  # (the PG schema holds other tests' links)
        relay.only = link.id
        one = await poster.post_message(org, "bob", cid, "one")
        await poster.post_message(org, "bob", unlinked, "never leaves")
        await fed.federation.receive(link, Incoming(InKind.MESSAGE, "$m1", MARIA, text="remote"))
        await until(lambda: outbox.stats.skipped >= 1 and len(relay.items) >= 1)
        assert [(i.kind, i.text) for i in relay.items] == [(OutKind.POST, "one")]
        relay.down = True
        await fed.edits.edit(org, "bob", cid, one.message.id, "one (edited)")
        await fed.reactions.react(org, "carol", cid, one.message.id, "🎉", on=True)
        await until(lambda: outbox.stats.retries >= 2)  # backing off: the cursor holds
        assert len(relay.items) == 1
        relay.down = False
        await until(lambda: len(relay.items) >= 3)
        assert [(i.kind, i.target, i.text or i.emoji) for i in relay.items[1:]] == [
            (OutKind.EDIT, "$out1", "one (edited)"),
            (OutKind.REACT, "$out1", "🎉"),
        ]
        nursery.cancel_scope.cancel()
    # Parley restarts: a new outbox over the same store resumes at the persisted cursor.
    later = make_services(
        store, RecordingSink(), replace(make_settings(), federation=fed.federation.config)
    )
    await later.messages.post_message(org, "bob", cid, "after restart")
    again = RecordingRelay()
    again.only = link.id
    assert later.outbox is not None
    later.outbox.relays[Network.MATRIX] = again
    async with trio.open_nursery() as nursery:
        await nursery.start(later.outbox.run)
        await until(lambda: any(i.text == "after restart" for i in again.items))
        await trio.sleep(5)  # and nothing else
        nursery.cancel_scope.cancel()
    # Only what was not yet acknowledged goes again (at most the last event, had the
    # first run stopped between relaying it and moving the cursor): never "one".
    assert [i.text for i in again.items if i.kind is OutKind.POST] == ["after restart"]
    assert len(again.items) <= 2


async def test_remote_posts_use_the_one_pipeline(fed: Services, org: str) -> None:
    """A remote message is a Draft through the Poster: an idempotency key per event."""
    cid, link = await _linked(fed, org)
    mid = await fed.federation.receive(link, Incoming(InKind.MESSAGE, "$p", MARIA, text="x"))
    key = idempotency_key(link.id, "$p")
    draft = Draft(org, cid, "matrix:@maria:hs.test", "x", idempotency_key=key)
    again = await fed.messages.poster.post(draft, service=True)
    assert (again.created, again.message.id) == (False, mid)


async def test_outbox_is_bounded_and_rate_limited(
    store: SqlStore, org: str, autojump_clock: trio.testing.MockClock
) -> None:
    cfg = FederationConfig(
        matrix=MATRIX, rate=1.0, burst=1, outbox_max=2, retry_first=1.0, retry_max=1.0
    )
    svc = make_services(store, RecordingSink(), replace(make_settings(), federation=cfg))
    cid, link = await _linked(svc, org)
    relay = RecordingRelay()
    relay.down = True
    relay.only = link.id
    assert svc.outbox is not None
    svc.outbox.relays[Network.MATRIX] = relay
    async with trio.open_nursery() as nursery:
        await nursery.start(svc.outbox.run)
        for i in range(5):
            await svc.messages.post_message(org, "bob", cid, f"m{i}")
        await until(lambda: svc.outbox is not None and svc.outbox.stats.dropped >= 3)
        # (stats count every link of the shared schema; the link's own count is below)
        relay.down = False
        await until(lambda: len(relay.items) >= 2)
        nursery.cancel_scope.cancel()
    assert [i.text for i in relay.items] == ["m3", "m4"]  # the oldest were given up
    assert relay.times[1] - relay.times[0] >= 0.99  # one per second per link
    stored = await store.read(sql.federation.get_link, link.id)
    assert stored is not None and stored.dropped == 3
