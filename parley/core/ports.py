"""The typed ports between Parley's layers.

The broker implements :class:`EventSink` and :class:`SessionControl` (its hub) and
:class:`PresenceLookup`, and
drives a connection's store-bound ops through :class:`ChannelOps`; the domain implements
:class:`ChannelOps` and publishes through :class:`EventSink`. Neither imports the other:
the composition root (``parley.app``) hands each its collaborators. Tokens are checked
through a :data:`TokenCheck`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from parley.core.claims import Claims
from parley.core.codes import CloseCode
from parley.core.records import ChannelEvent, Draft

#: Verify a bearer token; return its claims or raise :class:`parley.core.errors.AuthError`.
TokenCheck = Callable[[str], Claims]


class EventSink(Protocol):
    """Where events go to be fanned out. Every method is synchronous and never awaits."""

    def publish(
        self, topic: str, data: Any, *, ts: datetime | None = None, members_of: str | None = None
    ) -> int:
        """Fan an event out to every matching local subscriber; return deliveries made.
        With ``members_of`` (a channel id) only to connections whose user is a member of
        that channel now (e.g. a task of that channel), like the channel's own events."""
        ...

    def publish_channel_events(self, events: Sequence[ChannelEvent]) -> None:
        """Fan out committed channel-log events (in seq order) to subscribed members, and
        keep the membership filter current (member_added/member_removed)."""
        ...

    def publish_channel_ephemeral(self, org: str, channel_id: str, event: str, data: Any) -> int:
        """Fan out a channel event that is not in the log (no seq), e.g. ``message_stream``
        chunks, to subscribed members of the channel only."""
        ...


class BrokerBackend(Protocol):
    """How a node's events reach the other nodes of a deployment (docs/cluster.md), as
    centrifuge's ``Broker`` beside its ``MemoryBroker``. The hub publishes every event on
    its topic as the subject and holds interest in the subjects its local clients'
    patterns need (ref-counted here: the first ``subscribe`` of a subject subscribes on
    the bus, the last ``unsubscribe`` leaves it). The in-memory backend is one node: it
    is not ``clustered`` and carries nothing. Every method but ``run`` and ``check``
    is synchronous and never awaits."""

    @property
    def clustered(self) -> bool: ...

    def start(self, receive: Callable[[str, bytes], None], on_connect: Callable[[], None]) -> None:
        """Where messages from other nodes go, and what to do after each (re)connect."""
        ...

    def publish(self, subject: str, payload: bytes) -> None: ...

    def subscribe(self, subject: str) -> bool:
        """Hold interest in ``subject``; True if it is new (the first holder)."""
        ...

    def unsubscribe(self, subject: str) -> bool:
        """Release interest; True if it was the last holder."""
        ...

    async def run(self, *, task_status: Any = ...) -> None:
        """Keep the bus connected (reconnecting by itself) until cancelled."""
        ...

    async def settled(self) -> None:
        """Wait (briefly, bounded) until the bus has processed every subscription made so
        far: events other nodes publish from then on reach this node."""
        ...

    async def check(self) -> str:
        """``ok`` or why not (readiness)."""
        ...


#: Serve one forwarded request (a dict of JSON values) and return the reply's dict.
RelayHandler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


class StreamRelay(Protocol):
    """Requests between the nodes of a cluster, for state only one node holds (a token
    stream: docs/cluster.md, *Token streams*). The broker's cluster link implements it over
    the bus; there is none on a single node."""

    @property
    def node_id(self) -> str:
        """This node's id on the bus."""
        ...

    def serve(self, handler: RelayHandler) -> None:
        """Answer the requests other nodes forward here with ``handler`` (one handler)."""
        ...

    async def forward(self, node: str, request: dict[str, Any]) -> dict[str, Any]:
        """Send ``request`` to ``node``'s handler and return its reply; raise
        :class:`parley.core.errors.ClientError` (``unavailable``) when no answer comes
        within a bounded time (the node is gone or the bus is down)."""
        ...


class ChannelLog(Protocol):
    """Reads a channel's log without an access check (the broker's gap fill)."""

    async def events_after(
        self, org: str, channel_id: str, after_seq: int, limit: int
    ) -> list[ChannelEvent]: ...


class SessionControl(Protocol):
    """Control over the open WebSocket connections of this node."""

    def disconnect_user(self, org: str, user_id: str, code: CloseCode, reason: str) -> int:
        """Start closing every open connection of the user (``sub`` in ``org``) with
        ``code`` and ``reason``; return how many. Synchronous, never awaits: the
        connections stop receiving at once and finish their close handshake on their own."""
        ...


class ConnectionWatch(Protocol):
    """Who has open connections on this node, and a callback when a user's last one closes
    (the hub implements it; entity locks are released through it)."""

    def connections_of(self, org: str, user_id: str) -> int: ...

    def on_user_gone(self, callback: Callable[[str, str], None]) -> None:
        """Call ``callback(org, user_id)`` when the user's last open connection on this node
        closes. Called synchronously from the hub: it must not block or await."""
        ...


