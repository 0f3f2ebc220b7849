"""Shared doubles for the broker tests: claims, clients on real outboxes, frame decoding."""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import orjson

from parley.broker.client import Client
from parley.broker.frames import FIN_TEXT
from parley.broker.outbox import Outbox
from parley.core.claims import Claims
from parley.core.events import EventName
from parley.core.records import ChannelEvent, Draft

ORG = "acme"
TS = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)
EXP = 4_000_000_000.0


def decode_frames(data: bytes) -> list[Any]:
    """Split concatenated unmasked server text frames and JSON-decode each payload."""
    out: list[Any] = []
    i = 0
    while i < len(data):
        assert data[i] == FIN_TEXT, f"not a final text frame at byte {i}"
        n = data[i + 1]
        assert n & 0x80 == 0, "server frames are never masked"
        i += 2
        if n == 126:
            (n,) = struct.unpack_from("!H", data, i)
            i += 2
        elif n == 127:
            (n,) = struct.unpack_from("!Q", data, i)
            i += 8
        out.append(orjson.loads(data[i : i + n]))
        i += n
    return out


async def drain(outbox: Outbox) -> list[Any]:
    """Everything queued on ``outbox`` decoded (``[]`` if nothing is queued; never parks)."""
    out: list[Any] = []
    while len(outbox):  # get() hands over at most one write chunk at a time
        data = await outbox.get()
        assert data is not None
        outbox.sent()
        out.extend(decode_frames(data))
    return out


def claims(sub: str, *, org: str = ORG, roles: tuple[str, ...] = ()) -> Claims:
    return Claims(sub=sub, org=org, exp=EXP, roles=roles)


@dataclass(eq=False)
class Conn:
    """A client built on a real outbox, counting its overflow callbacks."""

    client: Client
    overflows: list[None] = field(default_factory=list)

    @property
    def outbox(self) -> Outbox:
        return self.client.outbox


def make_conn(
    sub: str,
    *,
    org: str = ORG,
    roles: tuple[str, ...] = (),
    max_frames: int = 100,
    max_bytes: int = 1 << 20,
) -> Conn:
    overflows: list[None] = []
    client = Client(
        f"s_{sub}",
        claims(sub, org=org, roles=roles),
        Outbox(max_frames, max_bytes),
        lambda: overflows.append(None),
    )
    return Conn(client, overflows)


def event(
    channel: str,
    seq: int,
    name: EventName = EventName.MESSAGE_POSTED,
    data: dict[str, Any] | None = None,
    *,
    org: str = ORG,
) -> ChannelEvent:
    return ChannelEvent(
        org=org,
        channel_id=channel,
        seq=seq,
        event=name,
        data={"n": seq} if data is None else data,
        ts=TS,
        actor="alice",
    )


def post_topic(channel: str, *, org: str = ORG) -> str:
    return f"events.{org}.conversations.conversation.message_posted.{channel}"


class _Posts(Protocol):
    async def post(
        self, org: str, user_id: str, channel_id: str, text: str, idempotency_key: str | None
    ) -> dict[str, Any]: ...


async def post_each(ops: _Posts, drafts: Sequence[Draft]) -> list[dict[str, Any] | Exception]:
    """``ChannelOps.post_many`` for a test double: each draft in turn through its ``post``
    (the answers the domain's bulk write must match)."""
    out: list[dict[str, Any] | Exception] = []
    for d in drafts:
        try:
            out.append(await ops.post(d.org, d.author, d.channel_id, d.text, d.idempotency_key))
        except Exception as exc:
            out.append(exc)
    return out
