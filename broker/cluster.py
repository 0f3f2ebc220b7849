"""The hub's link to the other nodes of a cluster (docs/cluster.md).

Built only when the backend is ``clustered`` (NATS); with the in-memory backend the hub
has no link and its fan-out is exactly the single-node path. The link:

- publishes every local event on the bus once, on its topic as the subject, with the
  frame already built (receiving nodes queue the same bytes, no re-encoding):
  ``E`` service events (with their ``members_of``), ``C`` committed channel events (org,
  channel, seq, event, member target), ``X`` ephemeral channel events (streams, typing),
  ``M`` membership changes (every node, so a member removed on one node stops receiving
  on all at once), ``D`` closing a user's connections everywhere, ``R`` "read the
  store again" (a node is back on the bus: what it published meanwhile was lost);
- holds interest in the subject of every trie entry its clients hold (ref-counted by the
  backend); a channel topic's subject is widened to all of that channel's events
  (``events.o.conversations.conversation.*.C``), so a node sees each followed channel's
  whole seq stream and can tell a gap from an event it does not route;
- passes committed channel events, local and remote, through one :class:`Sequencer`, so
  each channel's events are delivered in seq order with no gap and no duplicate, reading a
  missing range from the store (:class:`ChannelLog`) when it does not arrive in time.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import orjson
import trio

from parley.broker.protocol import channel_event_frame
from parley.broker.sequencer import Gap, Sequencer
from parley.core.codes import CloseCode, ErrorCode
from parley.core.errors import ClientError
from parley.core.events import EventName
from parley.core.ports import BrokerBackend, ChannelLog, RelayHandler
from parley.core.records import ChannelEvent
from parley.core.topics import CONVERSATION_SOURCE, MULTI, SINGLE, channel_topic, matches

if TYPE_CHECKING:
    from parley.broker.hub import Hub

log = logging.getLogger("parley.bus")

#: Subjects every node of a cluster holds, whatever its clients subscribe to.
MEMBERS_SUBJECT = "_parley.members"
CONTROL_SUBJECT = "_parley.control"
PRESENCE_SUBJECT = "_parley.presence"
#: Seconds between a node's presence heartbeats on the bus; a node not heard for
#: :data:`NODE_SILENT` is gone, and its users' presence with it.
NODE_BEAT = 2.0
NODE_SILENT = 3 * NODE_BEAT
#: Each node's own subject (requests to it and answers to its requests) is this + its id.
NODE_SUBJECT = "_parley.node."
#: Seconds a forwarded request waits for its answer; requests a node serves at once.
CALL_TIMEOUT = 3.0
MAX_SERVING = 256

#: (event name, member target or None, frame)
Item = tuple[str, str | None, bytes]
Key = tuple[str, str]


def bus_subject(entry: Sequence[str]) -> str:
    """The bus subject for a trie entry: itself, except that a channel topic's event
    segment is widened to ``*`` (the node then sees the channel's whole seq stream)."""
    parts = list(entry)
    if (
        len(parts) >= 6
        and parts[2] in (CONVERSATION_SOURCE, SINGLE)
        and parts[4] not in (SINGLE, MULTI)
    ):
        parts[4] = SINGLE
    return ".".join(parts)


def _channel_item(ev: ChannelEvent) -> Item:
    target = None
    if ev.event in (EventName.MEMBER_ADDED, EventName.MEMBER_REMOVED):
        user = ev.data.get("user_id")
        target = user if isinstance(user, str) else None
    return (ev.event, target, channel_event_frame(ev))


class ClusterLink:
    def __init__(
        self, hub: Hub, backend: BrokerBackend, log_reader: ChannelLog, *, gap_wait: float
    ) -> None:
        self.hub = hub
        self.node_id = uuid.uuid4().hex[:12]
        #: other nodes -> when last heard (trio's clock)
        self.nodes: dict[str, float] = {}
        self.backend = backend
        self.log = log_reader
        self.sequencer: Sequencer[Key, Item] = Sequencer(gap_wait)
        self._wake = trio.Event()
        self._gaps: list[Gap[Key]] = []
        self._resync = False
        #: bus subjects whose local holders left, not yet released (subject -> how many)
        self._releasing: dict[str, int] = {}
        self.sent = 0
        self.received = 0
        #: forwarded requests (StreamRelay): served here, and ours awaiting an answer
        self.call_timeout = CALL_TIMEOUT
        self._handler: RelayHandler | None = None
        self._calls: dict[str, list[Any]] = {}
        self._serving = 0
        self._nursery: trio.Nursery | None = None
        backend.start(self._receive, self._connected)
        backend.subscribe(NODE_SUBJECT + self.node_id)
        backend.subscribe(MEMBERS_SUBJECT)
        backend.subscribe(CONTROL_SUBJECT)
        backend.subscribe(PRESENCE_SUBJECT)

    # -- interest ----------------------------------------------------------------------------
    def interest(self, entry: Sequence[str], gained: bool) -> None:
        """A trie entry gained or lost a local holder. Losses are released on the bus by
        the link's task, after the current one yields: an unsubscribe and subscribe of
        the same pattern in one step (an idempotent re-subscribe) leave the bus
        subscription in place, so nothing another node publishes meanwhile is lost."""
        subject = bus_subject(entry)
        if not gained:
            self._releasing[subject] = self._releasing.get(subject, 0) + 1
            self._wake.set()
            return
        pending = self._releasing.get(subject, 0)
        if pending:  # lost and gained again in the same step: still held on the bus
            if pending == 1:
                del self._releasing[subject]
            else:
                self._releasing[subject] = pending - 1
            return
        if self.backend.subscribe(subject):
            # What this node saw of these channels before may be stale: start over.
            parts = subject.split(".")
            for key, released in self.sequencer.forget(
                lambda k: matches(parts, channel_topic(k[0], "x", k[1]).split("."))
            ):
                self._release(key, released)

    def release_interest(self) -> None:
        """Leave the bus subjects whose last local holder left (the task does this)."""
        releasing, self._releasing = self._releasing, {}
        for subject, n in releasing.items():
            for _ in range(n):
                self.backend.unsubscribe(subject)

    # -- outgoing ----------------------------------------------------------------------------
    def _send(self, subject: str, payload: bytes) -> None:
        self.sent += 1
        self.backend.publish(subject, payload)

    def send_event(self, topic: str, frame: bytes, members_of: str | None) -> None:
        self._send(topic, b"E" + (members_of or "").encode() + b"\n" + frame)

    def send_ephemeral(
        self, topic: str, org: str, channel_id: str, frame: bytes, except_user: str | None
    ) -> None:
        self._send(topic, b"X" + orjson.dumps([org, channel_id, except_user]) + b"\n" + frame)

    def send_presence(self, entries: list[list[Any]]) -> None:
        """Local status changes of users (``Presence.flush``) for the other nodes."""
        self._send(PRESENCE_SUBJECT, b"P" + orjson.dumps([self.node_id, entries]))

    def send_resync(self) -> None:
        self._send(CONTROL_SUBJECT, b"R")

    def send_disconnect(self, org: str, user_id: str, code: CloseCode, reason: str) -> None:
        self._send(CONTROL_SUBJECT, b"D" + orjson.dumps([org, user_id, int(code), reason]))

    def local_channel_events(self, events: Sequence[ChannelEvent]) -> None:
        """Committed here: on the bus, then through the sequencer like any other."""
        now = trio.current_time()
        for ev in events:
            item = _channel_item(ev)
            event, target, frame = item
            header = orjson.dumps([ev.org, ev.channel_id, ev.seq, event, target])
            self._send(ev.topic, b"C" + header + b"\n" + frame)
            if target is not None:
                added = event == EventName.MEMBER_ADDED
                self._send(
                    MEMBERS_SUBJECT, b"M" + orjson.dumps([ev.org, ev.channel_id, target, added])
                )
            self._offer((ev.org, ev.channel_id), ev.seq, item, now)

    # -- incoming ----------------------------------------------------------------------------
    def _receive(self, subject: str, payload: bytes) -> None:
        self.received += 1
        kind = payload[:1]
        try:
            if kind == b"E":
                eol = payload.index(b"\n")
                members_of = payload[1:eol].decode() or None
                self.hub.deliver_event(subject, payload[eol + 1 :], members_of)
            elif kind == b"C":
                eol = payload.index(b"\n")
                org, ch, seq, event, target = orjson.loads(payload[1:eol])
                self._offer(
                    (org, ch), seq, (event, target, payload[eol + 1 :]), trio.current_time()
                )
            elif kind == b"X":
                eol = payload.index(b"\n")
                org, ch, except_user = orjson.loads(payload[1:eol])
                self.hub.deliver_ephemeral(subject, ch, payload[eol + 1 :], except_user)
            elif kind == b"M":
                org, ch, user, added = orjson.loads(payload[1:])
                if not added or not self.sequencer.tracked((org, ch)):
                    self.hub.apply_membership(org, ch, user, added)
                # else: applied when the channel event itself is delivered, in order
            elif kind == b"R":  # a node is back on the bus: what it sent meanwhile was lost
                self._resync = True
                self._wake.set()
            elif kind == b"P":
                node, entries = orjson.loads(payload[1:])
                self._heard(node)
                self.hub.presence.remote(node, entries)
            elif kind == b"H":  # a node's heartbeat
                self._heard(payload[1:].decode())
            elif kind == b"S":  # a node joined: tell it who is connected here
                self._heard(payload[1:].decode())
                snapshot = self.hub.presence.local_snapshot()
                if snapshot:
                    self.send_presence(snapshot)
            elif kind == b"D":
                org, user, code, reason = orjson.loads(payload[1:])
                self.hub.disconnect_local(org, user, CloseCode(code), reason)
            elif kind == b"Q":
                call, node, request = orjson.loads(payload[1:])
                self._serve_call(str(call), str(node), request)
            elif kind == b"A":
                call, reply = orjson.loads(payload[1:])
                waiting = self._calls.get(call)
                if waiting is not None and not waiting[0].is_set():
                    waiting[1] = reply
                    waiting[0].set()
        except (ValueError, TypeError, KeyError, ClientError) as exc:
            log.warning("bus: bad message on %s: %s", subject, exc)

    def _offer(self, key: Key, seq: int, item: Item, now: float) -> None:
        released = self.sequencer.offer(key, seq, item, now)
        if released:
            self._release(key, released)
        if self.sequencer.waiting:
            self._wake.set()

    def _release(self, key: Key, released: list[tuple[int, Item]]) -> None:
        org, ch = key
        deliver = self.hub.deliver_channel
        for seq, (event, target, frame) in released:
            deliver(org, ch, seq, event, target, frame)

    def _heard(self, node: str) -> None:
        if node != self.node_id:
            self.nodes[node] = trio.current_time()

    def _connected(self) -> None:
        """(Re)connected: read what was missed, have the others read what this node could
        not send meanwhile, and ask who is connected where."""
        self._resync = True
        self._wake.set()
        self.send_resync()
        self._send(PRESENCE_SUBJECT, b"S" + self.node_id.encode())

    async def _beat(self) -> None:
        """Heartbeat on the bus; forget the presence of nodes not heard for a while."""
        while True:
            self._send(PRESENCE_SUBJECT, b"H" + self.node_id.encode())
            await trio.sleep(NODE_BEAT)
            now = trio.current_time()
            for node, heard in list(self.nodes.items()):
                if now - heard > NODE_SILENT:
                    del self.nodes[node]
                    self.hub.presence.node_gone(node)

    # -- requests to one node (StreamRelay) ------------------------------------------------
    def serve(self, handler: RelayHandler) -> None:
        self._handler = handler

    async def forward(self, node: str, request: dict[str, Any]) -> dict[str, Any]:
        call = uuid.uuid4().hex
        waiting: list[Any] = [trio.Event(), None]
        self._calls[call] = waiting
        try:
            self._send(NODE_SUBJECT + node, b"Q" + orjson.dumps([call, self.node_id, request]))
            with trio.move_on_after(self.call_timeout):
                await waiting[0].wait()
        finally:
            del self._calls[call]
        reply = waiting[1]
        if not isinstance(reply, dict):
            raise ClientError(
                ErrorCode.UNAVAILABLE,
                f"no answer from node {node}, which holds this stream "
                f"(gone or unreachable); retry later or open a new stream",
            )
        error = reply.get("error")
        if isinstance(error, dict):
            try:
                code = ErrorCode(str(error.get("code")))
            except ValueError:
                code = ErrorCode.UNAVAILABLE
            details = error.get("details")
            raise ClientError(
                code,
                str(error.get("message", "")),
                details=details if isinstance(details, dict) else None,
            )
        result = reply.get("ok")
        return result if isinstance(result, dict) else {}

    def _serve_call(self, call: str, node: str, request: Any) -> None:
        if self._nursery is None or self._handler is None or self._serving >= MAX_SERVING:
            error = {"code": ErrorCode.UNAVAILABLE, "message": f"node {self.node_id} is busy"}
            self._answer(call, node, {"error": error})
            return
        self._serving += 1
        self._nursery.start_soon(self._run_call, self._handler, call, node, request)

    async def _run_call(self, handler: RelayHandler, call: str, node: str, request: Any) -> None:
        try:
            if not isinstance(request, dict):
                raise ClientError(ErrorCode.BAD_REQUEST, "a request is a JSON object")
            reply: dict[str, Any] = {"ok": await handler(request)}
        except ClientError as exc:
            reply = {"error": {"code": exc.code, "message": exc.message, "details": exc.details}}
        except Exception:
            log.exception("bus: serving a request from node %s failed", node)
            reply = {"error": {"code": ErrorCode.INTERNAL, "message": "internal error"}}
        finally:
            self._serving -= 1
        self._answer(call, node, reply)

    def _answer(self, call: str, node: str, reply: dict[str, Any]) -> None:
        self._send(NODE_SUBJECT + node, b"A" + orjson.dumps([call, reply]))

    # -- the task: deadlines, gap reads, resync ------------------------------------------
    async def run(self) -> None:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            nursery.start_soon(self._beat)
            while True:
                with trio.move_on_at(self.sequencer.next_deadline()):
                    await self._wake.wait()
                self._wake = trio.Event()
                self.release_interest()
                now = trio.current_time()
                if self._resync:
                    self._resync = False
                    for gap in self.sequencer.resync(now):
                        nursery.start_soon(self._fill, gap)
                released, gaps = self.sequencer.due(now)
                for key, items in released:
                    self._release(key, items)
                for gap in gaps:
                    nursery.start_soon(self._fill, gap)

    async def _fill(self, gap: Gap[Key]) -> None:
        org, ch = gap.key
        try:
            events = await self.log.events_after(org, ch, gap.after, gap.limit)
        except Exception as exc:
            log.warning("bus: reading %s after seq %d failed: %s", ch, gap.after, exc)
            events = []
        stored = [(ev.seq, _channel_item(ev)) for ev in events]
        released = self.sequencer.filled(gap.key, stored, trio.current_time())
        if released:
            self._release(gap.key, released)
        self._wake.set()
