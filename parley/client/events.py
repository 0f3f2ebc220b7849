"""Typed events: what a subscription yields, parsed from the server's pushes
(docs/protocol.md, "Frames")."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Event:
    """An event without a channel-log position: published by a service or a client
    (``publish``), or an ephemeral channel event (``typing``, ``read_receipt``,
    ``message_stream``...; then ``channel`` and ``event`` are set). Never recovered."""

    topic: str
    data: Any
    ts: str
    channel: str | None = None
    event: str | None = None


@dataclass(frozen=True, slots=True)
class ChannelEvent:
    """An event of a channel's log (``message_posted``, ``member_added``...): delivered
    once each, in ``seq`` order per channel, across reconnects."""

    topic: str
    channel: str
    seq: int
    event: str
    data: Any
    ts: str


@dataclass(frozen=True, slots=True)
class PresenceUser:
    user_id: str
    status: str
    last_seen: str | None


@dataclass(frozen=True, slots=True)
class PresenceUpdate:
    """A ``presence`` push: users sharing a channel with you whose status changed."""

    users: tuple[PresenceUser, ...]
    truncated: bool
    ts: str


@dataclass(frozen=True, slots=True)
class Hello:
    """The ``hello`` push that opens every connection."""

    session: str
    user: str
    org: str
    roles: tuple[str, ...]
    expires_at: int
    keepalive: dict[str, float]
    limits: dict[str, Any]


def parse_event(msg: dict[str, Any]) -> Event | ChannelEvent:
    """An ``event`` push as a typed event (a ``seq`` makes it a :class:`ChannelEvent`)."""
    seq = msg.get("seq")
    if isinstance(seq, int) and isinstance(msg.get("channel"), str):
        return ChannelEvent(
            topic=msg["topic"],
            channel=msg["channel"],
            seq=seq,
            event=str(msg.get("event")),
            data=msg.get("data"),
            ts=str(msg.get("ts")),
        )
    return Event(
        topic=str(msg.get("topic")),
        data=msg.get("data"),
        ts=str(msg.get("ts")),
        channel=msg.get("channel"),
        event=msg.get("event"),
    )


def parse_presence(msg: dict[str, Any]) -> PresenceUpdate:
    users = tuple(
        PresenceUser(str(u.get("user_id")), str(u.get("status")), u.get("last_seen"))
        for u in msg.get("users", ())
        if isinstance(u, dict)
    )
    return PresenceUpdate(users, bool(msg.get("truncated")), str(msg.get("ts")))


def parse_hello(msg: dict[str, Any]) -> Hello:
    return Hello(
        session=str(msg.get("session")),
        user=str(msg.get("user")),
        org=str(msg.get("org")),
        roles=tuple(msg.get("roles") or ()),
        expires_at=int(msg.get("expires_at") or 0),
        keepalive=dict(msg.get("keepalive") or {}),
        limits=dict(msg.get("limits") or {}),
    )
