"""The Parley client on trio: one WebSocket (trio-websocket) that reconnects by itself and
resumes every channel with no gap and no duplicate, following the reconnect recipe of
docs/protocol.md. The sans-IO parts live beside it: positions and dedupe in
:mod:`parley.client.tracker`, the wait between attempts in :mod:`parley.client.backoff`."""

from __future__ import annotations

import contextlib
import logging
import math
import random
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from enum import Enum
from typing import Any
from urllib.parse import urlsplit

import orjson
import trio
import trio_websocket

from parley.client.backoff import Backoff
from parley.client.errors import CommandError, ConnectionLost, ReplyTimeout, Stopped
from parley.client.events import (
    ChannelEvent,
    Event,
    Hello,
    PresenceUpdate,
    parse_event,
    parse_hello,
    parse_presence,
)
from parley.client.patterns import covers_channel_log, matches_channel_log
from parley.client.rest import Rest
from parley.client.subscription import Subscription
from parley.client.tokens import Tokens, TokenSource
from parley.client.tracker import Tracker
from parley.client.transport import (
    CLOSE_GRACE,
    close_code,
    close_reason,
    close_within,
    open_stream,
)
from parley.core.codes import ABNORMAL_CLOSURE, CloseAction, CloseCode, close_action
from parley.core.errors import ClientError
from parley.core.topics import parse_pattern

log = logging.getLogger("parley.client")

#: Channels per ``subscribe`` the server replays, and ``since`` entries it takes
#: (docs/protocol.md, "Recovery after reconnect").
RECOVER_BATCH = 100
MAX_SINCE = 1000
#: Frames a server may send us (its own limit on what it sends is far below).
MAX_MESSAGE_BYTES = 16 << 20


class State(Enum):
    CONNECTING = "connecting"  # no connection yet, or between attempts
    RESUMING = "resuming"  # connected, re-subscribing and replaying
    OPEN = "open"  # resumed: commands go out at once
    STOPPED = "stopped"  # closed by the application or by a "stop" close code


@dataclass(eq=False)
class _Pending:
    id: int
    body: dict[str, Any]
    #: Safe to send again on a new connection (idempotent, or keyed by idempotency_key).
    resend: bool
    done: trio.Event = field(default_factory=trio.Event)
    reply: dict[str, Any] | None = None
    error: BaseException | None = None
    #: The connection number it was sent on (0: not sent).
    sent_on: int = 0
    internal: bool = False


@dataclass(frozen=True, slots=True)
class Posted:
    """The reply to ``post`` / ``reply``."""

    message_id: str
    seq: int
    ts: str
    channel: str
    created: bool


