"""What every baseline server shares: subscriptions with ``*``/``>`` patterns, the JSON
wire shape (hello push, command replies, event push) and command-line parsing.

The registry caches, per concrete topic, the list of subscribers that match it (invalidated
on every subscribe/unsubscribe), so a publish costs a dict lookup, as in a topic trie with a
match cache.
"""

from __future__ import annotations

import argparse
import contextlib
import resource
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

import orjson

C = TypeVar("C")


def raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 20
    if soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def matches(pattern: tuple[str, ...], topic: tuple[str, ...]) -> bool:
    for i, p in enumerate(pattern):
        if p == ">":
            return len(topic) > i
        if i >= len(topic) or (p != "*" and p != topic[i]):
            return False
    return len(pattern) == len(topic)


class Registry(Generic[C]):
    def __init__(self) -> None:
        self._subs: dict[tuple[str, ...], dict[C, None]] = {}
        self._cache: dict[str, list[C]] = {}

    def subscribe(self, conn: C, pattern: str) -> None:
        self._subs.setdefault(tuple(pattern.split(".")), {})[conn] = None
        self._cache.clear()

    def unsubscribe_all(self, conn: C) -> None:
        for pattern in [p for p, conns in self._subs.items() if conn in conns]:
            conns = self._subs[pattern]
            del conns[conn]
            if not conns:
                del self._subs[pattern]
        self._cache.clear()

    def match(self, topic: str) -> list[C]:
        hit = self._cache.get(topic)
        if hit is None:
            parts = tuple(topic.split("."))
            seen: dict[C, None] = {}
            for pattern, conns in self._subs.items():
                if matches(pattern, parts):
                    seen.update(conns)
            hit = self._cache[topic] = list(seen)
        return hit


HELLO = orjson.dumps({"type": "hello", "server": "baseline", "version": 1})


def now_rfc3339() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def event_bytes(topic: str, data: Any) -> bytes:
    return orjson.dumps({"type": "event", "topic": topic, "data": data, "ts": now_rfc3339()})


def ok_reply(rid: Any, **extra: Any) -> bytes:
    return orjson.dumps({"id": rid, "ok": True, **extra})


def error_reply(rid: Any, code: str, message: str) -> bytes:
    return orjson.dumps({"id": rid, "ok": False, "error": {"code": code, "message": message}})


def parse_args(description: str, argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    return ap.parse_args(argv)


class Command:
    """The outcome of one client command: the reply, plus the event to fan out (if any)."""

    __slots__ = ("event", "reply", "targets")

    def __init__(self, reply: bytes, event: bytes | None = None, targets: list[Any] | None = None):
        self.reply = reply
        self.event = event
        self.targets = targets


def handle(reg: Registry[Any], conn: Any, payload: bytes | str) -> Command:
    """Apply one JSON command (sans-IO); the caller writes the reply and fans out the event."""
    try:
        msg = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return Command(error_reply(None, "bad_json", "invalid JSON"))
    if not isinstance(msg, dict):
        return Command(error_reply(None, "bad_request", "expected an object"))
    rid = msg.get("id")
    op = msg.get("op")
    topic = msg.get("topic")
    if op == "publish" and isinstance(topic, str):
        targets = reg.match(topic)
        event = event_bytes(topic, msg.get("data"))
        return Command(ok_reply(rid, deliveries=len(targets)), event, targets)
    if op == "subscribe" and isinstance(topic, str):
        reg.subscribe(conn, topic)
        return Command(ok_reply(rid, topic=topic))
    if op == "ping":
        return Command(ok_reply(rid, type="pong"))
    return Command(error_reply(rid, "unknown_op", f"unsupported op {op!r}"))
