"""The trio NATS client against a real nats-server on 127.0.0.1: publish/subscribe,
interest ref-counting, reconnect and resubscribe after a server restart, and settings."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from parley.broker.bus import NatsBackend
from parley.broker.cluster import bus_subject
from parley.broker.natsclient import NatsClient, NatsOptions, parse_servers, read_creds, sign_nonce
from tests.support.nats import NatsServer, nats_server

__all__ = ["nats_server"]


async def wait_for(cond: object, what: str) -> None:
    assert callable(cond)
    with trio.fail_after(10):
        while not cond():  # noqa: ASYNC110 (the client's state has no event to wait on)
            await trio.sleep(0.005)


async def test_messages_cross_between_two_clients_in_order(nats_server: NatsServer) -> None:
    got: list[tuple[str, bytes]] = []
    opts = NatsOptions(servers=(nats_server.url,))
    a = NatsClient(opts, lambda s, p: None)
    b = NatsClient(opts, lambda s, p: got.append((s, p)))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(a.run)
        nursery.start_soon(b.run)
        await a.wait_connected()
        await b.wait_connected()
        b.subscribe("events.acme.>")
        assert await b.flush()
        for i in range(2000):
            assert a.publish(f"events.acme.x.{i % 3}", b"%d" % i)
        a.publish("other.topic", b"no")
        await wait_for(lambda: len(got) == 2000, "2000 messages")
        assert [p for _, p in got] == [b"%d" % i for i in range(2000)]
        nursery.cancel_scope.cancel()


async def test_reconnects_and_resubscribes_after_a_server_restart(
    nats_server: NatsServer,
) -> None:
    got: list[bytes] = []
    connects = []
    opts = NatsOptions(servers=(nats_server.url,), reconnect_max=0.2)
    a = NatsClient(opts, lambda s, p: None)
    b = NatsClient(opts, lambda s, p: got.append(p), on_connect=lambda: connects.append(1))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(a.run)
        nursery.start_soon(b.run)
        await a.wait_connected()
        await b.wait_connected()
        b.subscribe("t.x")
        await b.flush()
        a.publish("t.x", b"before")
        await wait_for(lambda: got == [b"before"], "before")
        await trio.to_thread.run_sync(nats_server.stop)
        await wait_for(lambda: not a.connected and not b.connected, "disconnected")
        assert not a.publish("t.x", b"lost")  # at most once: dropped, counted
        assert a.dropped == 1
        await trio.to_thread.run_sync(nats_server.start)
        await wait_for(lambda: a.connected and b.connected, "reconnected")
        await b.flush()
        a.publish("t.x", b"after")
        await wait_for(lambda: got == [b"before", b"after"], "after")
        assert b.reconnects == 1 and connects == [1, 1]
        nursery.cancel_scope.cancel()


async def test_interest_is_ref_counted_per_subject(nats_server: NatsServer) -> None:
    backend = NatsBackend(NatsOptions(servers=(nats_server.url,)))
    assert backend.subscribe("a.b")
    assert not backend.subscribe("a.b")
    assert backend.holders("a.b") == 2
    assert not backend.unsubscribe("a.b")
    assert backend.unsubscribe("a.b")
    assert backend.subjects == 0 and backend.client.subscriptions == 0
    assert not backend.unsubscribe("a.b")
    async with trio.open_nursery() as nursery:
        await nursery.start(backend.run)
        await backend.client.wait_connected()
        assert await backend.check() == "ok"
        nursery.cancel_scope.cancel()


def test_channel_topics_widen_to_the_whole_channel_on_the_bus() -> None:
    p = ["events", "acme", "conversations", "conversation", "message_posted", "c1"]
    assert bus_subject(p) == "events.acme.conversations.conversation.*.c1"
    assert bus_subject(["events", "acme", "billing", "invoice", "paid", "x"]) == (
        "events.acme.billing.invoice.paid.x"
    )
    assert bus_subject(["events", "acme", ">"]) == "events.acme.>"


def test_server_urls() -> None:
    servers = parse_servers(("nats://u:p@h1:4223", "tls://h2", "h3:1"))
    assert [(s.host, s.port, s.tls, s.user, s.password) for s in servers] == [
        ("h1", 4223, False, "u", "p"),
        ("h2", 4222, True, None, None),
        ("h3", 1, False, None, None),
    ]
    for bad in ("http://h", "nats://", "nats://h:x"):
        with pytest.raises(ValueError):
            parse_servers((bad,))


def test_credentials_file_signs_the_nonce(tmp_path: Path) -> None:
    import base64

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    raw = bytes(range(32))
    seed = base64.b32encode(b"SU" + raw + b"\0\0").rstrip(b"=")
    creds = tmp_path / "user.creds"
    creds.write_text(
        "-----BEGIN NATS USER JWT-----\neyJhbGc.jwt\n------END NATS USER JWT------\n\n"
        f"-----BEGIN USER NKEY SEED-----\n{seed.decode()}\n------END USER NKEY SEED------\n"
    )
    jwt, got_seed = read_creds(creds)
    assert jwt == "eyJhbGc.jwt" and got_seed == seed
    sig = sign_nonce(got_seed, "nonce")
    key = Ed25519PrivateKey.from_private_bytes(raw).public_key()
    key.verify(base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4)), b"nonce")


async def test_a_silent_server_is_a_dead_link_and_the_client_comes_back(
    nats_server: NatsServer,
) -> None:
    """A partition: the TCP connection stays up but nothing answers (the server is
    stopped with SIGSTOP). Unanswered pings end the link; the client reconnects once the
    server answers again, with its subscriptions."""
    import signal

    got: list[bytes] = []
    opts = NatsOptions(
        servers=(nats_server.url,), ping_interval=0.1, connect_timeout=0.5, reconnect_max=0.2
    )
    a = NatsClient(NatsOptions(servers=(nats_server.url,), reconnect_max=0.2), lambda s, p: None)
    b = NatsClient(opts, lambda s, p: got.append(p))
    assert nats_server.proc is not None
    async with trio.open_nursery() as nursery:
        nursery.start_soon(a.run)
        nursery.start_soon(b.run)
        await a.wait_connected()
        await b.wait_connected()
        b.subscribe("t.y")
        await b.flush()
        nats_server.proc.send_signal(signal.SIGSTOP)
        try:
            await wait_for(lambda: not b.connected, "stale detected")
        finally:
            nats_server.proc.send_signal(signal.SIGCONT)
        await wait_for(lambda: b.connected and b.reconnects >= 1, "back")
        await b.flush()
        for _ in range(200):  # a may still be on its old connection: retry until it crosses
            a.publish("t.y", b"again")
            if a.connected:
                await a.flush()
            if got:
                break
            await trio.sleep(0.02)
        assert got and got[0] == b"again"
        nursery.cancel_scope.cancel()
