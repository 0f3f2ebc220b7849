from __future__ import annotations

import pytest
from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import AcceptConnection, Request, TextMessage

from parley.broker.frames import text_frame


def open_client() -> WSConnection:
    """A client-side wsproto connection past an in-memory handshake with a server."""
    client = WSConnection(ConnectionType.CLIENT)
    server = WSConnection(ConnectionType.SERVER)
    server.receive_data(client.send(Request(host="parley.test", target="/ws")))
    assert [type(e) for e in server.events()] == [Request]
    client.receive_data(server.send(AcceptConnection()))
    assert [type(e) for e in client.events()] == [AcceptConnection]
    assert client.state is ConnectionState.OPEN
    return client


def payload_of(n: int) -> str:
    # Multi-byte UTF-8 near the end so a wrong length would split or lose a character.
    return "x" * (n - 2) + "é" if n >= 2 else "y" * n


@pytest.mark.parametrize(
    ("n", "header"),
    [
        (0, b"\x81\x00"),
        (125, b"\x81\x7d"),
        (126, b"\x81\x7e\x00\x7e"),
        (65535, b"\x81\x7e\xff\xff"),
        (65536, b"\x81\x7f\x00\x00\x00\x00\x00\x01\x00\x00"),
        (200000, b"\x81\x7f\x00\x00\x00\x00\x00\x03\x0d\x40"),
    ],
)
def test_text_frame_header_and_wsproto_decode(n: int, header: bytes) -> None:
    text = payload_of(n)
    payload = text.encode()
    assert len(payload) == n
    frame = text_frame(payload)
    assert frame == header + payload

    client = open_client()
    client.receive_data(frame)
    assert list(client.events()) == [
        TextMessage(data=text, frame_finished=True, message_finished=True)
    ]


def test_concatenated_frames_decode_in_order() -> None:
    # The writer joins queued frames into one socket write.
    sizes = [0, 125, 126, 65536, 3]
    texts = [payload_of(n) for n in sizes]
    client = open_client()
    client.receive_data(b"".join(text_frame(t.encode()) for t in texts))
    assert list(client.events()) == [
        TextMessage(data=t, frame_finished=True, message_finished=True) for t in texts
    ]


def test_frame_split_across_reads_decodes_once_complete() -> None:
    frame = text_frame(b"z" * 300)
    client = open_client()
    client.receive_data(frame[:3])
    client.receive_data(frame[3:])
    events = list(client.events())
    assert "".join(e.data for e in events if isinstance(e, TextMessage)) == "z" * 300
    assert isinstance(events[-1], TextMessage)
    assert events[-1].message_finished is True
