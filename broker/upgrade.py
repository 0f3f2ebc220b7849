"""Accepting a WebSocket upgrade that wsproto has parsed and checked, without wsproto's
generic response path.

wsproto's ``WSConnection.send(AcceptConnection())`` builds an ``h11.InformationalResponse``
(header validation and normalisation, h11's writer state) and a frame-level ``Connection``
that :mod:`broker.wsconn` throws away at once: about a tenth of the server's CPU per accept
(docs/benchmarks.md). The broker accepts with no subprotocol, no extension and no extra
header, so the response is always the same four lines but for the accept token;
:func:`accept_upgrade` writes exactly the bytes wsproto writes (tests/broker/test_upgrade.py
compares them) and opens wsproto's ``FrameProtocol`` directly. Parsing and checking the
request (RFC 6455 4.2.1: method, version, ``Upgrade``, ``Connection``, the key) stays
wsproto's; this runs only after wsproto has handed over its ``Request``.
"""

from __future__ import annotations

from wsproto import WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import Request
from wsproto.frame_protocol import FrameProtocol
from wsproto.utilities import LocalProtocolError, generate_accept_token, normed_header_dict

from parley.broker.wsconn import WsServerConnection

_HEAD = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"


def accept_upgrade(handshake: WSConnection, request: Request) -> tuple[bytes, WsServerConnection]:
    """The 101 response to ``request`` (the ``Request`` event ``handshake`` emitted) and the
    open connection, fed the bytes a client pipelined behind its request."""
    h = handshake.handshake
    if h.state is not ConnectionState.CONNECTING or h._initiating_request is not request:
        raise LocalProtocolError("no upgrade request to accept")
    key = normed_header_dict(request.extra_headers)[b"sec-websocket-key"]
    response = _HEAD + b"Sec-WebSocket-Accept: " + generate_accept_token(key) + b"\r\n\r\n"
    proto = FrameProtocol(False, [])
    trailing: bytes = h._h11_connection.trailing_data[0]
    if trailing:
        proto.receive_bytes(trailing)
    return response, WsServerConnection(proto)