class Feed(Protocol):
    """One in-process subscriber of the hub: a connection as the hub sees it (its user's
    channel set, its bounded queue, the same membership filter), read by the process
    itself (the GraphQL subscriptions) instead of a socket."""

    def subscribe(self, pattern: str) -> bool:
        """Add a topic pattern (already checked by the caller); False if it was there."""
        ...

    def unsubscribe(self, pattern: str) -> bool: ...

    async def settled(self) -> None:
        """Wait (bounded) until what any node of a cluster publishes from now on reaches
        this feed's patterns (the bus confirmed the subscriptions); at once on one node."""
        ...

    async def receive(self) -> list[dict[str, Any]] | None:
        """The next events as the broker's WebSocket frames carry them (``topic``,
        ``data``, ``ts``; and ``channel``, ``seq``, ``event`` for channel events), at least
        one; None once the feed is closed (by :meth:`close`, or because its queue
        overflowed: a slow reader is dropped, never waited for)."""
        ...

    def close(self) -> None: ...


class LiveFeeds(Protocol):
    """Opens :class:`Feed` subscribers on this node's hub (the broker implements it)."""

    async def open_feed(self, claims: Claims, channels: Callable[[], Awaitable[set[str]]]) -> Feed:
        """A feed for ``claims``; ``channels`` loads the user's channel ids when the hub
        does not know them yet (no other connection of the user is open)."""
        ...


class PresenceLookup(Protocol):
    """Presence as the broker last flushed it (docs/presence.md)."""

    def lookup(self, org: str, user_ids: Sequence[str]) -> list[dict[str, Any]]:
        """``{"user_id", "status", "last_seen"}`` per user, in the order asked."""
        ...


class ChannelOps(Protocol):
    """The store-bound operations of a WebSocket client. Raise
    :class:`parley.core.errors.ClientError` for refusals (not a member, bad input)."""

    async def user_channel_ids(self, org: str, user_id: str) -> set[str]: ...

    async def user_channel_sets(
        self, users: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], set[str]]:
        """:meth:`user_channel_ids` of every ``(org, user_id)`` in ``users`` (each a key
        of the result, an empty set for none), in one store read."""
        ...

    async def last_seqs(self, org: str, user_id: str, channel_ids: Sequence[str]) -> dict[str, int]:
        """The log position (last seq) of each of ``channel_ids`` the user belongs to;
        the others are absent (recovery of a channel the client has no position in)."""
        ...

    async def post(
        self, org: str, user_id: str, channel_id: str, text: str, idempotency_key: str | None
    ) -> dict[str, Any]:
        """Post a message; return the reply fields (``message_id``, ``seq``, ``ts``...)."""
        ...

    async def post_many(self, drafts: Sequence[Draft]) -> list[dict[str, Any] | Exception]:
        """Plain posts queued together, in order (a connection's pipelined ``post`` ops,
        so that they share a write batch); each one's reply fields, or the error it failed
        with (a :class:`ClientError` refusal, an outage), in order."""
        ...

    async def mark_read(self, org: str, user_id: str, channel_id: str, seq: int) -> int:
        """Set the read position (forward only); return the position in force."""
        ...

    async def events_after(
        self, org: str, user_id: str, channel_id: str, after_seq: int, limit: int
    ) -> list[ChannelEvent]:
        """Missed log events for recovery; refuses non-members."""
        ...

    async def conversation_op(
        self, org: str, user_id: str, op: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        """``react`` / ``edit`` / ``delete`` / ``reply`` with the command's body
        (docs/conversation.md); return the reply fields."""
        ...


class OpsEndpoints(Protocol):
    """The operations endpoints (``/livez``, ``/healthz``, ``/readyz``, ``/metrics``),
    served on the REST port and on the broker port (so ``--broker-only`` has them too),
    and the REST layer's request timings for the metrics. Implemented by the composition
    root (``parley.ops``)."""

    async def respond(self, path: str) -> HttpReply | None:
        """The reply to ``GET path``, or None if ``path`` is not an operations endpoint."""
        ...

    def request_done(self, route: str, method: str, status: int, seconds: float) -> None:
        """One REST request finished (``route`` is the rule, e.g. ``/v1/channels/<id>``).
        Never awaits."""
        ...


@dataclass(frozen=True, slots=True)
class HttpReply:
    """A plain HTTP response: status, content type and body."""

    status: int
    content_type: str
    body: bytes


#: Paths :class:`OpsEndpoints` answers.
OPS_PATHS = frozenset({"/livez", "/healthz", "/readyz", "/metrics"})


@dataclass(frozen=True, slots=True)
class Notice:
    """Something a feature asks to tell one user (a reminder, a task due...): what the
    notification service turns into an inbox row and its deliveries (docs/automation.md,
    *The notify seam*). ``key`` is unique per notice: a job that runs twice hands over the
    same key, so the receiver can store it once."""

    org: str
    user_id: str
    #: ``reminder``, ``task_due``...
    type: str
    title: str
    body: str
    #: What it is about: ``{"channel": ..., "message_id": ...}`` or ``{"task_id": ...}``.
    link: dict[str, str]
    key: str
    priority: str = "normal"


#: Hand a :class:`Notice` to the notification service; ``None`` where it is not wired.
Notify = Callable[[Notice], Awaitable[None]]
