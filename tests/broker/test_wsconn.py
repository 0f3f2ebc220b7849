"""broker/wsconn.py behaves as wsproto's own Connection after the upgrade."""

from __future__ import annotations

import pytest
from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Event,
    Ping,
    Pong,
    Request,
    TextMessage,
)
from wsproto.utilities import LocalProtocolError

from parley.broker.wsconn import WsServerConnection, open_connection


def accepted(trailing: bytes = b"") -> tuple[WSConnection, WSConnection, WsServerConnection]:
    """A client, wsproto's server and ours, over the same handshake."""
    client = WSConnection(ConnectionType.CLIENT)
    request = client.send(Request(host="localhost", target="/ws"))
    servers = []
    for _ in range(2):
        server = WSConnection(ConnectionType.SERVER)
        server.receive_data(request + trailing)
        assert isinstance(next(server.events()), Request)
        accept = server.send(AcceptConnection())
        servers.append(server)
    client.receive_data(accept)
    assert isinstance(next(client.events()), AcceptConnection)
    return client, servers[0], open_connection(servers[1])


def state(conn: WsServerConnection) -> ConnectionState:
    return conn.state  # read anew (mypy keeps an earlier narrowing of the attribute)


def feed(server: WSConnection | WsServerConnection, data: bytes) -> list[str]:
    server.receive_data(data)
    return [repr(e) for e in server.events()]


CLIENT_EVENTS: list[list[Event]] = [
    [TextMessage("hello")],
    [TextMessage("frag", message_finished=False), TextMessage("ment")],
    [BytesMessage(b"\x00\x01")],
    [Ping(b"p1"), Pong(b"p2")],
    [TextMessage("é" * 1000)],
    [CloseConnection(1000, "bye")],
]


@pytest.mark.parametrize("events", CLIENT_EVENTS)
def test_same_events_and_states(events: list[Event]) -> None:
    client, theirs, ours = accepted()
    data = b"".join(client.send(e) for e in events)
    assert feed(ours, data) == feed(theirs, data)
    assert ours.state == theirs.state


def test_bytes_that_followed_the_request_are_kept() -> None:
    """wsproto 1.3 itself drops frames pipelined behind the request; we keep them (a
    frame header claiming too much must be seen, and a command must not vanish)."""
    client = WSConnection(ConnectionType.CLIENT)
    client.send(Request(host="localhost", target="/ws"))
    # Frames a client pipelined behind its request (masked with a zero key).
    early = b"\x81\x82\x00\x00\x00\x00hi"
    _, theirs, ours = accepted(early)
    assert [repr(e) for e in theirs.events()] == []
    assert [repr(e) for e in ours.events()] == [repr(TextMessage("hi"))]


def test_bad_frame_becomes_close_1002() -> None:
    _, theirs, ours = accepted()
    bad = b"\x81\x02hi"  # an unmasked client frame
    events = feed(ours, bad)
    assert events == feed(theirs, bad)
    assert len(events) == 1 and "PROTOCOL_ERROR" in events[0]


def test_send_rules_follow_the_state() -> None:
    client, theirs, ours = accepted()
    assert ours.send(Ping(b"x")) == theirs.send(Ping(b"x"))
    assert ours.send(Pong(b"y")) == theirs.send(Pong(b"y"))
    close = ours.send(CloseConnection(4001, "no pong"))
    assert close == theirs.send(CloseConnection(4001, "no pong"))
    assert ours.state is ConnectionState.LOCAL_CLOSING
    with pytest.raises(LocalProtocolError):
        ours.send(Ping(b"late"))
    client.receive_data(close)
    (event,) = client.events()
    assert isinstance(event, CloseConnection) and event.code == 4001
    reply = feed(ours, client.send(event.response()))
    assert reply == ["CloseConnection(code=4001, reason='no pong')"]
    assert state(ours) is ConnectionState.CLOSED
    with pytest.raises(LocalProtocolError):
        ours.receive_data(b"more")


def test_remote_close_then_our_reply_closes() -> None:
    client, _, ours = accepted()
    ours.receive_data(client.send(CloseConnection(1001)))
    (event,) = ours.events()
    assert isinstance(event, CloseConnection)
    assert ours.state is ConnectionState.REMOTE_CLOSING
    ours.send(event.response())
    assert state(ours) is ConnectionState.CLOSED
