"""The broker over loopback with a third-party client (python-websockets, sync API)."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from functools import partial
from typing import Any

import jwt
import pytest
import trio
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, CloseConnection, Request, TextMessage

from parley.broker.auth import MAX_INSTANT, issue_token
from parley.core.codes import CloseCode
from parley.core.limits import Limits
from parley.settings import Settings
from tests.conftest import SECRET, make_token
from tests.support.live import LiveBroker, live_broker

TIMEOUT = 10  # bounds every blocking receive; tests never measure time


def unthrottled(settings: Settings, **limits: Any) -> Settings:
    return replace(
        settings,
        allowed_origins=("https://app.example",),
        limits=replace(
            Limits(),
            publish_rate=1e6,
            publish_burst=1_000_000,
            user_publish_rate=1e6,
            user_publish_burst=1_000_000,
            **limits,
        ),
    )


@pytest.fixture
def broker(settings: Settings) -> Iterator[LiveBroker]:
    with live_broker(unthrottled(settings)) as live:
        yield live


@contextmanager
def dial(live: LiveBroker, token: str | None = None, **kw: Any) -> Iterator[ClientConnection]:
    headers = {"Authorization": f"Bearer {token or make_token()}"}
    with connect(live.url, additional_headers=headers, open_timeout=TIMEOUT, **kw) as ws:
        hello = json.loads(ws.recv(timeout=TIMEOUT))
        assert hello["type"] == "hello"
        yield ws


def call(ws: ClientConnection, cmd: dict[str, Any]) -> dict[str, Any]:
    ws.send(json.dumps(cmd))
    while True:
        msg: dict[str, Any] = json.loads(ws.recv(timeout=TIMEOUT))
        if msg.get("id") == cmd["id"] and "ok" in msg:
            return msg


def closed_with(ws: ClientConnection) -> tuple[int | None, str | None]:
    with pytest.raises(ConnectionClosed) as exc:
        while True:
            ws.recv(timeout=TIMEOUT)
    rcvd = exc.value.rcvd
    return (rcvd.code, rcvd.reason) if rcvd else (None, None)


def test_auth_by_header_cookie_and_query(broker: LiveBroker) -> None:
    tok = make_token("carol")
    for ws in (
        connect(broker.url, additional_headers={"Authorization": f"Bearer {tok}"}),
        connect(broker.url, additional_headers={"Cookie": f"parley_token={tok}"}),
        connect(f"{broker.url}?access_token={tok}"),
    ):
        with ws:
            hello = json.loads(ws.recv(timeout=TIMEOUT))
            assert (hello["type"], hello["user"], hello["org"]) == ("hello", "carol", "acme")
            assert hello["keepalive"] == {"interval": 25.0, "timeout": 10.0}
            assert call(ws, {"id": 1, "op": "ping"})["ok"] is True


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "missing token"),
        ({"Authorization": "Bearer not.a.jwt"}, "malformed token"),
        (
            {"Authorization": "Bearer " + make_token()[:-4] + "AAAA"},
            "bad token signature",
        ),
        (
            # a validly signed token whose exp is Infinity (an issuer's bug)
            {
                "Authorization": "Bearer "
                + jwt.encode(
                    {"sub": "alice", "org": "acme", "exp": float("inf")}, SECRET, algorithm="HS256"
                )
            },
            f"token claim exp must be a finite number of seconds below {MAX_INSTANT}",
        ),
        (
            {"Authorization": "Bearer " + make_token(), "Origin": "https://evil.example"},
            "origin not allowed: https://evil.example",
        ),
    ],
)
def test_auth_failures_close_1008_with_reason(
    broker: LiveBroker, headers: dict[str, str], reason: str
) -> None:
    with connect(broker.url, additional_headers=headers, open_timeout=TIMEOUT) as ws:
        assert closed_with(ws) == (CloseCode.POLICY_VIOLATION, reason)


def test_an_expired_token_closes_4002_so_the_client_refreshes(broker: LiveBroker) -> None:
    """Expired at the handshake: 4002 (refresh the token), not 1008 (stop)."""
    headers = {"Authorization": "Bearer " + make_token(ttl=-5)}
    with connect(broker.url, additional_headers=headers, open_timeout=TIMEOUT) as ws:
        assert closed_with(ws) == (CloseCode.TOKEN_EXPIRED, "token expired")


def test_wildcard_delivery_and_cross_org_refusal(broker: LiveBroker) -> None:
    with (
        dial(broker, make_token("sub1")) as star,
        dial(broker, make_token("sub2")) as tail,
        dial(broker, make_token("svc", roles=["service"])) as pub,
        dial(broker, make_token("eve", org="globex", roles=["service"])) as eve,
    ):
        assert call(
            star, {"id": 1, "op": "subscribe", "topic": "events.acme.client.tasks.*.completed.*"}
        )["ok"]
        assert call(tail, {"id": 1, "op": "subscribe", "topic": "events.acme.client.tasks.>"})["ok"]
        refused = call(eve, {"id": 1, "op": "subscribe", "topic": "events.acme.>"})
        assert refused["error"]["code"] == "forbidden"
        refused = call(eve, {"id": 2, "op": "subscribe", "topic": "events.*.>"})
        assert refused["error"]["code"] == "forbidden"
        refused = call(
            eve, {"id": 3, "op": "publish", "topic": "events.acme.client.tasks.t.c.1", "data": 1}
        )
        assert refused["error"]["code"] == "forbidden"

        r1 = call(
            pub,
            {
                "id": 5,
                "op": "publish",
                "topic": "events.acme.client.tasks.task.completed.t1",
                "data": {"n": 1},
            },
        )
        assert r1 == {"id": 5, "ok": True, "deliveries": 2}
        r2 = call(
            pub,
            {
                "id": 6,
                "op": "publish",
                "topic": "events.acme.client.tasks.task.created.t2",
                "data": {"n": 2},
            },
        )
        assert r2["deliveries"] == 1
        ev = json.loads(star.recv(timeout=TIMEOUT))
        assert (ev["type"], ev["topic"], ev["data"]) == (
            "event",
            "events.acme.client.tasks.task.completed.t1",
            {"n": 1},
        )
        assert ev["ts"].endswith("Z")
        got = [json.loads(tail.recv(timeout=TIMEOUT))["data"]["n"] for _ in range(2)]
        assert got == [1, 2]


def test_publish_rate_is_limited_per_user_across_connections(settings: Settings) -> None:
    limited = replace(
        unthrottled(settings),
        limits=replace(Limits(), user_publish_rate=1e-3, user_publish_burst=3),
    )
    with (
        live_broker(limited) as live,
        dial(live, make_token("u")) as one,
        dial(live, make_token("u")) as two,
        dial(live, make_token("v")) as other,
    ):
        replies = [
            call(ws, {"id": i, "op": "publish", "topic": "events.acme.client.x", "data": i})
            for i, ws in enumerate((one, two, one, two, other))
        ]
        assert [r["ok"] for r in replies] == [True, True, True, False, True]
        assert replies[3]["error"]["code"] == "rate_limited"


def test_ten_thousand_events_arrive_in_order(broker: LiveBroker) -> None:
    n = 10_000
    with (
        dial(broker, make_token("s")) as sub,
        dial(broker, make_token("p", roles=["service"])) as pub,
    ):
        assert call(sub, {"id": 1, "op": "subscribe", "topic": "events.acme.client.seq.>"})["ok"]
        received: list[int] = []

        def read() -> None:
            while len(received) < n:
                received.append(json.loads(sub.recv(timeout=TIMEOUT))["data"])

        reader = threading.Thread(target=read)
        reader.start()
        batch = 50
        for start in range(0, n, batch):
            for i in range(start, min(start + batch, n)):
                pub.send(
                    json.dumps(
                        {
                            "id": i,
                            "op": "publish",
                            "topic": "events.acme.client.seq.x.y.z",
                            "data": i,
                        }
                    )
                )
            for _ in range(batch):
                assert json.loads(pub.recv(timeout=TIMEOUT))["ok"] is True
        reader.join(TIMEOUT * 3)
        assert received == list(range(n))


class StalledClient:
    """A raw socket that subscribes, then never reads: a consumer as slow as can be.

    (python-websockets keeps reading in a background thread whatever ``max_queue`` says.)
    A small fixed receive buffer turns off autotuning so the backlog lands on the server."""

    def __init__(self, port: int, token: str, topic: str) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.settimeout(TIMEOUT)
        self.sock.connect(("127.0.0.1", port))
        self.ws = WSConnection(ConnectionType.CLIENT)
        self.sock.sendall(
            self.ws.send(
                Request(
                    host="127.0.0.1",
                    target="/ws",
                    extra_headers=[(b"authorization", f"Bearer {token}".encode())],
                )
            )
        )
        self._until(lambda e: isinstance(e, AcceptConnection))
        self._until(lambda e: isinstance(e, TextMessage) and '"hello"' in e.data)
        cmd = json.dumps({"id": 1, "op": "subscribe", "topic": topic})
        self.sock.sendall(self.ws.send(TextMessage(cmd)))
        self._until(lambda e: isinstance(e, TextMessage) and '"ok":true' in e.data)

    def _until(self, want: Any) -> Any:
        while True:
            for event in self.ws.events():
                if want(event):
                    return event
            self.ws.receive_data(self.sock.recv(65536) or None)

    def close_code(self) -> int:
        """Read everything now and return the close code the server sent."""
        event = self._until(lambda e: isinstance(e, CloseConnection))
        self.sock.close()
        return int(event.code)


def test_slow_consumer_disconnected_while_others_receive(settings: Settings) -> None:
    n, payload = 3_000, "x" * 4000  # 12 MB: more than the server socket's send buffer
    topic = "events.acme.client.load.>"
    with (
        live_broker(unthrottled(settings, outbox_max_frames=64)) as broker,
        dial(broker, make_token("fast")) as fast,
        dial(broker, make_token("p", roles=["service"])) as pub,
    ):
        slow = StalledClient(broker.port, make_token("slow"), topic)
        assert call(fast, {"id": 1, "op": "subscribe", "topic": topic})["ok"]
        count = 0
        progress = threading.Condition()

        def read() -> None:
            nonlocal count
            while count < n:
                json.loads(fast.recv(timeout=TIMEOUT))
                with progress:
                    count += 1
                    progress.notify()

        reader = threading.Thread(target=read)
        reader.start()
        deliveries: list[int] = []
        # Batches smaller than the outbox, each read by the fast client before the next is
        # sent: only the stalled client can fall behind, however loaded the machine is.
        batch = 32
        def read_up_to(sent: int) -> bool:
            return count >= sent or not reader.is_alive()

        for start in range(0, n, batch):
            with progress:
                progress.wait_for(partial(read_up_to, start), TIMEOUT)
            for i in range(start, min(start + batch, n)):
                pub.send(
                    json.dumps(
                        {
                            "id": i,
                            "op": "publish",
                            "topic": "events.acme.client.load.a.b.c",
                            "data": payload,
                        }
                    )
                )
            for _ in range(start, min(start + batch, n)):
                deliveries.append(json.loads(pub.recv(timeout=TIMEOUT))["deliveries"])
        reader.join(TIMEOUT * 3)
        assert count == n
        assert deliveries[0] == 2 and deliveries[-1] == 1
        assert slow.close_code() == CloseCode.SLOW_CONSUMER


def test_oversize_frame_closes_1009(broker: LiveBroker) -> None:
    with dial(broker) as ws:
        ws.send(json.dumps({"id": 1, "op": "ping", "pad": "x" * 70_000}))
        assert closed_with(ws)[0] == CloseCode.MESSAGE_TOO_BIG


def raw_socket(broker: LiveBroker) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", broker.port), timeout=TIMEOUT)
    return sock


def upgrade_request(version: str) -> bytes:
    return (
        f"GET /ws HTTP/{version}\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        f"Sec-WebSocket-Version: 13\r\nAuthorization: Bearer {make_token()}\r\n\r\n"
    ).encode()


def test_http_1_0_upgrade_refused_400(broker: LiveBroker) -> None:
    """RFC 6455 4.1: the opening handshake is HTTP/1.1 or later."""
    with raw_socket(broker) as sock:
        sock.sendall(upgrade_request("1.0"))
        status_line = sock.recv(65536).split(b"\r\n", 1)[0]
        assert status_line.split(b" ")[1] == b"400"
    with raw_socket(broker) as sock:  # the same request as HTTP/1.1 is upgraded
        sock.sendall(upgrade_request("1.1"))
        assert sock.recv(65536).split(b"\r\n", 1)[0].split(b" ")[1] == b"101"


def test_frame_header_claiming_2_62_bytes_closes_1009_at_once(broker: LiveBroker) -> None:
    """Only the header is sent; the close comes without waiting for the payload."""
    sock = raw_socket(broker)
    ws = WSConnection(ConnectionType.CLIENT)
    sock.sendall(
        ws.send(
            Request(
                host="127.0.0.1",
                target="/ws",
                extra_headers=[(b"authorization", f"Bearer {make_token()}".encode())],
            )
        )
    )
    # FIN + text, masked, 64-bit length 2**62, masking key; no payload follows.
    sock.sendall(b"\x81\xff" + (1 << 62).to_bytes(8, "big") + b"\x00\x00\x00\x00")
    with sock:
        while True:
            ws.receive_data(sock.recv(65536) or None)  # a missing close times out here
            closes = [e for e in ws.events() if isinstance(e, CloseConnection)]
            if closes:
                assert closes[0].code == CloseCode.MESSAGE_TOO_BIG
                return


def test_binary_frame_closes_1003(broker: LiveBroker) -> None:
    with dial(broker) as ws:
        ws.send(b"\x00\x01")
        assert closed_with(ws)[0] == CloseCode.UNSUPPORTED_DATA


def test_bad_json_gets_error_reply_and_connection_stays(broker: LiveBroker) -> None:
    with dial(broker) as ws:
        ws.send("{nope")
        reply = json.loads(ws.recv(timeout=TIMEOUT))
        assert reply == {
            "id": None,
            "ok": False,
            "error": {"code": "bad_json", "message": "frame is not valid JSON"},
        }
        assert call(ws, {"id": 2, "op": "ping"})["ok"] is True


def test_server_shutdown_closes_1001(settings: Settings) -> None:
    with live_broker(settings) as live, dial(live) as ws:
        trio.from_thread.run_sync(live.server.shutdown, trio_token=live.token)
        assert closed_with(ws)[0] == CloseCode.GOING_AWAY


NAMESPACES = """{"client": {"subscribe": ["any"], "publish": ["any"]},
                 "billing": {"subscribe": ["role:billing"], "publish": []}}"""


def test_topic_permissions_inside_an_org(settings: Settings) -> None:
    """A plain user's wide pattern is narrowed to what he may read: the billing service's
    events reach the billing role, and a plain user only through a subscription token that
    grants him one invoice."""
    config = replace(unthrottled(settings).broker, topic_namespaces=NAMESPACES)
    paid = "events.acme.billing.invoice.paid."
    with (
        live_broker(settings, config) as live,
        dial(live, make_token("pat")) as pat,
        dial(live, make_token("ann", roles=["billing"])) as ann,
        dial(live, make_token("billing", roles=["service"])) as svc,
    ):
        wide = call(pat, {"id": 1, "op": "subscribe", "topic": "events.acme.>"})
        assert wide["ok"] and wide["granted"] == [
            "events.acme.conversations.>",
            "events.acme.tasks.>",
            "events.acme.users.*.*.pat",
            "events.acme.locks.>",
            "events.acme.client.>",
        ]
        refused = call(pat, {"id": 2, "op": "subscribe", "topic": "events.acme.billing.>"})
        assert refused["error"]["code"] == "forbidden"
        assert call(ann, {"id": 1, "op": "subscribe", "topic": "events.acme.billing.>"})["ok"]
        assert call(pat, {"id": 3, "op": "publish", "topic": paid + "i1", "data": 1}) == {
            "id": 3,
            "ok": False,
            "error": {
                "code": "forbidden",
                "message": "publishing to this topic needs the service role (clients may "
                "publish under events.acme.client.>)",
            },
        }
        r = call(svc, {"id": 1, "op": "publish", "topic": paid + "i1", "data": {"n": 1}})
        assert r["deliveries"] == 1  # ann only
        assert json.loads(ann.recv(timeout=TIMEOUT))["topic"] == paid + "i1"

        # A backend grants pat one invoice's events with a short-lived subscription token.
        grant = issue_token(SECRET, sub="pat", org="acme", ttl=60, topics=[paid + "i7"])
        sub = call(
            pat, {"id": 4, "op": "subscribe", "topic": "events.acme.billing.>", "token": grant}
        )
        assert sub["ok"] and sub["granted"] == [paid + "i7"]
        for i, invoice in enumerate(("i1", "i7")):
            call(svc, {"id": 2 + i, "op": "publish", "topic": paid + invoice, "data": i})
        ev = json.loads(pat.recv(timeout=TIMEOUT))  # i1 never came: i7 is the first
        assert (ev["topic"], ev["data"]) == (paid + "i7", 1)

        bob_grant = issue_token(SECRET, sub="bob", org="acme", ttl=60, topics=[paid + "i7"])
        expired = issue_token(SECRET, sub="pat", org="acme", ttl=-1, topics=[paid + "i7"])
        for cid, token, code in ((5, bob_grant, "forbidden"), (6, expired, "unauthorized")):
            cmd = {"id": cid, "op": "subscribe", "topic": paid + "*", "token": token}
            assert call(pat, cmd)["error"]["code"] == code
