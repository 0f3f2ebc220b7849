from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from parley.broker.protocol import (
    MAX_ID,
    Command,
    CommandError,
    Op,
    channel_ephemeral_frame,
    channel_event_frame,
    error_frame,
    event_frame,
    field,
    hello_frame,
    ok_frame,
    parse_command,
    presence_entry,
    presence_frame,
    push_frame,
)
from parley.core.claims import Claims
from parley.core.codes import ErrorCode
from parley.core.events import Ephemeral
from tests.support.broker import decode_frames, event, post_topic

TS = datetime(2026, 11, 22, 6, 30, 0, 123456, tzinfo=UTC)
TS_TEXT = "2026-11-22T06:30:00.123456Z"


def refused(text: str) -> tuple[int | None, ErrorCode]:
    with pytest.raises(CommandError) as info:
        parse_command(text)
    return info.value.id, info.value.code


def test_parse_valid_command() -> None:
    assert parse_command('{"id": 7, "op": "ping"}') == Command(7, Op.PING, {"id": 7, "op": "ping"})
    body = {"id": MAX_ID, "op": "subscribe", "topic": "events.acme.>"}
    assert parse_command(
        '{"id": 9007199254740991, "op": "subscribe", "topic": "events.acme.>"}'
    ) == Command(MAX_ID, Op.SUBSCRIBE, body)
    assert parse_command('{"id": 0, "op": "read"}').id == 0


@pytest.mark.parametrize("text", ["", "{", "not json", '{"id": 1,}', "\ud800"])
def test_bad_json(text: str) -> None:
    assert refused(text) == (None, ErrorCode.BAD_JSON)


@pytest.mark.parametrize("text", ["[]", "1", '"x"', "null", '[{"id": 1, "op": "ping"}]'])
def test_non_object(text: str) -> None:
    assert refused(text) == (None, ErrorCode.BAD_REQUEST)


@pytest.mark.parametrize(
    "id_json",
    ["null", "-1", "true", "false", "1.5", "1.0", '"1"', "9007199254740992", "1e30", "[1]"],
)
def test_bad_id(id_json: str) -> None:
    assert refused(f'{{"id": {id_json}, "op": "ping"}}') == (None, ErrorCode.BAD_REQUEST)


def test_missing_id() -> None:
    assert refused('{"op": "ping"}') == (None, ErrorCode.BAD_REQUEST)


@pytest.mark.parametrize("op_json", ["1", "null", "true", '["ping"]', "{}"])
def test_non_string_op_keeps_id(op_json: str) -> None:
    assert refused(f'{{"id": 4, "op": {op_json}}}') == (4, ErrorCode.BAD_REQUEST)


def test_missing_op_keeps_id() -> None:
    assert refused('{"id": 4}') == (4, ErrorCode.BAD_REQUEST)


@pytest.mark.parametrize("op", ["", "PING", "nope", "hello"])
def test_unknown_op(op: str) -> None:
    with pytest.raises(CommandError) as info:
        parse_command(f'{{"id": 12, "op": "{op}"}}')
    assert (info.value.id, info.value.code, info.value.message) == (
        12,
        ErrorCode.UNKNOWN_OP,
        f"unknown op {op!r}",
    )


def test_ok_frame_shape() -> None:
    assert decode_frames(ok_frame(3)) == [{"id": 3, "ok": True}]
    assert decode_frames(ok_frame(3, {"topic": "events.acme.x"})) == [
        {"id": 3, "ok": True, "topic": "events.acme.x"}
    ]


def test_error_frame_shape() -> None:
    assert decode_frames(error_frame(5, ErrorCode.FORBIDDEN, "no")) == [
        {"id": 5, "ok": False, "error": {"code": "forbidden", "message": "no"}}
    ]
    assert decode_frames(error_frame(None, ErrorCode.BAD_JSON, "bad")) == [
        {"id": None, "ok": False, "error": {"code": "bad_json", "message": "bad"}}
    ]


