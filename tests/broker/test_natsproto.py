"""The NATS protocol parser and encoders (sans-IO)."""

from __future__ import annotations

import pytest

from parley.broker import natsproto as proto


def test_parses_every_server_operation_split_at_any_byte() -> None:
    wire = (
        b'INFO {"server_id":"x","max_payload":1048576}\r\n'
        b"PING\r\nPONG\r\n+OK\r\n"
        b"MSG a.b 7 5\r\nhello\r\n"
        b"MSG a.c 8 reply.to 3\r\n\r\nx\r\n"
        b"-ERR 'Authorization Violation'\r\n"
    )
    for cut in range(len(wire)):
        parser = proto.Parser()
        events = parser.feed(wire[:cut]) + parser.feed(wire[cut:])
        assert events == [
            proto.Info({"server_id": "x", "max_payload": 1048576}),
            proto.Ping(),
            proto.Pong(),
            proto.Ok(),
            proto.Msg("a.b", 7, b"hello"),
            proto.Msg("a.c", 8, b"\r\nx"),
            proto.Err("Authorization Violation"),
        ], cut
        assert parser.info == proto.Info({"server_id": "x", "max_payload": 1048576})


def test_a_payload_may_hold_anything_including_crlf_and_msg() -> None:
    body = b"MSG x 1 3\r\nabc\r\n" * 3
    parser = proto.Parser()
    events = parser.feed(b"MSG s 1 %d\r\n" % len(body) + body + b"\r\nPING\r\n")
    assert events == [proto.Msg("s", 1, body), proto.Ping()]


@pytest.mark.parametrize(
    "line",
    [b"MSG a b c\r\n", b"MSG a\r\n", b"WHAT\r\n", b"INFO [1]\r\n", b"INFO {\r\n"],
)
def test_bad_server_lines_are_protocol_errors(line: bytes) -> None:
    with pytest.raises(proto.ProtocolError):
        proto.Parser().feed(line)


def test_client_commands() -> None:
    assert proto.pub("a.b", b"xyz") == b"PUB a.b 3\r\nxyz\r\n"
    assert proto.sub("a.*.>", 4) == b"SUB a.*.> 4\r\n"
    assert proto.unsub(4) == b"UNSUB 4\r\n"
    assert proto.connect({"verbose": False}) == b'CONNECT {"verbose":false}\r\n'
