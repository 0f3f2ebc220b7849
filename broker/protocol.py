"""The wire protocol, sans-IO: text in, validated commands out; replies and pushes encoded.

Every client command is a JSON object with an integer ``id`` and a string ``op``; it gets
exactly one reply. Server pushes carry ``type`` and no ``id``. See docs/protocol.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import orjson

from parley.broker.frames import text_frame
from parley.core.codes import ErrorCode
from parley.core.errors import ClientError

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


@dataclass(frozen=True, slots=True)
class Command:
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
    try:
        return Command(cid, Op(op), obj)
    except ValueError:
        raise CommandError(cid, ErrorCode.UNKNOWN_OP, f"unknown op {op!r}") from None


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
