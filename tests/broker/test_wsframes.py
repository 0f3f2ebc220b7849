"""broker/wsframes.py: the common frame parsed alone, and with it our server connection
still gives exactly wsproto's events on any stream of frames, valid or not."""

from __future__ import annotations

import itertools
import os
import struct

from hypothesis import given, settings
from hypothesis import strategies as st
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, Request

from parley.broker.wsconn import WsServerConnection, open_connection
from parley.broker.wsframes import _apply_mask_int, apply_mask, split_texts


def frame(
    opcode: int,
    payload: bytes,
    *,
    fin: bool = True,
    rsv: int = 0,
    mask: bytes | None = b"\x01\x02\x03\x04",
    length_form: str = "minimal",
) -> bytes:
    """One frame as a client (or a broken client) would put it on the wire."""
    n = len(payload)
    head = bytes([(0x80 if fin else 0) | (rsv << 4) | opcode])
    bit = 0x80 if mask is not None else 0
    if length_form == "minimal" and n <= 125:
        head += bytes([bit | n])
    elif length_form in ("minimal", "two") and n <= 0xFFFF:
        head += bytes([bit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([bit | 127]) + struct.pack("!Q", n)
    if mask is None:
        return head + payload
    return head + mask + apply_mask(payload, mask)


def test_mask_routines_agree() -> None:
    for n in (0, 1, 3, 4, 5, 125, 126, 1000, 65_537):
        data, key = os.urandom(n), os.urandom(4)
        masked = _apply_mask_int(data, key)
        assert masked == apply_mask(data, key)
        assert len(masked) == n and apply_mask(masked, key) == data


def test_takes_whole_text_frames_and_stops_at_anything_else() -> None:
    wire = frame(1, b'{"id":1}') + frame(1, "é".encode() * 100) + frame(9, b"ping")
    texts: list[str] = []
    taken = split_texts(wire, texts)
    assert texts == ['{"id":1}', "é" * 100]
    assert wire[taken:] == frame(9, b"ping")


def test_leaves_every_other_frame_to_wsproto() -> None:
    others = [
        frame(1, b"part", fin=False),  # a fragment
        frame(0, b"cont"),  # a continuation
        frame(2, b"\x00"),  # binary
        frame(1, b"rsv", rsv=4),  # RSV1 without an extension
        frame(1, b"bare", mask=None),  # unmasked
        frame(1, b"x" * 10, length_form="two"),  # 2-byte length for a short payload
        frame(1, b"x" * 200, length_form="eight"),  # 8-byte length
        frame(1, b"\xff\xfe"),  # not UTF-8
        frame(1, b"x" * 300)[:-1],  # not complete yet
        frame(1, b"")[:5],  # header not complete yet
    ]
    for wire in others:
        texts: list[str] = []
        assert split_texts(wire, texts) == 0 and texts == []


def test_two_byte_lengths_up_to_the_largest() -> None:
    payload = b"y" * 0xFFFF
    texts: list[str] = []
    assert split_texts(frame(1, payload), texts) == len(frame(1, payload))
    assert texts == [payload.decode()]


def pair() -> tuple[WSConnection, WsServerConnection]:
    """wsproto's own server and ours, both past the same handshake."""
    client = WSConnection(ConnectionType.CLIENT)
    request = client.send(Request(host="localhost", target="/ws"))
    servers = []
    for _ in range(2):
        server = WSConnection(ConnectionType.SERVER)
        server.receive_data(request)
        assert isinstance(next(server.events()), Request)
        server.send(AcceptConnection())
        servers.append(server)
    return servers[0], open_connection(servers[1])


TEXTS = st.text(max_size=200) | st.text(alphabet="ab", min_size=126, max_size=400)


@st.composite
def frames(draw: st.DrawFn) -> bytes:
    kind = draw(
        st.sampled_from(
            ["text"] * 6 + ["fragments", "binary", "ping", "pong", "close", "bad", "utf8"]
        )
    )
    mask = draw(st.binary(min_size=4, max_size=4))
    if kind == "text":
        return frame(1, draw(TEXTS).encode(), mask=mask)
    if kind == "fragments":
        data = draw(TEXTS).encode()
        cut = draw(st.integers(0, len(data)))
        ping = frame(9, b"in between", mask=mask) if draw(st.booleans()) else b""
        return (
            frame(1, data[:cut], fin=False, mask=mask)
            + ping
            + frame(0, data[cut:], mask=mask)
        )
    if kind == "binary":
        return frame(2, draw(st.binary(max_size=50)), mask=mask)
    if kind in ("ping", "pong"):
        return frame(9 if kind == "ping" else 10, draw(st.binary(max_size=125)), mask=mask)
    if kind == "close":
        code = draw(st.sampled_from([1000, 1001, 1005, 1006, 3000, 4999, 999, 5000]))
        reason = draw(st.sampled_from([b"", b"bye", b"\xff"]))
        return frame(8, struct.pack("!H", code) + reason, mask=mask)
    if kind == "utf8":
        return frame(1, draw(st.binary(min_size=1, max_size=20)), mask=mask)
    return draw(
        st.sampled_from(
            [
                frame(1, b"rsv", rsv=draw(st.integers(1, 7)), mask=mask),
                frame(1, b"bare", mask=None),
                frame(1, b"x" * 20, length_form="two", mask=mask),
                frame(1, b"x" * 300, length_form="eight", mask=mask),
                frame(3, b"", mask=mask),  # reserved opcode
                frame(0, b"orphan", mask=mask),
                frame(1, b"a", fin=False, mask=mask) + frame(1, b"b", mask=mask),
                frame(9, b"p", fin=False, mask=mask),
                frame(9, b"p" * 126, mask=mask),
                frame(8, b"\x03", mask=mask),
            ]
        )
    )


@settings(max_examples=300, deadline=None)
@given(
    wire=st.lists(frames(), max_size=8).map(b"".join),
    cuts=st.lists(st.integers(0, 4000), max_size=6),
    takes=st.lists(st.integers(0, 3), max_size=6),
)
def test_same_events_as_wsproto(wire: bytes, cuts: list[int], takes: list[int]) -> None:
    """Cut the stream anywhere, read events after each piece (sometimes only a few, the
    rest later, as a reader that stopped early): the same events in the same order and
    the same state as wsproto's own connection."""
    theirs, ours = pair()
    bounds = sorted({0, len(wire), *(c for c in cuts if c < len(wire))})
    seen_theirs: list[str] = []
    seen_ours: list[str] = []
    for i, (lo, hi) in enumerate(itertools.pairwise(bounds)):
        theirs.receive_data(wire[lo:hi])
        ours.receive_data(wire[lo:hi])
        take = takes[i] if i < len(takes) else None
        seen_theirs += [repr(e) for e in itertools.islice(theirs.events(), take)]
        seen_ours += [repr(e) for e in itertools.islice(ours.events(), take)]
        assert seen_ours == seen_theirs
    seen_theirs += [repr(e) for e in theirs.events()]
    seen_ours += [repr(e) for e in ours.events()]
    assert seen_ours == seen_theirs
    assert ours.state == theirs.state


def test_nothing_is_parsed_after_a_protocol_error() -> None:
    """An orphan continuation fails after wsproto took all its bytes (nothing buffered,
    no message under way): text frames read after it are not handed out, as wsproto."""
    theirs, ours = pair()
    for server in (theirs, ours):
        server.receive_data(frame(0, b"orphan"))
        (event,) = server.events()
        assert "unexpected CONTINUATION" in repr(event)
        server.receive_data(frame(1, b'{"id":1}'))
        assert list(server.events()) == []
