"""The load generator's shared client: control channel, stats, the raw-socket WebSocket
connection protocol (:class:`Conn`) and helpers. Used by :mod:`bench.loadgen` and its roles."""

from __future__ import annotations

import asyncio
import contextlib
import json
import resource
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import orjson

from bench import wsframe

EVENT_MARK = b'"type":"event"'
HELLO_MARK = b'"hello"'
OK_MARK = b'"ok":true'
HANDSHAKE, SETUP, COUNTING, CLOSED = range(4)

monotonic_ns = time.monotonic_ns


def emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 20
    if soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def cpu_seconds() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


class Control:
    """stdin commands, read on a thread and handed to the loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.events: dict[str, asyncio.Event] = {
            k: asyncio.Event() for k in ("go", "pubdone", "stop")
        }
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        # The loop may be closed by the time a command (or EOF) arrives: ignore it then.
        with contextlib.suppress(RuntimeError, ValueError, OSError):
            for line in sys.stdin:
                cmd = line.strip()
                if cmd in self.events:
                    self.loop.call_soon_threadsafe(self.events[cmd].set)
            self.loop.call_soon_threadsafe(self.events["stop"].set)

    async def wait(self, name: str, within: float) -> bool:
        try:
            await asyncio.wait_for(self.events[name].wait(), max(within, 0.0))
        except TimeoutError:
            return False
        return True


def make_headers(spec: dict[str, Any], idx: int) -> dict[str, str]:
    auth = spec.get("auth")
    if not auth:
        return {}
    from parley.broker.auth import issue_token

    token = issue_token(
        auth["secret"],
        sub=auth["prefix"] if auth.get("exact_sub") else f"{auth['prefix']}{idx}",
        org=auth["org"],
        ttl=float(auth.get("ttl", 3600)),
        roles=auth.get("roles", ["service"]),
    )
    return {"Authorization": f"Bearer {token}"}


class Stats:
    """Per-process counters shared by all connections of a ``sub``/``idle`` generator."""

    def __init__(self, n_conns: int) -> None:
        self.n_conns = n_conns
        self.total = 0
        self.first_ns = 0
        self.last_ns = 0
        self.conns_done = 0
        self.closed: dict[str, int] = {}
        self.errors: list[str] = []
        self.non_events = 0
        self.other_types: dict[str, str] = {}
        self.out_of_order = 0
        self.all_done = asyncio.Event()
        self.hist: Any = None

    def error(self, msg: str) -> None:
        if len(self.errors) < 20:
            self.errors.append(msg)


class Conn(asyncio.Protocol):
    """One bench WebSocket connection: handshake, hello, subscribe, then count events."""

    def __init__(
        self,
        stats: Stats,
        request: bytes,
        accept: bytes,
        patterns: list[str],
        expected: int,
        sampled: bool,
        recover: dict[str, Any] | None = None,
    ) -> None:
        self.stats = stats
        self.request = request
        self.accept = accept
        self.patterns = patterns
        self.expected = expected
        self.sampled = sampled
        self.recover = recover
        self.state = HANDSHAKE
        self.buf = b""
        self.transport: asyncio.Transport | None = None
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.pending_acks: set[int] = set()
        self.received = 0
        self.last_seq = -1
        self.reply: dict[str, Any] | None = None
        self.t_cmd_ns = 0
        self.t_reply_ns = 0

    # -- asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.state != CLOSED:
            self.state = CLOSED
            key = "lost" if exc is None else f"lost:{type(exc).__name__}"
            self.stats.closed[key] = self.stats.closed.get(key, 0) + 1
        if not self.ready.done():
            self.ready.set_exception(ConnectionError("connection lost during setup"))

    def data_received(self, data: bytes) -> None:
        if self.state == HANDSHAKE:
            buf = self.buf + data
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                self.buf = buf
                return
            try:
                wsframe.check_response(buf[:end], self.accept)
            except wsframe.HandshakeError as exc:
                self._fail(f"handshake: {exc}")
                return
            self.state = SETUP
            self.buf = b""
            data = buf[end + 4 :]
            if not data:
                return
        now = monotonic_ns()
        buf = self.buf + data if self.buf else data
        n = len(buf)
        i = 0
        events = 0
        while n - i >= 2:
            b0 = buf[i]
            ln = buf[i + 1] & 0x7F
            h = i + 2
            if ln >= 126:
                if ln == 126:
                    if n - i < 4:
                        break
                    ln = (buf[i + 2] << 8) | buf[i + 3]
                    h = i + 4
                else:
                    if n - i < 10:
                        break
                    ln = int.from_bytes(buf[i + 2 : i + 10], "big")
                    h = i + 10
            end = h + ln
            if end > n:
                break
            if b0 == 0x81 and self.state == COUNTING and buf.find(EVENT_MARK, h, end) >= 0:
                events += 1
                if self.sampled:
                    self._sample(buf[h:end], now)
            else:
                self._frame(b0, buf[h:end])
            i = end
        self.buf = buf[i:] if i < n else b""
        if events:
            st = self.stats
            if not st.first_ns:
                st.first_ns = now
            st.last_ns = now
            st.total += events
            before = self.received
            self.received = before + events
            if before < self.expected <= self.received:
                st.conns_done += 1
                if st.conns_done >= st.n_conns:
                    st.all_done.set()

    # -- slow paths
    def _sample(self, payload: bytes, now: int) -> None:
        try:
            msg = orjson.loads(payload)
            data = msg["data"]
            sent = int(data["t"])
            seq = int(data["seq"])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            self.stats.error(f"unparsable event: {payload[:120]!r}")
            return
        if self.stats.hist is not None:
            self.stats.hist.record_value(max(1, (now - sent) // 1000))
        if seq <= self.last_seq and not self.patterns_overlap():
            self.stats.out_of_order += 1
        self.last_seq = seq

    def patterns_overlap(self) -> bool:
        return len(self.patterns) > 1

    def _frame(self, b0: int, payload: bytes) -> None:
        op = b0 & 0x0F
        if op == wsframe.OP_PING:
            self._send(wsframe.OP_PONG, payload)
        elif op == wsframe.OP_PONG:
            pass
        elif op == wsframe.OP_CLOSE:
            code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
            reason = payload[2:].decode("utf-8", "replace")
            key = f"close:{code}"
            self.stats.closed[key] = self.stats.closed.get(key, 0) + 1
            if len(self.stats.errors) < 20:
                self.stats.error(f"server closed {code} {reason}")
            self.state = CLOSED
            if not self.ready.done():
                self.ready.set_exception(ConnectionError(f"closed {code} {reason}"))
            if self.transport is not None:
                with contextlib.suppress(Exception):
                    self.transport.write(
                        wsframe.encode_frame(wsframe.OP_CLOSE, payload[:2], mask=True)
                    )
                self.transport.close()
        elif op == wsframe.OP_TEXT and b0 & 0x80:
            self._text(payload)
        else:
            self.stats.error(f"unexpected frame opcode {op} fin {bool(b0 & 0x80)}")

    def _text(self, payload: bytes) -> None:
        if self.state == COUNTING:
            self._other(payload)
            return
        try:
            msg = orjson.loads(payload)
        except orjson.JSONDecodeError:
            self._fail(f"bad JSON in setup: {payload[:120]!r}")
            return
        if not isinstance(msg, dict):
            self._fail(f"non-object frame in setup: {payload[:120]!r}")
            return
        if msg.get("type") == "hello" and not self.pending_acks:
            if not self.patterns and self.recover is None:
                self._ready()
                return
            if self.recover is not None:
                cmd = {"id": 1, **self.recover}
                self.pending_acks.add(1)
                self.t_cmd_ns = monotonic_ns()
                self._send(wsframe.OP_TEXT, orjson.dumps(cmd))
                return
            out = []
            for k, pattern in enumerate(self.patterns, 1):
                self.pending_acks.add(k)
                out.append(
                    wsframe.encode_frame(
                        wsframe.OP_TEXT,
                        orjson.dumps({"id": k, "op": "subscribe", "topic": pattern}),
                        mask=True,
                    )
                )
            if self.transport is not None:
                self.transport.write(b"".join(out))
            return
        rid = msg.get("id")
        if isinstance(rid, int) and rid in self.pending_acks:
            if msg.get("ok") is not True:
                self._fail(f"refused: {payload[:200]!r}")
                return
            self.pending_acks.discard(rid)
            self.reply = msg
            self.t_reply_ns = monotonic_ns()
            if not self.pending_acks:
                self._ready()
            return
        if self.recover is not None and msg.get("type") == "event":
            # Recovery replays may arrive before the reply: count them as events.
            self.received += 1
            self.stats.total += 1
            return
        self._other(payload)

    def _other(self, payload: bytes) -> None:
        """A frame that is neither an event nor a reply we wait for (e.g. a presence push):
        counted and sampled by type, not an error."""
        st = self.stats
        st.non_events += 1
        kind = "?"
        with contextlib.suppress(orjson.JSONDecodeError, AttributeError):
            kind = str(orjson.loads(payload).get("type", "?"))
        if kind not in st.other_types and len(st.other_types) < 10:
            st.other_types[kind] = payload[:200].decode("utf-8", "replace")

    def _ready(self) -> None:
        self.state = COUNTING
        if not self.ready.done():
            self.ready.set_result(None)
        if self.expected <= self.received:
            st = self.stats
            st.conns_done += 1
            if st.conns_done >= st.n_conns:
                st.all_done.set()

    def _send(self, op: int, payload: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(wsframe.encode_frame(op, payload, mask=True))

    def _fail(self, msg: str) -> None:
        self.stats.error(msg)
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(msg))
        if self.transport is not None:
            self.transport.close()

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            with contextlib.suppress(Exception):
                self.transport.write(
                    wsframe.encode_frame(wsframe.OP_CLOSE, (1000).to_bytes(2, "big"), mask=True)
                )
            self.state = CLOSED
            self.transport.close()


async def open_conns(
    spec: dict[str, Any],
    make: Callable[[int, bytes, bytes], Conn],
    n: int,
    stats: Stats,
    indices: list[int] | None = None,
) -> tuple[list[Conn], float]:
    """Open ``n`` connections (bounded concurrency, bounded time); return the ready ones.
    ``indices``: the client numbers to open (default ``range(n)``; a token's ``sub`` is
    numbered by them). Requests (and their tokens) are built before the clock starts: the
    time measured is the server's accepting, not the load generator signing tokens."""
    loop = asyncio.get_running_loop()
    host, port, path = spec["host"], int(spec["port"]), spec.get("path", "/ws")
    sem = asyncio.Semaphore(int(spec.get("connect_concurrency", 100)))
    numbers = list(range(n)) if indices is None else indices
    conns: list[Conn | None] = [None] * len(numbers)
    per_conn_timeout = float(spec.get("per_conn_timeout", 30.0))
    requests = [wsframe.client_request(host, port, path, make_headers(spec, i)) for i in numbers]

    async def one(k: int) -> None:
        i = numbers[k]
        async with sem:
            req, acc = requests[k]
            conn = make(i, req, acc)
            try:
                await asyncio.wait_for(
                    loop.create_connection(lambda: conn, host, port), per_conn_timeout
                )
                await asyncio.wait_for(asyncio.shield(conn.ready), per_conn_timeout)
            except (OSError, ConnectionError, TimeoutError) as exc:
                stats.error(f"conn {i}: {type(exc).__name__}: {exc}")
                conn.close()
                return
            conns[k] = conn

    t0 = time.monotonic()
    tasks = [asyncio.create_task(one(k)) for k in range(len(numbers))]
    _, pending = await asyncio.wait(tasks, timeout=float(spec.get("connect_timeout", 120.0)))
    for t in pending:
        t.cancel()
    if pending:
        stats.error(f"{len(pending)} connections not ready before connect_timeout")
        await asyncio.gather(*pending, return_exceptions=True)
    return [c for c in conns if c is not None], time.monotonic() - t0


def hist() -> Any:
    from hdrh.histogram import HdrHistogram

    return HdrHistogram(1, 120_000_000, 3)
