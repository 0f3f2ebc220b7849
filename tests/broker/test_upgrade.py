"""broker/upgrade.py answers an upgrade with wsproto's own bytes and an open connection
that behaves as wsproto's."""

from __future__ import annotations

import pytest
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, Request, TextMessage
from wsproto.frame_protocol import FrameProtocol
from wsproto.utilities import LocalProtocolError

from parley.broker.upgrade import accept_upgrade

REQUESTS = [
    b"GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    # header names in any case, extra headers, extensions and subprotocols offered
    b"GET /ws?access_token=t HTTP/1.1\r\nhost: example.com:8080\r\nUPGRADE: WebSocket\r\n"
    b"connection: keep-alive, Upgrade\r\nsec-websocket-key: x3JJHMbDL1EzLkh9GBhXDw==\r\n"
    b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Extensions: permessage-deflate\r\n"
    b"Sec-WebSocket-Protocol: chat, superchat\r\nOrigin: https://app.example\r\n"
    b"Authorization: Bearer abc\r\n\r\n",
]


def received(data: bytes) -> tuple[WSConnection, Request]:
    hs = WSConnection(ConnectionType.SERVER)
    hs.receive_data(data)
    event = next(hs.events())
    assert isinstance(event, Request)
    return hs, event


@pytest.mark.parametrize("request_bytes", REQUESTS)
def test_same_response_bytes_as_wsproto(request_bytes: bytes) -> None:
    theirs, _ = received(request_bytes)
    ours, our_request = received(request_bytes)
    response, _ = accept_upgrade(ours, our_request)
    assert response == theirs.send(AcceptConnection())


def test_a_client_accepts_the_response_and_frames_flow_both_ways() -> None:
    client = WSConnection(ConnectionType.CLIENT)
    request = client.send(Request(host="localhost", target="/ws"))
    pipelined = bytes(FrameProtocol(True, []).send_data("early"))  # right behind the request
    hs, event = received(request + pipelined)
    response, conn = accept_upgrade(hs, event)
    client.receive_data(response)
    assert isinstance(next(client.events()), AcceptConnection)
    assert [e.data for e in conn.events() if isinstance(e, TextMessage)] == ["early"]
    conn.receive_data(client.send(TextMessage("later")))
    assert [e.data for e in conn.events() if isinstance(e, TextMessage)] == ["later"]
    client.receive_data(conn.send(TextMessage("from the server")))
    assert [e.data for e in client.events() if isinstance(e, TextMessage)] == ["from the server"]


def test_only_the_request_the_handshake_received_is_accepted() -> None:
    hs, event = received(REQUESTS[0])
    other = Request(host="localhost", target="/ws")
    with pytest.raises(LocalProtocolError):
        accept_upgrade(hs, other)
    fresh = WSConnection(ConnectionType.SERVER)
    with pytest.raises(LocalProtocolError):
        accept_upgrade(fresh, event)
