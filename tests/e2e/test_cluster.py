"""Issue "cluster" end to end: two Parley nodes on one PostgreSQL and a real nats-server on
127.0.0.1, real WebSocket and REST clients spread over the nodes, exact counts (no loss,
no duplicate, each channel in seq order)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import trio
from websockets.sync.client import connect

from parley.app import StartupError, serve, startup_error
from parley.broker.presence import PresenceConfig
from parley.settings import ClusterConfig, Settings
from tests.conftest import make_token
from tests.e2e.test_channels import Client, rest
from tests.support.live import LiveApp, live_app
from tests.support.nats import NatsServer, nats_server
from tests.support.store import PgSchemas

__all__ = ["nats_server"]

TOPIC = "events.acme.conversations.conversation.>"


@pytest.fixture
def db_url(pg_schemas: PgSchemas) -> str:
    return pg_schemas.new()


def node_settings(settings: Settings, db_url: str, nats: NatsServer) -> Settings:
    return replace(
        settings,
        database_url=db_url,
        cluster=ClusterConfig(nats_servers=(nats.url,), gap_wait=0.1, node_heartbeat=5.0),
    )


@contextmanager
def two_nodes(
    settings: Settings, db_url: str, nats: NatsServer, n: int = 2
) -> Iterator[list[LiveApp]]:
    with ExitStack() as stack:
        nodes = []
        for i in range(n):
            s = replace(node_settings(settings, db_url, nats), data_dir=settings.data_dir / str(i))
            nodes.append(stack.enter_context(live_app(s)))
        yield nodes


def dial(stack: ExitStack, node: LiveApp, user: str, *, roles: tuple[str, ...] = ()) -> Client:
    headers = {"Authorization": f"Bearer {make_token(user, 'acme', roles=roles)}"}
    return Client(stack.enter_context(connect(node.ws_url, additional_headers=headers)))


def new_channel(node: LiveApp, members: list[str]) -> str:
    status, ch = rest(
        node,
        "POST",
        "/v1/channels",
        "svc",
        {"kind": "group", "name": "c", "members": members},
        roles=("service",),
    )
    assert status == 201, ch
    cid: str = ch["id"]
    return cid


def post(node: LiveApp, cid: str, user: str, text: str) -> int:
    status, msg = rest(node, "POST", f"/v1/channels/{cid}/messages", user, {"text": text})
    assert status == 201, msg
    seq: int = msg["seq"]
    return seq


def texts(events: list[dict[str, Any]]) -> list[str]:
    return [e["data"]["text"] for e in events]


def assert_in_order(events: list[dict[str, Any]]) -> None:
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(set(seqs)), seqs


def test_reproduction_bob_on_b_gets_both_posts_in_order(
    settings: Settings, db_url: str, nats_server: NatsServer
) -> None:
    with two_nodes(settings, db_url, nats_server) as (a, b), ExitStack() as stack:
        cid = new_channel(a, ["alice", "bob"])
        bob = dial(stack, b, "bob")
        assert bob.call("subscribe", topic=TOPIC)["ok"]
        assert bob.call("subscribe", topic=TOPIC)["ok"]  # idempotent: still subscribed
        s1 = post(a, cid, "alice", "on A")
        s2 = post(b, cid, "alice", "on B")
        assert s2 == s1 + 1
        got = bob.events(2)
        assert [e["seq"] for e in got] == [s1, s2]
        assert texts(got) == ["on A", "on B"]


def test_service_event_posted_to_a_reaches_a_websocket_client_on_b(
    settings: Settings, db_url: str, nats_server: NatsServer
) -> None:
    with two_nodes(settings, db_url, nats_server) as (a, b), ExitStack() as stack:
        svc = dial(stack, b, "billing", roles=("service",))
        assert svc.call("subscribe", topic="events.acme.billing.>")["ok"]
        for i in range(3):
            status, body = rest(
                a,
                "POST",
                "/v1/events",
                "svc",
                {"topic": f"events.acme.billing.invoice.paid.inv_{i}", "data": {"n": i}},
                roles=("service",),
            )
            assert status == 200, body
        status, body = rest(
            a,
            "POST",
            "/v1/events:batch",
            "svc",
            {"events": [{"topic": "events.acme.billing.invoice.paid.x", "data": {"n": 9}}]},
            roles=("service",),
        )
        assert status == 200, body
        got = [svc.recv() for _ in range(4)]
        assert [m["data"]["n"] for m in got] == [0, 1, 2, 9]


def test_posts_on_three_nodes_arrive_everywhere_once_in_order(
    settings: Settings, db_url: str, nats_server: NatsServer
) -> None:
    with two_nodes(settings, db_url, nats_server, 3) as (a, b, c), ExitStack() as stack:
        cid = new_channel(a, ["alice", "bob", "carol"])
        watchers = [dial(stack, a, "bob"), dial(stack, b, "bob"), dial(stack, c, "carol")]
        for w in watchers:
            assert w.call("subscribe", topic=TOPIC)["ok"]
        sent = []
        for i in range(30):
            sent.append(post((a, b, c)[i % 3], cid, "alice", f"m{i}"))
        for w in watchers:
            got = w.events(30)
            assert_in_order(got)
            assert [e["seq"] for e in got] == sent
            assert texts(got) == [f"m{i}" for i in range(30)]


def test_removed_member_on_b_stops_receiving_at_once(
    settings: Settings, db_url: str, nats_server: NatsServer
) -> None:
    with two_nodes(settings, db_url, nats_server) as (a, b), ExitStack() as stack:
        cid = new_channel(a, ["alice", "carol"])
        carol = dial(stack, b, "carol")
        alice = dial(stack, b, "alice")
        for c in (carol, alice):
            assert c.call("subscribe", topic=TOPIC)["ok"]
        post(a, cid, "alice", "before")
        assert texts(carol.events(1)) == ["before"]
        status, _ = rest(
            a, "DELETE", f"/v1/channels/{cid}/members/carol", "svc", roles=("service",)
        )
        assert status == 204
        post(a, cid, "alice", "after")
        assert texts(alice.events(2)) == ["before", "after"]
        carol.events(1, "member_removed")
        carol.call("subscribe", topic=TOPIC)  # a round trip: what was queued came before
        assert not [p for p in carol.pushes if p.get("event") == "message_posted"], carol.pushes


def test_nats_restart_mid_stream_loses_no_committed_event(
    settings: Settings, db_url: str, nats_server: NatsServer
) -> None:
    with two_nodes(settings, db_url, nats_server) as (a, b), ExitStack() as stack:
        cid = new_channel(a, ["alice", "bob"])
        bob = dial(stack, b, "bob")
        assert bob.call("subscribe", topic=TOPIC)["ok"]
        sent = [post(a, cid, "alice", f"m{i}") for i in range(5)]
        assert len(bob.events(5)) == 5
        nats_server.stop()
        sent += [post(a, cid, "alice", f"m{i}") for i in range(5, 10)]  # while the bus is down
        nats_server.start()
        sent += [post(a, cid, "alice", f"m{i}") for i in range(10, 15)]
        got = bob.events(10)
        assert [e["seq"] for e in got] == sent[5:]
        assert texts(got) == [f"m{i}" for i in range(5, 15)]
        # and the bus carries live events again (resubscribed by itself)
        svc = dial(stack, b, "billing", roles=("service",))
        assert svc.call("subscribe", topic="events.acme.billing.>")["ok"]
        for _ in range(100):
            _, body = rest(
                a,
                "POST",
                "/v1/events",
                "svc",
                {"topic": "events.acme.billing.x.y.z", "data": 1},
                roles=("service",),
            )
            if body["deliveries"] == 0:
                try:
                    svc.ws.recv(timeout=0.05)
                    break
                except TimeoutError:
                    continue
        else:
            pytest.fail("no service event crossed after the NATS restart")


async def test_a_second_node_without_a_bus_refuses_to_start(
    settings: Settings, db_url: str, nats_server: NatsServer
) -> None:
    first = replace(node_settings(settings, db_url, nats_server), data_dir=settings.data_dir / "a")
    lone = replace(settings, database_url=db_url, data_dir=settings.data_dir / "b")
    async with trio.open_nursery() as nursery:
        running = await nursery.start(serve, first)
        with pytest.raises(BaseException) as info:
            await serve(lone)
        error = startup_error(info.value)
        assert isinstance(error, StartupError)
        assert "set PARLEY_NATS_URL" in str(error)
        assert "\n" not in str(error)
        running.shutdown()
        running.shutdown()


def test_typing_crosses_to_members_on_the_other_node(
    settings: Settings, db_url: str, nats_server: NatsServer
) -> None:
    with two_nodes(settings, db_url, nats_server) as (a, b), ExitStack() as stack:
        cid = new_channel(a, ["alice", "bob"])
        bob = dial(stack, b, "bob")
        alice = dial(stack, a, "alice")
        assert bob.call("subscribe", topic=TOPIC)["ok"]
        assert alice.call("typing", channel=cid)["sent"] is True
        (typing,) = bob.events(1, "typing")
        assert typing["data"]["user_id"] == "alice" and "seq" not in typing


def get_json(url: str) -> tuple[int, Any]:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_readyz_reports_the_bus(settings: Settings, db_url: str, nats_server: NatsServer) -> None:
    with live_app(node_settings(settings, db_url, nats_server)) as node:
        status, body = get_json(node.http_url + "/readyz")
        assert (status, body["checks"]["bus"]) == (200, "ok")
        nats_server.stop()
        for _ in range(200):
            status, body = get_json(node.http_url + "/readyz")
            if status == 503:
                break
        assert body["checks"]["bus"].startswith(("disconnected", "no answer")), body
        nats_server.start()
        for _ in range(400):
            status, body = get_json(node.http_url + "/readyz")
            if status == 200:
                break
        assert body["checks"]["bus"] == "ok"


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_a_killed_node_s_clients_recover_on_another_losing_nothing(
    settings: Settings, db_url: str, nats_server: NatsServer, tmp_path: Any
) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    from tests.conftest import SECRET

    ws_port, http_port = _free_port(), _free_port()
    env = {
        **os.environ,
        "PARLEY_DATABASE_URL": db_url,
        "PARLEY_NATS_URL": nats_server.url,
        "PARLEY_JWT_SECRET": SECRET,
        "PARLEY_WS_PORT": str(ws_port),
        "PARLEY_HTTP_PORT": str(http_port),
        "PARLEY_DATA_DIR": str(tmp_path / "killed"),
        "PARLEY_LOG_LEVEL": "warning",
    }
    with live_app(node_settings(settings, db_url, nats_server)) as a, ExitStack() as stack:
        proc = subprocess.Popen(
            [sys.executable, "-m", "parley", "serve"],
            env=env,
            cwd=Path(__file__).resolve().parents[2],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 30
            while get_json_or_none(f"http://127.0.0.1:{http_port}/readyz") != 200:
                assert time.monotonic() < deadline, "node B did not become ready"
                assert proc.poll() is None, "node B exited"
                time.sleep(0.05)
            cid = new_channel(a, ["alice", "bob"])
            b_url = f"ws://127.0.0.1:{ws_port}/ws"
            headers = {"Authorization": f"Bearer {make_token('bob', 'acme')}"}
            bob = Client(stack.enter_context(connect(b_url, additional_headers=headers)))
            assert bob.call("subscribe", topic=TOPIC)["ok"]
            sent = [post(a, cid, "alice", f"m{i}") for i in range(3)]
            got = bob.events(3)
            assert [e["seq"] for e in got] == sent
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
            sent += [post(a, cid, "alice", f"m{i}") for i in range(3, 6)]
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        bob2 = dial(stack, a, "bob")  # the balancer sends bob to a live node
        reply = bob2.call("subscribe", topic=TOPIC, since={cid: got[-1]["seq"]})
        assert reply["recovery"][cid]["recovered"] is True
        replayed = bob2.events(3)
        assert [e["seq"] for e in replayed] == sent[3:]
        assert texts(replayed) == ["m3", "m4", "m5"]


def get_json_or_none(url: str) -> int | None:
    try:
        return get_json(url)[0]
    except OSError:
        return None


def test_presence_online_anywhere_is_online_offline_when_the_last_connection_closes(
    settings: Settings, db_url: str, nats_server: NatsServer
) -> None:
    from tests.e2e.test_presence import presence_until

    fast = replace(settings, presence=PresenceConfig(flush_interval=0.05))
    with two_nodes(fast, db_url, nats_server) as (a, b), ExitStack() as stack:
        new_channel(a, ["alice", "bob"])
        bob = dial(stack, b, "bob")
        with ExitStack() as on_a:
            dial(on_a, a, "alice")
            presence_until(bob, "alice", "online")  # pushed to node B's watcher
            status, body = rest(b, "GET", "/v1/presence?users=alice", "bob")
            assert status == 200 and body["users"][0]["status"] == "online", body
            with ExitStack() as also_on_b:
                dial(also_on_b, b, "alice")
            # alice's connection on node B closed, the one on node A is still open
            status, body = rest(b, "GET", "/v1/presence?users=alice", "bob")
            assert body["users"][0]["status"] == "online", body
        presence_until(bob, "alice", "offline")  # her last connection anywhere closed
        status, body = rest(b, "GET", "/v1/presence?users=alice", "bob")
        assert body["users"][0]["status"] == "offline", body


def test_the_per_user_connection_limit_counts_every_node_eventually(
    settings: Settings, db_url: str, nats_server: NatsServer
) -> None:
    import time

    from websockets.exceptions import ConnectionClosed

    from parley.core.codes import CloseCode

    fast = replace(
        settings,
        presence=PresenceConfig(flush_interval=0.05),
        limits=replace(settings.limits, max_connections_per_user=2),
    )
    with two_nodes(fast, db_url, nats_server) as (a, b), ExitStack() as stack:
        dial(stack, a, "alice")
        dial(stack, b, "alice")
        deadline = time.monotonic() + 10
        while True:  # within a presence flush, node A knows of the one on node B
            assert time.monotonic() < deadline, "the third connection was never refused"
            try:
                with ExitStack() as third:
                    dial(third, a, "alice")
            except ConnectionClosed as exc:
                assert exc.rcvd is not None and exc.rcvd.code == CloseCode.CONNECTION_LIMIT
                break
            time.sleep(0.05)


def test_a_token_stream_on_a_reaches_a_member_on_b_then_its_message(
    settings: Settings, db_url: str, nats_server: NatsServer
) -> None:
    with two_nodes(settings, db_url, nats_server) as (a, b), ExitStack() as stack:
        cid = new_channel(a, ["alice", "bob"])
        bob = dial(stack, b, "bob")
        assert bob.call("subscribe", topic=TOPIC)["ok"]
        status, stream = rest(a, "POST", f"/v1/channels/{cid}/streams", "alice")
        assert status == 201, stream
        base = f"/v1/channels/{cid}/streams/{stream['stream_id']}"
        for chunk in ("Hel", "lo"):
            assert rest(a, "POST", f"{base}/chunks", "alice", {"chunk": chunk})[0] == 200
        status, done = rest(a, "POST", f"{base}/complete", "alice")
        assert status == 200, done
        pushes = bob.events(4, "message_stream")
        assert [(p["data"]["index"], p["data"]["state"]) for p in pushes] == [
            (0, "open"),
            (1, "chunk"),
            (2, "chunk"),
            (3, "completed"),
        ]
        (posted,) = bob.events(1)
        assert (posted["seq"], posted["data"]["text"]) == (done["seq"], "Hello")


def stream_states(pushes: list[dict[str, Any]]) -> list[tuple[int, str, str]]:
    return [(p["data"]["index"], p["data"]["state"], p["data"]["chunk"]) for p in pushes]


def test_a_stream_opened_on_a_is_driven_and_completed_through_b(
    settings: Settings, db_url: str, nats_server: NatsServer
) -> None:
    with two_nodes(settings, db_url, nats_server) as (a, b), ExitStack() as stack:
        cid = new_channel(a, ["alice", "bob", "carol"])
        bob = dial(stack, b, "bob")
        carol = dial(stack, a, "carol")
        for sub in (bob, carol):
            assert sub.call("subscribe", topic=TOPIC)["ok"]
        status, stream = rest(a, "POST", f"/v1/channels/{cid}/streams", "alice")
        assert status == 201, stream
        base = f"/v1/channels/{cid}/streams/{stream['stream_id']}"
        chunks = [f"tok{i} " for i in range(20)]
        for i, chunk in enumerate(chunks, 1):
            status, out = rest(b, "POST", f"{base}/chunks", "alice", {"chunk": chunk, "index": i})
            assert (status, out["index"]) == (200, i), out
        # a retried chunk changes nothing; a wrong index is refused by the holder, from B
        assert rest(b, "POST", f"{base}/chunks", "alice", {"chunk": chunks[-1], "index": 20})[
            1
        ] == {"stream_id": stream["stream_id"], "index": 20, "state": "open"}
        status, err = rest(b, "POST", f"{base}/chunks", "alice", {"chunk": "x", "index": 7})
        assert (status, err["error"]["code"]) == (409, "conflict"), err
        # only the author drives it, only members read it: the same not found from B
        status, err = rest(b, "POST", f"{base}/chunks", "bob", {"chunk": "x"})
        assert (status, err["error"]["code"]) == (404, "not_found"), err
        assert rest(b, "GET", base, "mallory")[0] == 404
        status, snap = rest(b, "GET", base, "bob")
        assert (status, snap["index"], snap["text"]) == (200, 20, "".join(chunks)), snap
        status, done = rest(b, "POST", f"{base}/complete", "alice")
        assert (status, done["state"], done["text"]) == (200, "completed", "".join(chunks)), done
        assert rest(b, "POST", f"{base}/complete", "alice")[1] == done  # a retry: the same
        expected = (
            [(0, "open", "")]
            + [(i, "chunk", c) for i, c in enumerate(chunks, 1)]
            + [(21, "completed", "")]
        )
        for sub in (bob, carol):
            assert stream_states(sub.events(22, "message_stream")) == expected
            (posted,) = sub.events(1)
            assert (posted["seq"], posted["data"]["text"]) == (done["seq"], "".join(chunks))
        # nothing more: the completed message came once
        for sub in (bob, carol):
            assert sub.call("ping")["ok"]
            assert not [p for p in sub.pushes if p.get("event") in ("message_stream",)]
            assert len([p for p in sub.pushes if p.get("event") == "message_posted"]) == 0
        status, msgs = rest(b, "GET", f"/v1/channels/{cid}/messages", "bob")
        assert status == 200
        assert [m["text"] for m in msgs["items"]] == ["".join(chunks)]


def test_a_stream_whose_node_is_gone_answers_unavailable_at_once(
    settings: Settings, db_url: str, nats_server: NatsServer
) -> None:
    import time

    s = node_settings(settings, db_url, nats_server)
    with live_app(replace(s, data_dir=settings.data_dir / "b")) as b, ExitStack() as stack:
        node_a = ExitStack()
        a = node_a.enter_context(live_app(replace(s, data_dir=settings.data_dir / "a")))
        cid = new_channel(a, ["alice", "bob"])
        bob = dial(stack, b, "bob")
        assert bob.call("subscribe", topic=TOPIC)["ok"]
        status, stream = rest(a, "POST", f"/v1/channels/{cid}/streams", "alice")
        assert status == 201, stream
        base = f"/v1/channels/{cid}/streams/{stream['stream_id']}"
        assert rest(b, "POST", f"{base}/chunks", "alice", {"chunk": "Hel"})[0] == 200
        node_a.close()  # the holder stops
        for op, body in (("chunks", {"chunk": "lo"}), ("complete", None), ("cancel", None)):
            started = time.monotonic()
            status, err = rest(b, "POST", f"{base}/{op}", "alice", body)
            assert (status, err["error"]["code"]) == (503, "unavailable"), err
            assert "no answer from node" in err["error"]["message"]
            assert time.monotonic() - started < 10  # bounded: no hang
        assert [p["data"]["state"] for p in bob.events(2, "message_stream")] == ["open", "chunk"]
        status, msgs = rest(b, "GET", f"/v1/channels/{cid}/messages", "bob")
        assert (status, msgs["items"]) == (200, [])


def test_a_graphql_subscription_on_b_gets_events_committed_on_a_in_order(
    settings: Settings, db_url: str, nats_server: NatsServer
) -> None:
    from tests.e2e.test_graphql_ws import client as gql_client

    query = "subscription($c: ID!) { channelEvents(channel: $c) { channel seq event data } }"
    with two_nodes(settings, db_url, nats_server) as (a, b):
        cid = new_channel(a, ["alice", "bob"])
        with gql_client(b, "bob") as bob, gql_client(b, "eve") as eve:
            bob.subscribe("ev", query, c=cid)
            bob.sync()  # handled: live on every node from here
            eve.subscribe("x", query, c=cid)
            err = eve.recv()  # a non-member: the same not_found as REST
            assert err["payload"][0]["extensions"]["code"] == "not_found", err
            sent = [post(a, cid, "alice", "on A 1"), post(b, cid, "alice", "on B")]
            sent.append(post(a, cid, "alice", "on A 2"))
            got = [bob.next("ev")["data"]["channelEvents"] for _ in range(3)]
            assert [(e["seq"], e["event"]) for e in got] == [(s, "message_posted") for s in sent]
            assert [e["data"]["text"] for e in got] == ["on A 1", "on B", "on A 2"]
            assert all(e["channel"] == cid for e in got)
            eve.sync()
            bob.sync()  # nothing else came (a pong, not another event)
