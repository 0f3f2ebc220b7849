"""The server side of an open WebSocket, sans-IO: wsproto's frame parser without the rest.

After the upgrade, wsproto's ``WSConnection`` keeps the HTTP handshake (h11 state, the
request and its buffers) and its frame-level ``Connection`` a 64-slot event deque (~770
bytes) that only a transport loss ever fills. A broker holds thousands of idle connections,
so :func:`open_connection` keeps just wsproto's ``FrameProtocol`` (masking, fragmentation,
UTF-8, control frames) behind the same ``send`` / ``receive_data`` / ``events`` calls, with
the same states and errors as ``wsproto.connection.Connection``.

Inbound, the common frame (a whole final masked text frame, :mod:`broker.wsframes`) is
parsed without wsproto while wsproto holds nothing; whatever is left of the bytes goes to
wsproto, which applies every rule as before. Events come out in wire order either way.
"""

from __future__ import annotations

from collections.abc import Iterator

from wsproto import WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import (
    BytesMessage,
    CloseConnection,
    Event,
    Message,
    Ping,
    Pong,
    TextMessage,
)
from wsproto.frame_protocol import FrameProtocol, Opcode, ParseFailed
from wsproto.utilities import LocalProtocolError

from parley.broker.wsframes import split_texts


class WsServerConnection:
    __slots__ = ("_live", "_proto", "_texts", "state")

    def __init__(self, proto: FrameProtocol) -> None:
        self._proto = proto
        self.state = ConnectionState.OPEN
        #: Whole text messages parsed by :func:`split_texts`, not yet handed out.
        self._texts: list[str] = []
        #: False once wsproto's parser has finished (a close frame or a protocol error):
        #: from then on nothing more is parsed, as with wsproto alone.
        self._live = True

    def send(self, event: Event) -> bytes:
        state = self.state
        if isinstance(event, Message) and state is ConnectionState.OPEN:
            return bytes(self._proto.send_data(event.data, event.message_finished))
        if isinstance(event, Ping) and state is ConnectionState.OPEN:
            return bytes(self._proto.ping(event.payload))
        if isinstance(event, Pong) and state is ConnectionState.OPEN:
            return bytes(self._proto.pong(event.payload))
        if isinstance(event, CloseConnection) and state in (
            ConnectionState.OPEN,
            ConnectionState.REMOTE_CLOSING,
        ):
            data = bytes(self._proto.close(event.code, event.reason))
            if state is ConnectionState.REMOTE_CLOSING:
                self.state = ConnectionState.CLOSED
            else:
                self.state = ConnectionState.LOCAL_CLOSING
            return data
        raise LocalProtocolError(f"Event {event} cannot be sent in state {state}.")

    def pending_payload(self) -> int:
        """Bytes still to come of the data frame whose header has been read (0 if none):
        a header claiming more than a message may hold is refused before its payload."""
        header = self._proto._frame_decoder.header
        if header is None or header.opcode.iscontrol():
            return 0
        return header.payload_len - self._proto._frame_decoder.payload_consumed

    def receive_data(self, data: bytes) -> None:
        if self.state in (ConnectionState.OPEN, ConnectionState.LOCAL_CLOSING):
            proto = self._proto
            decoder = proto._frame_decoder
            if (
                self._live
                and decoder.header is None
                and not len(decoder.buffer)
                and proto._message_decoder.opcode is None
            ):
                taken = split_texts(data, self._texts)
                if taken == len(data):
                    return
                if taken:
                    data = data[taken:]
            proto.receive_bytes(data)
        elif self.state is ConnectionState.CLOSED:
            raise LocalProtocolError("Connection already closed.")

    def events(self) -> Iterator[Event]:
        texts = self._texts
        while texts:
            yield TextMessage(data=texts.pop(0))
        if not self._live:
            return
        try:
            for frame in self._proto.received_frames():
                opcode, payload = frame.opcode, frame.payload
                if opcode is Opcode.PING:
                    assert isinstance(payload, bytes | bytearray)
                    yield Ping(payload=payload)
                elif opcode is Opcode.PONG:
                    assert isinstance(payload, bytes | bytearray)
                    yield Pong(payload=payload)
                elif opcode is Opcode.CLOSE:
                    assert isinstance(payload, tuple)
                    code, reason = payload
                    self._live = False
                    if self.state is ConnectionState.LOCAL_CLOSING:
                        self.state = ConnectionState.CLOSED
                    else:
                        self.state = ConnectionState.REMOTE_CLOSING
                    yield CloseConnection(code=code, reason=reason)
                elif opcode is Opcode.TEXT:
                    assert isinstance(payload, str)
                    yield TextMessage(
                        data=payload,
                        frame_finished=frame.frame_finished,
                        message_finished=frame.message_finished,
                    )
                elif opcode is Opcode.BINARY:
                    assert isinstance(payload, bytes | bytearray)
                    yield BytesMessage(
                        data=payload,
                        frame_finished=frame.frame_finished,
                        message_finished=frame.message_finished,
                    )
        except ParseFailed as exc:
            self._live = False
            yield CloseConnection(code=exc.code, reason=str(exc))


def http_version(handshake: WSConnection) -> bytes:
    """The HTTP version of the request a server handshake received (e.g. ``b"1.1"``)."""
    version: bytes | None = handshake.handshake._h11_connection.their_http_version
    return version or b""


def open_connection(handshake: WSConnection) -> WsServerConnection:
    """The open connection of an accepted handshake (after ``send(AcceptConnection())``).

    wsproto's ``FrameProtocol`` is taken over, the rest is dropped. A server-side wsproto
    creates it without the bytes that followed the request (frames a client pipelined
    behind its upgrade request); they are fed here, unless a wsproto that fixed this fed
    them already."""
    conn = handshake.connection
    if conn is None or conn.state is not ConnectionState.OPEN:
        raise LocalProtocolError("the handshake has not been accepted")
    proto = conn._proto
    trailing: bytes = handshake.handshake._h11_connection.trailing_data[0]
    if trailing and not len(proto._frame_decoder.buffer):
        proto.receive_bytes(trailing)
    return WsServerConnection(proto)