def test_push_frame_shape() -> None:
    assert decode_frames(push_frame("event", {"topic": "t", "data": [1]})) == [
        {"type": "event", "topic": "t", "data": [1]}
    ]


def test_event_frame_shape() -> None:
    frame = event_frame("events.acme.client.x", {"a": [1]}, TS)
    assert frame.startswith(b"\x81")  # one final, unmasked text frame
    assert decode_frames(frame) == [
        {"type": "event", "topic": "events.acme.client.x", "data": {"a": [1]}, "ts": TS_TEXT}
    ]


def test_channel_event_frame_shape() -> None:
    assert decode_frames(channel_event_frame(event("c1", 7))) == [
        {
            "type": "event",
            "topic": post_topic("c1"),
            "channel": "c1",
            "seq": 7,
            "event": "message_posted",
            "data": {"n": 7},
            "ts": "2026-11-22T06:00:00.000000Z",
        }
    ]


def test_channel_ephemeral_frame_has_no_seq() -> None:
    topic = "events.acme.conversations.conversation.typing.c1"
    frame = channel_ephemeral_frame(topic, "c1", Ephemeral.TYPING, {"user_id": "bob"}, TS)
    assert decode_frames(frame) == [
        {
            "type": "event",
            "topic": topic,
            "channel": "c1",
            "event": "typing",
            "data": {"user_id": "bob"},
            "ts": TS_TEXT,
        }
    ]


def test_hello_frame_shape() -> None:
    claims = Claims(sub="alice", org="acme", exp=4_000_000_000.5, roles=("service",))
    frame = hello_frame("s_1", claims, {"interval": 25.0, "timeout": 10.0}, {"max": 3}, TS)
    assert decode_frames(frame) == [
        {
            "type": "hello",
            "session": "s_1",
            "user": "alice",
            "org": "acme",
            "roles": ["service"],
            "expires_at": 4_000_000_000,
            "keepalive": {"interval": 25.0, "timeout": 10.0},
            "limits": {"max": 3},
            "ts": TS_TEXT,
        }
    ]


def test_presence_frame_shape() -> None:
    users = [presence_entry("bob", "online", TS), presence_entry("eve", "offline", None)]
    assert decode_frames(presence_frame(users, True, TS_TEXT)) == [
        {
            "type": "presence",
            "users": [
                {"user_id": "bob", "status": "online", "last_seen": TS_TEXT},
                {"user_id": "eve", "status": "offline", "last_seen": None},
            ],
            "truncated": True,
            "ts": TS_TEXT,
        }
    ]


@pytest.mark.parametrize(
    ("kind", "value"),
    [(int, 3), (str, "s"), (dict, {"a": 1}), ((int, str), "s"), ((int, bool), True), (bool, False)],
)
def test_field_accepts(kind: type | tuple[type, ...], value: Any) -> None:
    assert field({"f": value}, "f", kind, 1) == value


@pytest.mark.parametrize(
    ("kind", "value", "message"),
    [
        (int, True, "'f' must be a int"),
        (int, False, "'f' must be a int"),
        (int, 1.5, "'f' must be a int"),
        (int, "1", "'f' must be a int"),
        (int, None, "'f' must be a int"),
        (str, 1, "'f' must be a str"),
        ((int, float), True, "'f' must be a int/float"),
    ],
)
def test_field_rejects(kind: type | tuple[type, ...], value: Any, message: str) -> None:
    with pytest.raises(CommandError) as info:
        field({"f": value}, "f", kind, 8)
    assert (info.value.id, info.value.code, info.value.message) == (
        8,
        ErrorCode.BAD_REQUEST,
        message,
    )


def test_field_missing() -> None:
    with pytest.raises(CommandError) as info:
        field({}, "seq", int, 2)
    assert (info.value.id, info.value.code) == (2, ErrorCode.BAD_REQUEST)
