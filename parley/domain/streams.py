"""Streamed (token-by-token) bot messages, held in memory (sans-IO: the clock is passed in).

A stream is opened in a channel, receives chunks, then is completed (its whole text is
persisted as one message) or cancelled. Every step yields one ``message_stream`` event whose
``index`` grows by one: ``open`` is 0, chunks are 1..n, the final ``completed``/``cancelled``
is n+1. :meth:`Stream.snapshot` gives the text so far and the last index, so a client that
arrives mid-stream applies only events with a higher index.

State is bounded: at most ``max_streams`` streams (finished ones are kept as tombstones, so a
retried ``complete`` answers the same, until they are idle for ``idle_timeout`` or room is
needed), ``max_open_per_author`` unfinished streams per author and ``max_bytes`` of text per
stream. Idle streams expire lazily on the next call; an open stream that expires yields a
``cancelled`` event with ``reason: "expired"``.

In a cluster (docs/cluster.md) a stream is held by the node that opened it, and its id
starts with that node's id (``<node>-<hex>``): a call for it that reaches another node is
forwarded to the holder through the :class:`StreamRelay` port and answered from there, so
any node serves any stream (no sticky sessions); the holder's events cross the bus like
any other channel event.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import trio

from parley.core.claims import Claims
from parley.core.codes import ErrorCode
from parley.core.errors import ClientError
from parley.core.events import Ephemeral
from parley.core.ports import EventSink, StreamRelay
from parley.core.records import Draft
from parley.core.times import rfc3339
from parley.domain import access, rules
from parley.domain.posting import Poster
from parley.domain.rules import MAX_TEXT_BYTES, check_clean
from parley.store import Store, sql


class StreamState(StrEnum):
    OPEN = "open"
    COMPLETING = "completing"  # the message is being persisted
    COMPLETED = "completed"
    CANCELLED = "cancelled"


@dataclass(slots=True)
class Stream:
    id: str
    org: str
    channel_id: str
    author: str
    last_active: float
    state: StreamState = StreamState.OPEN
    index: int = 0
    size: int = 0
    parts: list[str] = field(default_factory=list)
    message_id: str | None = None
    seq: int | None = None
    ts: str | None = None

    @property
    def text(self) -> str:
        return "".join(self.parts)

    @property
    def unfinished(self) -> bool:
        return self.state in (StreamState.OPEN, StreamState.COMPLETING)

    def event(self, state: str, chunk: str = "", **extra: Any) -> dict[str, Any]:
        return {
            "stream_id": self.id,
            "index": self.index,
            "state": state,
            "chunk": chunk,
            "author": self.author,
            **extra,
        }

    def snapshot(self) -> dict[str, Any]:
        """The text so far and the index of the last event it includes."""
        return {
            "stream_id": self.id,
            "channel": self.channel_id,
            "author": self.author,
            "state": str(self.state),
            "index": self.index,
            "text": self.text,
            "message_id": self.message_id,
            "seq": self.seq,
            "ts": self.ts,
        }


def _not_found() -> ClientError:
    return ClientError(ErrorCode.NOT_FOUND, "no such stream")


class StreamRegistry:
    def __init__(
        self,
        *,
        max_streams: int = 1024,
        max_open_per_author: int = 16,
        idle_timeout: float = 120.0,
        max_bytes: int = MAX_TEXT_BYTES,
    ) -> None:
        self.max_streams = max_streams
        self.max_open_per_author = max_open_per_author
        self.idle_timeout = idle_timeout
        self.max_bytes = max_bytes
        #: Ordered by last activity, oldest first.
        self._streams: OrderedDict[str, Stream] = OrderedDict()
        self._open_by_author: dict[tuple[str, str], int] = {}

    def __len__(self) -> int:
        return len(self._streams)

    # -- bookkeeping -------------------------------------------------------------
    def _touch(self, s: Stream, now: float) -> None:
        s.last_active = now
        self._streams.move_to_end(s.id)

    def _finish(self, s: Stream, state: StreamState) -> None:
        if s.unfinished:
            key = (s.org, s.author)
            n = self._open_by_author[key] - 1
            if n:
                self._open_by_author[key] = n
            else:
                del self._open_by_author[key]
        s.state = state

    def _drop(self, s: Stream) -> dict[str, Any] | None:
        del self._streams[s.id]
        if s.state is StreamState.OPEN:
            s.index += 1
            self._finish(s, StreamState.CANCELLED)
            return s.event("cancelled", reason="expired")
        return None

    def expire(self, now: float) -> list[tuple[Stream, dict[str, Any]]]:
        """Drop streams idle for ``idle_timeout``; return (stream, event) for the open ones."""
        out: list[tuple[Stream, dict[str, Any]]] = []
        while self._streams:
            s = next(iter(self._streams.values()))
            if s.last_active + self.idle_timeout > now:
                break
            if s.state is StreamState.COMPLETING:  # never cut a persist short
                self._touch(s, now)
                continue
            ev = self._drop(s)
            if ev is not None:
                out.append((s, ev))
        return out

    # -- operations ----------------------------------------------------------------
    def open(
        self, org: str, channel_id: str, author: str, now: float, *, prefix: str = ""
    ) -> Stream:
        key = (org, author)
        if self._open_by_author.get(key, 0) >= self.max_open_per_author:
            raise ClientError(
                ErrorCode.RATE_LIMITED,
                f"at most {self.max_open_per_author} unfinished streams per author",
            )
        if len(self._streams) >= self.max_streams:
            for s in list(self._streams.values()):
                if not s.unfinished:
                    self._drop(s)
                    break
            else:
                raise ClientError(ErrorCode.UNAVAILABLE, "too many streams; retry later")
        s = Stream(
            id=prefix + uuid.uuid4().hex,
            org=org,
            channel_id=channel_id,
            author=author,
            last_active=now,
        )
        self._streams[s.id] = s
        self._open_by_author[key] = self._open_by_author.get(key, 0) + 1
        return s

    def get(self, org: str, channel_id: str, stream_id: str) -> Stream:
        s = self._streams.get(stream_id)
        if s is None or s.org != org or s.channel_id != channel_id:
            raise _not_found()
        return s

    def get_own(self, org: str, channel_id: str, stream_id: str, author: str) -> Stream:
        """A stream only its author may drive; anyone else sees ``not_found``."""
        s = self.get(org, channel_id, stream_id)
        if s.author != author:
            raise _not_found()
        return s

    def append(self, s: Stream, chunk: str, index: int | None, now: float) -> dict[str, Any] | None:
        """Add a chunk; return its event, or ``None`` for a retry of the last chunk.

        ``index``, when given, must be the next index (a retry of the last one with the same
        text is accepted and changes nothing).
        """
        if s.state is not StreamState.OPEN:
            raise ClientError(ErrorCode.CONFLICT, f"stream is {s.state}")
        if index is not None and index != s.index + 1:
            if index == s.index and s.parts and s.parts[-1] == chunk:
                self._touch(s, now)
                return None
            raise ClientError(
                ErrorCode.CONFLICT, f"expected chunk index {s.index + 1}, got {index}"
            )
        if not chunk:
            raise ClientError(ErrorCode.BAD_REQUEST, "chunk must be a non-empty string")
        size = len(check_clean(chunk, "chunk").encode("utf-8"))
        if s.size + size > self.max_bytes:
            raise ClientError(
                ErrorCode.PAYLOAD_TOO_LARGE, f"stream text larger than {self.max_bytes} bytes"
            )
        s.parts.append(chunk)
        s.size += size
        s.index += 1
        self._touch(s, now)
        return s.event("chunk", chunk)

    def begin_complete(self, s: Stream, now: float) -> str | None:
        """Mark the stream as completing and return its text; ``None`` if already completed."""
        if s.state is StreamState.COMPLETED:
            return None
        if s.state is not StreamState.OPEN:
            raise ClientError(ErrorCode.CONFLICT, f"stream is {s.state}")
        if not s.text.strip():
            raise ClientError(
                ErrorCode.BAD_REQUEST, "stream has no text to persist; cancel it instead"
            )
        s.state = StreamState.COMPLETING
        self._touch(s, now)
        return s.text

    def abort_complete(self, s: Stream) -> None:
        """Persisting failed: the stream is open again (if it is still held)."""
        if s.state is StreamState.COMPLETING:
            s.state = StreamState.OPEN

    def finish_complete(
        self, s: Stream, message_id: str, seq: int, ts: str, now: float
    ) -> dict[str, Any] | None:
        if s.state is not StreamState.COMPLETING:
            return None
        s.message_id, s.seq, s.ts = message_id, seq, ts
        s.index += 1
        self._finish(s, StreamState.COMPLETED)
        if s.id in self._streams:
            self._touch(s, now)
        return s.event("completed", message_id=message_id, seq=seq, ts=ts)

    def cancel(self, s: Stream, now: float) -> dict[str, Any] | None:
        """Cancel; ``None`` when it already was (a retry)."""
        if s.state is StreamState.CANCELLED:
            return None
        if s.state is not StreamState.OPEN:
            raise ClientError(ErrorCode.CONFLICT, f"stream is {s.state}")
        s.index += 1
        self._finish(s, StreamState.CANCELLED)
        self._touch(s, now)
        return s.event("cancelled", reason="cancelled")


# -- the service ----------------------------------------------------------------------------


class StreamService:
    """Streams of a channel: members (posters, for writing) and the org's services use
    them; every step is pushed to the channel as a ``message_stream`` event, and
    completion posts the text through the one post pipeline."""

    def __init__(
        self,
        store: Store,
        sink: EventSink,
        poster: Poster,
        *,
        registry: StreamRegistry | None = None,
        clock: Callable[[], float] = trio.current_time,
        relay: StreamRelay | None = None,
    ) -> None:
        self.store = store
        self.sink = sink
        self.poster = poster
        self.registry = registry if registry is not None else StreamRegistry()
        self.clock = clock  # idle expiry; trio's clock unless a test says otherwise
        #: The other nodes of a cluster (None on a single node): calls for a stream
        #: another node holds are forwarded to it.
        self.relay = relay
        if relay is not None:
            relay.serve(self._serve_forwarded)

    # -- a cluster: the node that holds a stream answers for it ------------------------------
    def _holder(self, stream_id: str) -> str | None:
        """The node holding ``stream_id`` when that is another node of the cluster."""
        if self.relay is None:
            return None
        node, sep, _ = stream_id.partition("-")
        if not sep or node == self.relay.node_id:
            return None
        return node

    async def _forward(
        self, claims: Claims, op: str, channel_id: str, stream_id: str, **args: Any
    ) -> dict[str, Any] | None:
        """The holder's answer when another node holds the stream; None when it is here."""
        node = self._holder(stream_id)
        if node is None or self.relay is None:
            return None
        request = {
            "op": op,
            "claims": {
                "sub": claims.sub,
                "org": claims.org,
                "exp": claims.exp,
                "roles": list(claims.roles),
                "topics": list(claims.topics),
                "email": claims.email,
            },
            "channel": channel_id,
            "stream": stream_id,
            **args,
        }
        return await self.relay.forward(node, request)

    async def _serve_forwarded(self, request: dict[str, Any]) -> dict[str, Any]:
        """A call another node forwarded here: run it as if it came to this node."""
        try:
            c = request["claims"]
            claims = Claims(
                sub=str(c["sub"]),
                org=str(c["org"]),
                exp=float(c["exp"]),
                roles=tuple(str(r) for r in c["roles"]),
                topics=tuple(str(t) for t in c["topics"]),
                email=c["email"] if isinstance(c["email"], str) else None,
            )
            op, channel_id, stream_id = request["op"], request["channel"], request["stream"]
        except (KeyError, TypeError, ValueError):
            raise ClientError(ErrorCode.BAD_REQUEST, "malformed forwarded stream call") from None
        if not isinstance(stream_id, str) or not isinstance(channel_id, str):
            raise _not_found()
        if self._holder(stream_id) is not None:  # not held here: never forward again
            raise _not_found()
        if op == "get":
            return await self.get_stream(claims, channel_id, stream_id)
        if op == "append":
            chunk, index = request.get("chunk"), request.get("index")
            if not isinstance(chunk, str) or not (index is None or isinstance(index, int)):
                raise ClientError(ErrorCode.BAD_REQUEST, "malformed forwarded chunk")
            return await self.append_stream(claims, channel_id, stream_id, chunk, index)
        if op == "complete":
            return await self.complete_stream(claims, channel_id, stream_id)
        if op == "cancel":
            return await self.cancel_stream(claims, channel_id, stream_id)
        raise ClientError(ErrorCode.BAD_REQUEST, f"unknown stream operation {op!r}")

    def _expire(self) -> float:
        now = self.clock()
        for s, ev in self.registry.expire(now):
            self.sink.publish_channel_ephemeral(s.org, s.channel_id, Ephemeral.MESSAGE_STREAM, ev)
        return now

    async def _access(self, claims: Claims, channel_id: str, *, write: bool) -> None:
        channel = None
        if rules.is_clean(channel_id):
            channel = await self.store.read(sql.channels.get_channel, claims.org, channel_id)
        if channel is None:
            raise access.no_channel()
        if claims.is_service:
            return
        member = await self.store.read(sql.members.get_member, claims.org, channel_id, claims.sub)
        if member is None:
            raise access.no_channel()
        if write and not rules.can_post(channel.kind, member.role):
            raise access.forbidden(access.BROADCAST_REFUSAL)

    def _push(self, s: Stream, event: dict[str, Any] | None) -> None:
        if event is not None:
            self.sink.publish_channel_ephemeral(
                s.org, s.channel_id, Ephemeral.MESSAGE_STREAM, event
            )

    async def open_stream(self, claims: Claims, channel_id: str) -> dict[str, Any]:
        await self._access(claims, channel_id, write=True)
        now = self._expire()
        prefix = "" if self.relay is None else self.relay.node_id + "-"
        s = self.registry.open(claims.org, channel_id, claims.sub, now, prefix=prefix)
        self._push(s, s.event("open"))
        return s.snapshot()

    async def get_stream(self, claims: Claims, channel_id: str, stream_id: str) -> dict[str, Any]:
        await self._access(claims, channel_id, write=False)
        forwarded = await self._forward(claims, "get", channel_id, stream_id)
        if forwarded is not None:
            return forwarded
        self._expire()
        return self.registry.get(claims.org, channel_id, stream_id).snapshot()

    async def append_stream(
        self, claims: Claims, channel_id: str, stream_id: str, chunk: str, index: int | None
    ) -> dict[str, Any]:
        await self._access(claims, channel_id, write=True)
        forwarded = await self._forward(
            claims, "append", channel_id, stream_id, chunk=chunk, index=index
        )
        if forwarded is not None:
            return forwarded
        now = self._expire()
        s = self.registry.get_own(claims.org, channel_id, stream_id, claims.sub)
        self._push(s, self.registry.append(s, chunk, index, now))
        return {"stream_id": s.id, "index": s.index, "state": str(s.state)}

    async def complete_stream(
        self, claims: Claims, channel_id: str, stream_id: str
    ) -> dict[str, Any]:
        """Persist the text as one message (one seq); a retry answers the same."""
        await self._access(claims, channel_id, write=True)
        forwarded = await self._forward(claims, "complete", channel_id, stream_id)
        if forwarded is not None:
            return forwarded
        now = self._expire()
        s = self.registry.get_own(claims.org, channel_id, stream_id, claims.sub)
        text = self.registry.begin_complete(s, now)
        if text is None:
            return s.snapshot()
        draft = Draft(s.org, s.channel_id, s.author, text, idempotency_key=f"stream:{s.id}")
        try:
            result = await self.poster.post(
                draft, allow_empty=True, service=claims.is_service, checked_text=True
            )
        except BaseException:
            self.registry.abort_complete(s)
            raise
        m = result.message
        self._push(
            s,
            self.registry.finish_complete(s, m.id, m.seq, rfc3339(m.created_at), self.clock()),
        )
        return s.snapshot()

    async def cancel_stream(
        self, claims: Claims, channel_id: str, stream_id: str
    ) -> dict[str, Any]:
        await self._access(claims, channel_id, write=True)
        forwarded = await self._forward(claims, "cancel", channel_id, stream_id)
        if forwarded is not None:
            return forwarded
        now = self._expire()
        s = self.registry.get_own(claims.org, channel_id, stream_id, claims.sub)
        self._push(s, self.registry.cancel(s, now))
        return s.snapshot()