class Client:
    """Use :func:`connect`. Every method is safe to call from any task of the trio run."""

    def __init__(
        self,
        url: str,
        token: TokenSource,
        *,
        http_url: str | None = None,
        reply_timeout: float | None = 30.0,
        backoff: Backoff | None = None,
        refresh_margin: float = 60.0,
        rng: random.Random | None = None,
        connect_timeout: float = 10.0,
    ) -> None:
        self.url = url
        self.connect_timeout = connect_timeout
        self.reply_timeout = reply_timeout
        self.backoff = backoff or Backoff()
        self._tokens = Tokens(token, margin=refresh_margin)
        self._rng = rng or random.Random()
        self.rest: Rest | None = Rest(http_url, self._tokens) if http_url else None
        self.state = State.CONNECTING
        self.hello: Hello | None = None
        #: Connections made so far (each ``hello`` counts one).
        self.connections = 0
        self._ws: trio_websocket.WebSocketConnection | None = None
        self._send_lock = trio.Lock()
        self._next_id = 1
        self._pending: dict[int, _Pending] = {}
        self._patterns: dict[str, int] = {}  # pattern -> local subscriptions holding it
        self._subs: list[Subscription] = []
        self._presence: list[trio.MemorySendChannel[PresenceUpdate]] = []
        self._tracker: Tracker[ChannelEvent] = Tracker(detect_gaps=False)
        self._open = trio.Event()
        self._changed = trio.Event()  # the queue or the gaps changed
        self._stopped: Stopped | None = None
        #: What our own close fails pending commands with; a task that sees it (a resume
        #: under way at the close) is ending as asked, not failing.
        self._closed_by_us = Stopped(None, "closed by the client")
        self._away = False
        self._run_scope = trio.CancelScope()

    # -- public API ---------------------------------------------------------------
    def subscribe(self, pattern: str) -> Subscription:
        """``async for event in client.subscribe("events.acme.conversations.>")``; a
        pattern that breaks the topic grammar raises CommandError ``invalid_topic``."""
        try:
            return Subscription(self, pattern)
        except ClientError as exc:
            raise CommandError(exc.code, exc.message) from None

    @property
    def positions(self) -> dict[str, int]:
        """The last seq handed out per channel (what a reconnect resumes from)."""
        return dict(self._tracker.positions)

    async def post(
        self,
        channel: str,
        text: str,
        *,
        idempotency_key: str | None = None,
    ) -> Posted:
        """Post a message over the WebSocket. Queued while offline and sent again after a
        reconnect with the same idempotency key, so it is stored once."""
        key = idempotency_key or uuid.uuid4().hex
        body = {"op": "post", "channel": channel, "text": text, "idempotency_key": key}
        return _posted(await self._call(body, resend=True))

    async def reply(
        self,
        channel: str,
        root: str,
        text: str,
        *,
        also_send_to_channel: bool = False,
        idempotency_key: str | None = None,
    ) -> Posted:
        body = {
            "op": "reply",
            "channel": channel,
            "root": root,
            "text": text,
            "also_send_to_channel": also_send_to_channel,
            "idempotency_key": idempotency_key or uuid.uuid4().hex,
        }
        return _posted(await self._call(body, resend=True))

    async def react(
        self, channel: str, message_id: str, emoji: str, *, remove: bool = False
    ) -> list[dict[str, Any]]:
        body = {
            "op": "react",
            "channel": channel,
            "message_id": message_id,
            "emoji": emoji,
            "remove": remove,
        }
        reactions: list[dict[str, Any]] = (await self._call(body, resend=True))["reactions"]
        return reactions

    async def edit(self, channel: str, message_id: str, text: str) -> dict[str, Any]:
        body = {"op": "edit", "channel": channel, "message_id": message_id, "text": text}
        return await self._call(body, resend=True)

    async def delete(self, channel: str, message_id: str) -> dict[str, Any]:
        body = {"op": "delete", "channel": channel, "message_id": message_id}
        return await self._call(body, resend=True)

    async def read(self, channel: str, seq: int) -> int:
        """Move the read position forward; returns the position in force."""
        reply = await self._call({"op": "read", "channel": channel, "seq": seq}, resend=True)
        return int(reply["read_seq"])

    async def publish(self, topic: str, data: Any) -> int:
        """Publish an event (not stored, never recovered); returns local deliveries. Not
        resent after a reconnect: a drop before the reply raises ConnectionLost."""
        reply = await self._call({"op": "publish", "topic": topic, "data": data}, resend=False)
        return int(reply["deliveries"])

    async def typing(self, channel: str) -> bool:
        """Tell the channel's other members you are typing (not queued while offline)."""
        reply = await self._call({"op": "typing", "channel": channel}, resend=False, queue=False)
        return bool(reply["sent"])

    async def set_presence(self, status: str) -> str:
        """``online`` or ``away`` for this connection (kept across reconnects); returns the
        user's status over all connections."""
        if status not in ("online", "away"):
            raise ValueError("status must be 'online' or 'away'")
        self._away = status == "away"
        reply = await self._call({"op": "presence", "status": status}, resend=True)
        return str(reply["status"])

    async def ping(self) -> str:
        return str((await self._call({"op": "ping"}, resend=True))["ts"])

    @asynccontextmanager
    async def presence(self) -> AsyncIterator[trio.MemoryReceiveChannel[PresenceUpdate]]:
        """``async with client.presence() as updates: async for update in updates``."""
        send, recv = trio.open_memory_channel[PresenceUpdate](math.inf)
        self._presence.append(send)
        try:
            yield recv
        finally:
            self._presence.remove(send)
            send.close()

    async def wait_open(self) -> None:
        """Until the client is connected and resumed (raises Stopped if it never will)."""
        while True:
            if self._stopped is not None:
                raise self._stopped
            if self.state is State.OPEN:
                return
            await self._open.wait()

    async def aclose(self) -> None:
        """Close the connection (1000) and end every subscription; pending commands raise
        Stopped."""
        if self.state is not State.STOPPED:
            self._stop(self._closed_by_us, ended=True)
        ws, self._ws = self._ws, None
        if ws is not None:
            await close_within(ws, 1000)
        self._run_scope.cancel()
        if self.rest is not None:
            await self.rest.aclose()

    # -- commands -----------------------------------------------------------------
    async def _call(
        self,
        body: dict[str, Any],
        *,
        resend: bool,
        queue: bool = True,
        internal: bool = False,
    ) -> dict[str, Any]:
        """Send a command and wait for its reply (``ok: false`` raises CommandError).
        Offline, it waits in the queue (``queue``) or fails at once."""
        if self._stopped is not None:
            raise self._stopped
        p = _Pending(self._next_id, body, resend, internal=internal)
        self._next_id += 1
        if not internal and self.state is not State.OPEN and not queue:
            raise ConnectionLost("not connected")
        self._pending[p.id] = p
        try:
            within = math.inf if self.reply_timeout is None else self.reply_timeout
            with trio.move_on_after(within) as scope:
                if internal or self.state is State.OPEN:
                    await self._send(p)
                else:
                    self._changed.set()  # flushed when the connection opens
                await p.done.wait()
            if scope.cancelled_caught:
                raise ReplyTimeout(f"no reply to {body.get('op')!r} in time")
        finally:
            self._pending.pop(p.id, None)
        if p.error is not None:
            raise p.error
        assert p.reply is not None
        if not p.reply.get("ok"):
            raise CommandError.from_body(p.reply)
        return p.reply

    async def _send(self, p: _Pending) -> None:
        ws = self._ws
        if ws is None:
            return  # dropped meanwhile: requeued or failed when the session ends
        p.sent_on = self.connections
        async with self._send_lock:
            with contextlib.suppress(trio_websocket.ConnectionClosed):  # the reader sees it
                await ws.send_message(orjson.dumps({"id": p.id, **p.body}).decode())

    async def _flush(self) -> None:
        """Send what waited for the connection, in the order it was asked."""
        for p in sorted(self._pending.values(), key=lambda p: p.id):
            if p.sent_on == 0 and not p.internal and not p.done.is_set():
                await self._send(p)

    # -- subscriptions ------------------------------------------------------------
    async def _attach(self, sub: Subscription) -> None:
        if self._stopped is not None:
            raise self._stopped
        self._subs.append(sub)
        held = self._patterns.get(sub.pattern, 0)
        self._patterns[sub.pattern] = held + 1
        self._patterns_changed()
        if held:
            return
        try:
            # Idempotent on the server, so safe to resend; a resume subscribes it too.
            await self._call({"op": "subscribe", "topic": sub.pattern}, resend=True)
        except BaseException:
            self._subs.remove(sub)
            self._release(sub.pattern)
            raise

    async def _detach(self, sub: Subscription) -> None:
        if sub in self._subs:
            self._subs.remove(sub)
            if self._release(sub.pattern) and self.state is State.OPEN:
                # Best effort: gone anyway, a later connection will not subscribe it.
                with contextlib.suppress(CommandError, ConnectionLost, Stopped, ReplyTimeout):
                    await self._call({"op": "unsubscribe", "topic": sub.pattern}, resend=False)

    def _release(self, pattern: str) -> bool:
        held = self._patterns.get(pattern, 0) - 1
        if held > 0:
            self._patterns[pattern] = held
            return False
        self._patterns.pop(pattern, None)
        self._patterns_changed()
        return True

    def _patterns_changed(self) -> None:
        # Gaps are told from skipped seqs only when some pattern covers the whole log.
        self._tracker.detect_gaps = any(
            covers_channel_log(parse_pattern(p)) for p in self._patterns
        )

    # -- frames -------------------------------------------------------------------
    def _on_text(self, text: str | bytes) -> None:
        try:
            msg = orjson.loads(text)
        except orjson.JSONDecodeError:
            log.warning("dropped a frame that is not JSON")
            return
        if not isinstance(msg, dict):
            return
        if "ok" in msg and "id" in msg:
            p = self._pending.get(msg["id"]) if isinstance(msg["id"], int) else None
            if p is not None and not p.done.is_set():
                if p.body.get("op") == "subscribe":
                    self._apply_recovery(msg)  # in order with the replayed events
                p.reply = msg
                p.done.set()
            return
        kind = msg.get("type")
        if kind == "event":
            ev = parse_event(msg)
            if isinstance(ev, ChannelEvent):
                for out in self._tracker.offer(ev.channel, ev.seq, ev):
                    self._dispatch(out)
                if self._tracker.aside and self._tracker.detect_gaps:
                    self._changed.set()
            else:
                self._dispatch(ev)
        elif kind == "presence":
            update = parse_presence(msg)
            for sink in self._presence:
                sink.send_nowait(update)

    def _dispatch(self, ev: Event | ChannelEvent) -> None:
        topic = ev.topic.split(".")
        for sub in self._subs:
            if sub.wants(topic):
                sub.put(ev)

    def _apply_recovery(self, reply: dict[str, Any]) -> None:
        recovery = reply.get("recovery")
        if not reply.get("ok") or not isinstance(recovery, dict):
            return
        for channel, r in recovery.items():
            if "error" in r:
                if r["error"].get("code") == "not_found":
                    self._tracker.forget(channel)
                continue
            complete = bool(r.get("recovered"))
            for ev in self._tracker.settle(channel, int(r["replayed_to"]), complete=complete):
                self._dispatch(ev)
            if not complete:
                self._changed.set()

    # -- the connection loop ------------------------------------------------------
    async def _run(self) -> None:
        """Connect, resume, serve; on a close do what its code says (docs/protocol.md)."""
        failures = 0
        action = CloseAction.RECONNECT
        first = True
        with self._run_scope:
            while self._stopped is None:
                if not first:
                    await trio.sleep(self.backoff.delay(failures, action, self._rng))
                first = False
                try:
                    token = await self._tokens.current(fresh=action is CloseAction.REFRESH)
                except Exception as exc:
                    log.warning("the token callable failed: %r", exc)
                    failures, action = failures + 1, CloseAction.BACKOFF
                    continue
                code, reason, opened = await self._session(token)
                if self._stopped is not None:
                    return
                action = close_action(code)
                log.info("connection closed %s %s: %s", code, reason, action.value)
                refresh_stuck = action is CloseAction.REFRESH and not self._tokens.refreshable
                if action is CloseAction.STOP or refresh_stuck:
                    self._stop(Stopped(code, reason or "closed"), ended=False)
                    return
                failures = 0 if opened else failures + 1

    async def _session(self, token: str) -> tuple[int, str, bool]:
        """One connection: (close code, reason, whether it got as far as open)."""
        # ``outer`` holds trio-websocket's own reader, which closes the TCP stream after the
        # close handshake; ours run in ``inner``, cancelled when the connection closes.
        rejected: list[int] = []
        try:
            async with trio.open_nursery() as outer:
                result = await self._connected(outer, token)
                outer.cancel_scope.deadline = trio.current_time() + CLOSE_GRACE
        except* trio_websocket.ConnectionRejected as group:
            # Raised by trio-websocket's reader task: the server answered with HTTP.
            rejected.extend(getattr(e, "status_code", 0) for e in group.exceptions)
        if rejected:
            status = rejected[0]
            if 400 <= status < 500 and status != 429:
                # Not a Parley endpoint (404), or a request it refuses: stop.
                return CloseCode.POLICY_VIOLATION, f"HTTP {status}", False
            return ABNORMAL_CLOSURE, f"HTTP {status}", False
        return result

    async def _connected(self, outer: trio.Nursery, token: str) -> tuple[int, str, bool]:
        headers = [(b"authorization", f"Bearer {token}".encode())]
        try:
            with trio.fail_after(self.connect_timeout):
                stream = await open_stream(self.url)
        except (OSError, trio.TooSlowError) as exc:
            return ABNORMAL_CLOSURE, str(exc) or type(exc).__name__, False
        # We own the TCP stream: trio-websocket leaves a client's open after a close
        # the server started, so it is closed here, whatever happens.
        try:
            return await self._handshake(outer, stream, headers)
        finally:
            with trio.CancelScope(shield=True):
                await stream.aclose()

    async def _handshake(
        self,
        outer: trio.Nursery,
        stream: trio.SocketStream | trio.SSLStream[trio.SocketStream],
        headers: list[tuple[bytes, bytes]],
    ) -> tuple[int, str, bool]:
        url = urlsplit(self.url)
        resource = (url.path or "/") + (f"?{url.query}" if url.query else "")
        try:
            with trio.fail_after(self.connect_timeout):
                ws = await trio_websocket.wrap_client_stream(
                    outer,
                    stream,
                    url.netloc,
                    resource,
                    extra_headers=headers,
                    max_message_size=MAX_MESSAGE_BYTES,
                )
        except (OSError, trio_websocket.HandshakeError, trio.TooSlowError) as exc:
            return ABNORMAL_CLOSURE, str(exc) or type(exc).__name__, False
        try:
            with trio.fail_after(self.connect_timeout):
                first = orjson.loads(await ws.get_message())
            if not isinstance(first, dict) or first.get("type") != "hello":
                raise ValueError("the first frame is not hello")
        except trio_websocket.ConnectionClosed as exc:
            return close_code(exc), close_reason(exc), False
        except (ValueError, trio.TooSlowError) as exc:
            await close_within(ws, 1002)
            return CloseCode.PROTOCOL_ERROR, f"no hello: {exc}", False
        closed: list[tuple[int, str]] = []
        opened = False
        self._ws = ws
        self.connections += 1
        self.hello = parse_hello(first)
        self.state = State.RESUMING
        try:
            async with trio.open_nursery() as inner:

                async def reader() -> None:
                    try:
                        while True:
                            text = await ws.get_message()
                            try:
                                self._on_text(text)
                            except (KeyError, TypeError, ValueError) as exc:
                                log.warning("dropped a frame we cannot read: %r", exc)
                    except trio_websocket.ConnectionClosed as exc:
                        closed.append((close_code(exc), close_reason(exc)))
                    inner.cancel_scope.cancel()

                inner.start_soon(reader)
                try:
                    await self._resume()
                except (CommandError, ReplyTimeout) as exc:
                    # The resume did not finish (a slow replay, a refusal): start over on a
                    # new connection rather than go on with a position we cannot trust.
                    log.warning("resume failed, reconnecting: %s", exc)
                    await close_within(ws, 1000)
                    await trio.sleep_forever()  # the reader sees the close
                self.state = State.OPEN
                opened = True
                self._open.set()
                await self._flush()
                inner.start_soon(self._keepalive, ws, self.hello)
                inner.start_soon(self._refresher, self.hello)
                inner.start_soon(self._filler)
        finally:
            self._ws = None
            if self.state is not State.STOPPED:
                self.state = State.CONNECTING
                self._open = trio.Event()
            self._dropped()
            await close_within(ws, 1000)
        code, reason = closed[0] if closed else (ABNORMAL_CLOSURE, "closed by the client")
        return code, reason, opened

    def _dropped(self) -> None:
        """A connection ended: what was sent on it and is safe to resend waits for the
        next one; the rest fails (it may or may not have run)."""
        for p in list(self._pending.values()):
            if p.done.is_set() or p.sent_on == 0:
                continue
            if p.resend and not p.internal:
                p.sent_on = 0
            else:
                p.error = ConnectionLost(f"the connection dropped before the reply to {p.id}")
                p.done.set()

    async def _resume(self) -> None:
        """Re-subscribe every pattern: channel patterns with ``since`` (every tracked
        position) and, on the first, ``resume_all``; then the pages listed in ``more``."""
        if self._away:
            await self._call({"op": "presence", "status": "away"}, resend=False, internal=True)
        org = self.hello.org if self.hello else ""
        patterns = list(self._patterns)
        # Widest first: a narrow pattern's replay after it is all duplicates.
        patterns.sort(key=lambda p: not covers_channel_log(parse_pattern(p)))
        asked_all = False
        for pattern in patterns:
            parts = parse_pattern(pattern)
            body: dict[str, Any] = {"op": "subscribe", "topic": pattern}
            rest: list[str] = []
            if matches_channel_log(parts, org):
                since = self._tracker.since()
                chans = list(since)
                body["since"] = {ch: since[ch] for ch in chans[:MAX_SINCE]}
                rest = chans[MAX_SINCE:]
                if not asked_all and not rest:
                    # resume_all treats channels absent from since as new: only when
                    # every tracked position fits in one since.
                    body["resume_all"] = True
                    asked_all = True
            try:
                reply = await self._call(body, resend=False, internal=True)
            except CommandError as exc:
                self._refused(pattern, exc)
                continue
            more = [*reply.get("more", []), *rest]
            while more:
                batch, more = more[:RECOVER_BATCH], more[RECOVER_BATCH:]
                known = self._tracker.positions
                since_batch: dict[str, int | None] = {ch: known.get(ch) for ch in batch}
                page = {"op": "subscribe", "topic": pattern, "since": since_batch}
                reply = await self._call(page, resend=False, internal=True)
                more.extend(reply.get("more", []))

    def _refused(self, pattern: str, exc: CommandError) -> None:
        """The server no longer accepts a pattern (e.g. a grant expired): end its
        subscriptions with the error."""
        self._patterns.pop(pattern, None)
        self._patterns_changed()
        for sub in [s for s in self._subs if s.pattern == pattern]:
            self._subs.remove(sub)
            sub.fail(exc)

    async def _filler(self) -> None:
        """Fill gaps seen on the live connection: re-subscribe a pattern that covers the
        channel log with ``since`` the last position of each gapped channel."""
        while True:
            await self._changed.wait()
            self._changed = trio.Event()
            await self._flush()
            gapped = self._tracker.gaps()
            cover = next((p for p in self._patterns if covers_channel_log(parse_pattern(p))), None)
            if not gapped or cover is None:
                continue
            for i in range(0, len(gapped), RECOVER_BATCH):
                since = self._tracker.since(gapped[i : i + RECOVER_BATCH])
                if since:
                    body = {"op": "subscribe", "topic": cover, "since": since}
                    try:
                        await self._call(body, resend=False, internal=True)
                    except (CommandError, ReplyTimeout) as exc:
                        log.warning("gap fill failed: %s", exc)
                        await trio.sleep(1.0)
                        self._changed.set()

    async def _keepalive(self, ws: trio_websocket.WebSocketConnection, hello: Hello) -> None:
        """Ping the server; no pong in time means a dead link: close, then reconnect."""
        interval = float(hello.keepalive.get("interval", 25.0))
        timeout = float(hello.keepalive.get("timeout", 10.0))
        while True:
            await trio.sleep(interval)
            with trio.move_on_after(timeout) as scope:
                try:
                    await ws.ping()
                except trio_websocket.ConnectionClosed:
                    return
            if scope.cancelled_caught:
                log.info("no pong in %.0f s: reconnecting", timeout)
                await ws.aclose(1000, "no pong")
                return

    async def _refresher(self, hello: Hello) -> None:
        """Replace the token before it expires (``refresh`` op), when the source can."""
        expires_at = float(hello.expires_at)
        while True:
            wait = self._tokens.refresh_in(expires_at)
            if wait is None:
                return
            await trio.sleep(wait)
            try:
                token = await self._tokens.current(fresh=True)
                reply = await self._call({"op": "refresh", "token": token}, resend=False)
            except (CommandError, ReplyTimeout, ConnectionLost) as exc:
                log.warning("token refresh failed (the server closes with 4002): %s", exc)
                return
            expires_at = float(reply["expires_at"])

    def _stop(self, error: Stopped, *, ended: bool) -> None:
        """No more connections: fail what waits; subscriptions end (normally when the
        application closed the client, else with the error)."""
        self._stopped = error
        self.state = State.STOPPED
        self._open.set()
        for p in list(self._pending.values()):
            if not p.done.is_set():
                p.error = error
                p.done.set()
        for sub in self._subs:
            sub.fail(None if ended else error)
        self._subs.clear()
        for sink in self._presence:
            sink.close()


