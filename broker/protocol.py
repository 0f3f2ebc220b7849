"""The wire protocol, sans-IO: text in, validated commands out; replies and pushes encoded.

Every client command is a JSON object with an integer ``id`` and a string ``op``; it gets
exactly one reply. Server pushes carry ``type`` and no ``id``. See docs/protocol.md.

Every reply and push the broker sends is encoded here, as the bytes of one WebSocket text
frame (:mod:`broker.frames`; control frames are wsproto's). A push is serialized once and
its frame built once; the hub queues the same ``bytes`` on every subscriber. Timestamps come
in as arguments (no clock is read here).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, NamedTuple

import orjson

from parley.broker.frames import text_frame
from parley.core.claims import Claims
from parley.core.codes import ErrorCode
from parley.core.errors import ClientError
from parley.core.records import ChannelEvent
from parley.core.times import rfc3339

MAX_ID = 2**53 - 1  # ids survive a round trip through JavaScript numbers


class Op(StrEnum):
    SUBSCRIBE = "subscribe"
    UNSUBSCRIBE = "unsubscribe"
    PUBLISH = "publish"
    PING = "ping"
    POST = "post"
    READ = "read"
    REFRESH = "refresh"
    REACT = "react"
    EDIT = "edit"
    DELETE = "delete"
    REPLY = "reply"
    TYPING = "typing"
    PRESENCE = "presence"


#: Conversation ops (docs/conversation.md), run by :class:`broker.ports.ConversationOps`.
CONVERSATION_OPS = frozenset({"react", "edit", "delete", "reply"})


class PushType(StrEnum):
    HELLO = "hello"
    EVENT = "event"
    PRESENCE = "presence"


# Plain ``str`` values for the fan-out paths: orjson encodes a str subclass more slowly.
_EVENT = PushType.EVENT.value
_PRESENCE = PushType.PRESENCE.value


#: Op by its wire name: a dict lookup is ~10x cheaper than ``Op(name)`` (the enum's call).
_OPS: dict[str, Op] = {op.value: op for op in Op}


class Command(NamedTuple):
    """One parsed command (a tuple: built once per inbound frame, ~2x cheaper than a
    frozen dataclass, and as immutable)."""

    id: int
    op: Op
    body: dict[str, Any]


class CommandError(ClientError):
    """A bad command; ``id`` is the command's id when it could be read, else ``None``."""

    def __init__(self, id: int | None, code: ErrorCode, message: str) -> None:
        super().__init__(code, message)
        self.id = id


def parse_command(text: str) -> Command:
    try:
        obj = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise CommandError(None, ErrorCode.BAD_JSON, "frame is not valid JSON") from None
    if not isinstance(obj, dict):
        raise CommandError(None, ErrorCode.BAD_REQUEST, "a command must be a JSON object")
    cid = obj.get("id")
    if not isinstance(cid, int) or isinstance(cid, bool) or not 0 <= cid <= MAX_ID:
        raise CommandError(None, ErrorCode.BAD_REQUEST, "'id' must be a non-negative integer")
    op = obj.get("op")
    if not isinstance(op, str):
        raise CommandError(cid, ErrorCode.BAD_REQUEST, "'op' must be a string")
    known = _OPS.get(op)
    if known is None:
        raise CommandError(cid, ErrorCode.UNKNOWN_OP, f"unknown op {op!r}")
    return Command(cid, known, obj)


def ok_frame(cid: int, fields: dict[str, Any] | None = None) -> bytes:
    body: dict[str, Any] = {"id": cid, "ok": True}
    if fields:
        body.update(fields)
    return text_frame(orjson.dumps(body))


def error_frame(cid: int | None, code: ErrorCode, message: str) -> bytes:
    return text_frame(
        orjson.dumps({"id": cid, "ok": False, "error": {"code": code, "message": message}})
    )


def push_frame(type_: str, fields: dict[str, Any]) -> bytes:
    return text_frame(orjson.dumps({"type": type_, **fields}))


# -- pushes ---------------------------------------------------------------------------------
def hello_frame(
    session_id: str,
    claims: Claims,
    keepalive: dict[str, float],
    limits: dict[str, Any],
    ts: datetime,
) -> bytes:
    """The first frame of a connection: who it is, its keepalive and limits."""
    return push_frame(
        PushType.HELLO,
        {
            "session": session_id,
            "user": claims.sub,
            "org": claims.org,
            "roles": list(claims.roles),
            "expires_at": int(claims.exp),
            "keepalive": keepalive,
            "limits": limits,
            "ts": rfc3339(ts),
        },
    )


def event_frame(topic: str, data: Any, ts: datetime) -> bytes:
    """An event published to ``topic`` (``Hub.publish``)."""
    return text_frame(
        orjson.dumps({"type": _EVENT, "topic": topic, "data": data, "ts": rfc3339(ts)})
    )


def channel_event_frame(ev: ChannelEvent) -> bytes:
    """An event of a channel's log, with its ``seq`` (live or replayed by recovery)."""
    return text_frame(
        orjson.dumps(
            {
                "type": _EVENT,
                "topic": ev.topic,
                "channel": ev.channel_id,
                "seq": ev.seq,
                "event": ev.event,
                "data": ev.data,
                "ts": rfc3339(ev.ts),
            }
        )
    )


def channel_ephemeral_frame(
    topic: str, channel_id: str, event: str, data: Any, ts: datetime
) -> bytes:
    """A channel event that is not kept in the log (typing, read receipts...): no ``seq``."""
    return text_frame(
        orjson.dumps(
            {
                "type": _EVENT,
                "topic": topic,
                "channel": channel_id,
                "event": event,
                "data": data,
                "ts": rfc3339(ts),
            }
        )
    )


def presence_entry(user_id: str, status: str, last_seen: datetime | None) -> dict[str, Any]:
    """One user in a ``presence`` frame (and in the presence lookup)."""
    return {
        "user_id": user_id,
        "status": status,
        "last_seen": None if last_seen is None else rfc3339(last_seen),
    }


def presence_frame(users: list[dict[str, Any]], truncated: bool, ts: str) -> bytes:
    """An aggregated presence push of :func:`presence_entry` dicts; ``ts`` is RFC 3339,
    formatted once per flush."""
    return text_frame(
        orjson.dumps({"type": _PRESENCE, "users": users, "truncated": truncated, "ts": ts})
    )


def field(body: dict[str, Any], name: str, kind: type | tuple[type, ...], cid: int) -> Any:
    """A required field of the given JSON type (bools are not ints)."""
    value = body.get(name)
    if (
        value is None
        or not isinstance(value, kind)
        or (isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)))
    ):
        names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise CommandError(cid, ErrorCode.BAD_REQUEST, f"'{name}' must be a {names}")
    return value
