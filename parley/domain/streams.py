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
from parley.core.ports import EventSink
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
    def open(self, org: str, channel_id: str, author: str, now: float) -> Stream:
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
            id=uuid.uuid4().hex, org=org, channel_id=channel_id, author=author, last_active=now
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
    ) -> None:
        self.store = store
        self.sink = sink
        self.poster = poster
        self.registry = registry if registry is not None else StreamRegistry()
        self.clock = clock  # idle expiry; trio's clock unless a test says otherwise

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
        s = self.registry.open(claims.org, channel_id, claims.sub, now)
        self._push(s, s.event("open"))
        return s.snapshot()

    async def get_stream(self, claims: Claims, channel_id: str, stream_id: str) -> dict[str, Any]:
        await self._access(claims, channel_id, write=False)
        self._expire()
        return self.registry.get(claims.org, channel_id, stream_id).snapshot()

    async def append_stream(
        self, claims: Claims, channel_id: str, stream_id: str, chunk: str, index: int | None
    ) -> dict[str, Any]:
        await self._access(claims, channel_id, write=True)
        now = self._expire()
        s = self.registry.get_own(claims.org, channel_id, stream_id, claims.sub)
        self._push(s, self.registry.append(s, chunk, index, now))
        return {"stream_id": s.id, "index": s.index, "state": str(s.state)}

    async def complete_stream(
        self, claims: Claims, channel_id: str, stream_id: str
    ) -> dict[str, Any]:
        """Persist the text as one message (one seq); a retry answers the same."""
        await self._access(claims, channel_id, write=True)
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
        now = self._expire()
        s = self.registry.get_own(claims.org, channel_id, stream_id, claims.sub)
        self._push(s, self.registry.cancel(s, now))
        return s.snapshot()