def _posted(reply: dict[str, Any]) -> Posted:
    return Posted(
        message_id=reply["message_id"],
        seq=int(reply["seq"]),
        ts=reply["ts"],
        channel=reply["channel"],
        created=bool(reply.get("created", True)),
    )


@asynccontextmanager
async def connect(
    url: str,
    *,
    token: TokenSource,
    http_url: str | None = None,
    reply_timeout: float | None = 30.0,
    backoff: Backoff | None = None,
    refresh_margin: float = 60.0,
    rng: random.Random | None = None,
    connect_timeout: float = 10.0,
) -> AsyncIterator[Client]:
    """``async with connect("ws://127.0.0.1:8765/ws", token=...) as client``: returns once
    connected (retrying transient failures with backoff); raises Stopped if the server
    refuses for good (a bad token: 1008)."""
    client = Client(
        url,
        token,
        http_url=http_url,
        reply_timeout=reply_timeout,
        backoff=backoff,
        refresh_margin=refresh_margin,
        rng=rng,
        connect_timeout=connect_timeout,
    )
    body_done = False
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(client._run)
            try:
                await client.wait_open()
                yield client
                body_done = True
            finally:
                with trio.CancelScope(shield=True):
                    await client.aclose()
    except BaseExceptionGroup as group:
        # The block ended and we closed: a resume cut short by that close is not an error.
        _, rest = group.split(lambda exc: body_done and exc is client._closed_by_us)
        if rest is not None:
            raise _unwrap(rest) from None


def _unwrap(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The application's own error, not an ExceptionGroup from our nursery (STYLE 11)."""
    while isinstance(group, BaseExceptionGroup) and len(group.exceptions) == 1:
        inner = group.exceptions[0]
        if not isinstance(inner, BaseExceptionGroup):
            return inner
        group = inner
    return group


__all__ = ["Client", "Posted", "State", "connect"]
