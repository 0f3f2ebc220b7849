"""Load generator process: ``python -m bench.loadgen`` (one per role per run).

The same minimal client drives Parley and every baseline: asyncio protocols over raw sockets
with a hand-written frame splitter (:mod:`bench.wsframe`). Hot path per frame: read the
header, check the frame is an event, count it. Only connections picked for sampling parse
the JSON, to read the publisher's send stamp and record publish->receive latency.

Control is JSON lines: the spec arrives as the first stdin line; commands (``go``,
``pubdone``, ``stop``) follow on stdin; reports (``ready``, ``done``, ``result``) go to
stdout. Every phase is bounded by a deadline from the spec.

Roles:
* ``sub``: open connections, subscribe each to its patterns, count events until every
  connection has its expected count (or the drain timeout / deadline passes).
* ``pub``: one connection; publish ``count`` messages, windowed (``window`` unacked) or
  paced (``rate`` per second, stamped with the intended send time, so a stalled server
  cannot hide latency: no coordinated omission).
* ``idle``: open connections, wait for each ``hello``, hold them until ``stop``.
* ``post``: REST posters for the ingest scenario (HTTP/1.1 keep-alive, raw sockets).
* ``wspost``: WebSocket posters for the ingest scenario (the ``post`` op, ``window`` in
  flight per connection; every reply must be ``ok`` and carry a ``seq``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
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
    from broker.auth import issue_token

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
) -> tuple[list[Conn], float]:
    """Open ``n`` connections (bounded concurrency, bounded time); return the ready ones."""
    loop = asyncio.get_running_loop()
    host, port, path = spec["host"], int(spec["port"]), spec.get("path", "/ws")
    sem = asyncio.Semaphore(int(spec.get("connect_concurrency", 100)))
    conns: list[Conn | None] = [None] * n
    per_conn_timeout = float(spec.get("per_conn_timeout", 30.0))

    async def one(i: int) -> None:
        async with sem:
            req, acc = wsframe.client_request(host, port, path, make_headers(spec, i))
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
            conns[i] = conn

    t0 = time.monotonic()
    tasks = [asyncio.create_task(one(i)) for i in range(n)]
    _, pending = await asyncio.wait(tasks, timeout=float(spec.get("connect_timeout", 120.0)))
    for t in pending:
        t.cancel()
    if pending:
        stats.error(f"{len(pending)} connections not ready before connect_timeout")
        await asyncio.gather(*pending, return_exceptions=True)
    return [c for c in conns if c is not None], time.monotonic() - t0


def _hist() -> Any:
    from hdrh.histogram import HdrHistogram

    return HdrHistogram(1, 120_000_000, 3)


async def run_sub(spec: dict[str, Any], ctl: Control) -> None:
    deadline = time.monotonic() + float(spec.get("deadline", 120.0))
    plan: list[tuple[list[str], int]] = []
    for g in spec["groups"]:
        plan.extend([(list(g["patterns"]), int(g["expected"]))] * int(g["count"]))
    n = len(plan)
    stats = Stats(n)
    sample_every = int(spec.get("sample_every", 0))
    if sample_every:
        stats.hist = _hist()
    recover = spec.get("recover")

    def make(i: int, req: bytes, acc: bytes) -> Conn:
        patterns, expected = plan[i]
        sampled = bool(sample_every) and i % sample_every == 0
        return Conn(stats, req, acc, patterns, expected, sampled, recover)

    t_ready0 = monotonic_ns()
    conns, elapsed = await open_conns(spec, make, n, stats)
    emit(
        {
            "event": "ready",
            "connected": len(conns),
            "wanted": n,
            "connect_s": elapsed,
            "errors": stats.errors[:5],
        }
    )
    if recover is not None:
        # Recovery: the replay starts with the subscribe command itself.
        await asyncio.sleep(0)
    elif len(conns) < n or not await ctl.wait("go", deadline - time.monotonic()):
        stats.error("not started")
    # Wait until all done, or the publisher is done and nothing arrives for drain_timeout.
    drain = float(spec.get("drain_timeout", 5.0))
    stats.n_conns = len(conns)
    if stats.conns_done >= stats.n_conns:
        stats.all_done.set()
    while not stats.all_done.is_set() and time.monotonic() < deadline:
        if ctl.events["stop"].is_set():
            break
        before = stats.total
        try:
            await asyncio.wait_for(
                stats.all_done.wait(), min(drain, max(0.0, deadline - time.monotonic()))
            )
        except TimeoutError:
            if (ctl.events["pubdone"].is_set() or recover is not None) and stats.total == before:
                break
    expected_total = sum(c.expected for c in conns)
    short = sum(1 for c in conns if c.received < c.expected)
    extra = sum(1 for c in conns if c.received > c.expected)
    for c in conns:
        c.close()
    await asyncio.sleep(0.05)
    emit(
        {
            "event": "result",
            "connected": len(conns),
            "wanted": n,
            "received": stats.total,
            "expected": expected_total,
            "conns_short": short,
            "conns_extra": extra,
            "first_ns": stats.first_ns,
            "last_ns": stats.last_ns,
            "t_ready0_ns": t_ready0,
            "closed": stats.closed,
            "non_events": stats.non_events,
            "other_types": stats.other_types,
            "out_of_order": stats.out_of_order,
            "errors": stats.errors,
            "hist": stats.hist.encode().decode() if stats.hist is not None else None,
            "cpu_s": cpu_seconds(),
            "replies": [c.reply for c in conns[:1]],
            "recover_s": (conns[0].t_reply_ns - conns[0].t_cmd_ns) / 1e9
            if recover is not None and conns and conns[0].t_cmd_ns
            else None,
        }
    )


async def run_idle(spec: dict[str, Any], ctl: Control) -> None:
    deadline = time.monotonic() + float(spec.get("deadline", 120.0))
    n = int(spec["count"])
    stats = Stats(n)
    patterns = list(spec.get("patterns", []))

    def make(i: int, req: bytes, acc: bytes) -> Conn:
        return Conn(stats, req, acc, patterns, 0, False)

    conns, elapsed = await open_conns(spec, make, n, stats)
    emit(
        {
            "event": "ready",
            "connected": len(conns),
            "wanted": n,
            "connect_s": elapsed,
            "errors": stats.errors[:5],
        }
    )
    await ctl.wait("stop", deadline - time.monotonic())
    alive = sum(1 for c in conns if c.state != CLOSED)
    for c in conns:
        c.close()
    await asyncio.sleep(0.05)
    emit(
        {
            "event": "result",
            "connected": len(conns),
            "alive_at_stop": alive,
            "wanted": n,
            "closed": stats.closed,
            "errors": stats.errors,
            "cpu_s": cpu_seconds(),
        }
    )


class Publisher(asyncio.Protocol):
    def __init__(self, request: bytes, accept: bytes) -> None:
        self.request = request
        self.accept = accept
        self.state = HANDSHAKE
        self.buf = b""
        self.splitter = wsframe.FrameSplitter()
        self.transport: asyncio.Transport | None = None
        self.hello: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.acked = 0
        self.refused = 0
        self.errors: list[str] = []
        self.on_ack: Callable[[int], None] = lambda n: None
        self.lost = asyncio.Event()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost.set()
        if not self.hello.done():
            self.hello.set_exception(ConnectionError("lost before hello"))

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
                self.errors.append(f"handshake: {exc}")
                if not self.hello.done():
                    self.hello.set_exception(ConnectionError(str(exc)))
                return
            self.state = SETUP
            data = buf[end + 4 :]
        acks = 0
        for op, _fin, payload in self.splitter.feed(data):
            if op == wsframe.OP_PING:
                if self.transport is not None:
                    self.transport.write(wsframe.encode_frame(wsframe.OP_PONG, payload, mask=True))
            elif op == wsframe.OP_CLOSE:
                code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
                self.errors.append(f"server closed {code} {payload[2:].decode('utf-8', 'replace')}")
                if self.transport is not None:
                    self.transport.close()
            elif op == wsframe.OP_TEXT:
                if self.state == SETUP:
                    if HELLO_MARK in payload:
                        self.state = COUNTING
                        if not self.hello.done():
                            self.hello.set_result(None)
                    continue
                if OK_MARK in payload:
                    acks += 1
                elif b'"ok":false' in payload:
                    self.refused += 1
                    if len(self.errors) < 10:
                        self.errors.append(payload[:300].decode("utf-8", "replace"))
        if acks:
            self.acked += acks
            self.on_ack(acks)

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)


def pad_for(size: int) -> str:
    base = len(orjson.dumps({"t": monotonic_ns(), "seq": 0, "pad": ""}))
    return "x" * max(0, size - base)


async def run_pub(spec: dict[str, Any], ctl: Control) -> None:
    loop = asyncio.get_running_loop()
    deadline = time.monotonic() + float(spec.get("deadline", 120.0))
    host, port, path = spec["host"], int(spec["port"]), spec.get("path", "/ws")
    req, acc = wsframe.client_request(host, port, path, make_headers(spec, 0))
    pub = Publisher(req, acc)
    try:
        await asyncio.wait_for(loop.create_connection(lambda: pub, host, port), 30)
        await asyncio.wait_for(asyncio.shield(pub.hello), 30)
    except (OSError, ConnectionError, TimeoutError) as exc:
        emit({"event": "ready", "ok": False, "errors": [f"{type(exc).__name__}: {exc}"]})
        return
    emit({"event": "ready", "ok": True})
    topics: list[str] = spec["topics"]
    count = int(spec["count"])
    window = int(spec.get("window", 64))
    rate = spec.get("rate")
    pad = pad_for(int(spec.get("payload", 100))).encode()
    tb = [t.encode() for t in topics]
    nt = len(tb)
    op = spec.get("op", "publish").encode()
    if not await ctl.wait("go", deadline - time.monotonic()):
        emit({"event": "done", "sent": 0, "acked": 0, "errors": ["no go"]})
        return
    sent = 0
    last_send = 0
    lags: list[int] = []

    def frame(seq: int, stamp: int) -> bytes:
        payload = b'{"id":%d,"op":"%s","topic":"%s","data":{"t":%d,"seq":%d,"pad":"%s"}}' % (
            seq + 1,
            op,
            tb[seq % nt],
            stamp,
            seq,
            pad,
        )
        return wsframe.encode_frame(wsframe.OP_TEXT, payload, mask=True)

    all_acked = asyncio.Event()
    first_ns = monotonic_ns()
    if rate is None:

        def on_ack(n: int) -> None:
            nonlocal sent, last_send
            if pub.acked + pub.refused >= count:
                all_acked.set()
            k = min(n, count - sent)
            if k > 0:
                now = last_send = monotonic_ns()
                pub.write(b"".join(frame(sent + j, now) for j in range(k)))
                sent += k

        pub.on_ack = on_ack
        k = min(window, count)
        now = monotonic_ns()
        pub.write(b"".join(frame(j, now) for j in range(k)))
        sent = k
    else:
        interval_ns = int(1e9 / float(rate))

        def on_ack_rate(n: int) -> None:
            if pub.acked + pub.refused >= count:
                all_acked.set()

        pub.on_ack = on_ack_rate
        while sent < count and time.monotonic() < deadline and not pub.lost.is_set():
            now = monotonic_ns()
            due = first_ns + sent * interval_ns
            if due > now:
                await asyncio.sleep((due - now) / 1e9)
                continue
            batch = []
            while sent < count and first_ns + sent * interval_ns <= now:
                d = first_ns + sent * interval_ns
                lags.append(now - d)
                batch.append(frame(sent, d))
                sent += 1
            pub.write(b"".join(batch))
            last_send = monotonic_ns()
    if count == 0:
        all_acked.set()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(all_acked.wait(), max(0.0, deadline - time.monotonic()))
    last_send_ns = last_send or first_ns
    acked_ns = monotonic_ns()
    lags.sort()
    emit(
        {
            "event": "done",
            "sent": sent,
            "acked": pub.acked,
            "refused": pub.refused,
            "first_ns": first_ns,
            "last_send_ns": last_send_ns,
            "acked_ns": acked_ns,
            "send_lag_p99_us": lags[int(len(lags) * 0.99)] // 1000 if lags else 0,
            "errors": pub.errors,
            "cpu_s": cpu_seconds(),
        }
    )
    await ctl.wait("stop", max(0.0, deadline - time.monotonic()))
    if pub.transport is not None:
        pub.write(wsframe.encode_frame(wsframe.OP_CLOSE, (1000).to_bytes(2, "big"), mask=True))
        pub.transport.close()


async def run_post(spec: dict[str, Any], ctl: Control) -> None:
    """REST posters: ``posters`` keep-alive HTTP/1.1 connections, each posting its share of
    ``count`` messages one at a time (POST, wait for the 2xx, next)."""
    deadline = time.monotonic() + float(spec.get("deadline", 120.0))
    host, port = spec["host"], int(spec["port"])
    posters = int(spec["posters"])
    count = int(spec["count"])
    paths: list[str] = spec["paths"]
    headers = make_headers(spec, 0)
    auth = headers.get("Authorization", "")
    pad = pad_for(int(spec.get("payload", 100)))
    statuses: dict[str, int] = {}
    errors: list[str] = []
    done = 0
    emit({"event": "ready", "ok": True})
    if not await ctl.wait("go", deadline - time.monotonic()):
        emit({"event": "done", "sent": 0, "ok": 0, "errors": ["no go"]})
        return
    first_ns = monotonic_ns()

    async def poster(k: int) -> None:
        nonlocal done
        share = count // posters + (1 if k < count % posters else 0)
        path = paths[k % len(paths)]
        reader, writer = await asyncio.open_connection(host, port)
        try:
            for j in range(share):
                if time.monotonic() > deadline:
                    errors.append("deadline")
                    return
                body = orjson.dumps(
                    {"text": f"m{k}-{j} {pad}", "idempotency_key": f"p{k}-{j}-{first_ns}"}
                )
                writer.write(
                    (
                        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                        f"Authorization: {auth}\r\nContent-Type: application/json\r\n"
                        f"Content-Length: {len(body)}\r\n\r\n"
                    ).encode()
                    + body
                )
                head = await reader.readuntil(b"\r\n\r\n")
                status = head.split(b" ", 2)[1].decode()
                length = 0
                chunked = False
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    lname = name.strip().lower()
                    if lname == b"content-length":
                        length = int(value)
                    elif lname == b"transfer-encoding" and b"chunked" in value.lower():
                        chunked = True
                if chunked:
                    while True:
                        size = int((await reader.readuntil(b"\r\n")).strip(), 16)
                        await reader.readexactly(size + 2)
                        if size == 0:
                            break
                    resp = b""
                else:
                    resp = await reader.readexactly(length)
                statuses[status] = statuses.get(status, 0) + 1
                if status.startswith("2"):
                    done += 1
                elif len(errors) < 10:
                    errors.append(f"{status} {resp[:200]!r}")
        finally:
            writer.close()

    results = await asyncio.gather(*(poster(k) for k in range(posters)), return_exceptions=True)
    for r in results:
        if isinstance(r, BaseException) and len(errors) < 10:
            errors.append(f"{type(r).__name__}: {r}")
    emit(
        {
            "event": "done",
            "sent": count,
            "ok": done,
            "statuses": statuses,
            "first_ns": first_ns,
            "last_ns": monotonic_ns(),
            "errors": errors,
            "cpu_s": cpu_seconds(),
        }
    )


POST_FMT = b'{"id":%d,"op":"post","channel":"%s","text":"m%d-%d %s","idempotency_key":"p%d-%d-%d"}'


class PostConn(Conn):
    """A WebSocket poster: after ``hello``, keeps ``window`` ``post`` ops in flight until
    it has sent its share; counts the replies (``ok`` with a ``seq``)."""

    def __init__(self, stats: Stats, request: bytes, accept: bytes, post: PostPlan, k: int) -> None:
        super().__init__(stats, request, accept, [], 0, False)
        self.plan = post
        self.k = k
        self.share = post.share(k)
        self.sent = 0
        self.acked = 0
        self.ok = 0
        self.done = asyncio.get_running_loop().create_future()

    def start(self) -> None:
        self._more(min(self.plan.window, self.share))
        if not self.share and not self.done.done():
            self.done.set_result(None)

    def _more(self, n: int) -> None:
        out = []
        plan = self.plan
        for _ in range(n):
            j = self.sent
            self.sent += 1
            body = POST_FMT % (
                j + 1,
                plan.channel(self.k),
                self.k,
                j,
                plan.pad,
                self.k,
                j,
                plan.stamp,
            )
            out.append(wsframe.encode_frame(wsframe.OP_TEXT, body, mask=True))
        if out and self.transport is not None:
            self.transport.write(b"".join(out))

    def _other(self, payload: bytes) -> None:
        try:
            msg = orjson.loads(payload)
        except orjson.JSONDecodeError:
            self.stats.error(f"bad JSON: {payload[:120]!r}")
            return
        if not isinstance(msg, dict) or "id" not in msg:
            super()._other(payload)  # a push, not a reply
            return
        self.acked += 1
        if msg.get("ok") is True and isinstance(msg.get("seq"), int):
            self.ok += 1
        else:
            self.stats.error(f"post refused: {payload[:200]!r}")
        if self.sent < self.share:
            self._more(1)
        elif self.acked >= self.share and not self.done.done():
            self.done.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        if not self.done.done():
            self.done.set_result(None)


class PostPlan:
    def __init__(self, spec: dict[str, Any], stamp: int) -> None:
        self.posters = int(spec["posters"])
        self.count = int(spec["count"])
        self.window = max(1, int(spec.get("window", 1)))
        self.channels: list[bytes] = [str(c).encode() for c in spec["channels"]]
        self.pad = pad_for(int(spec.get("payload", 100))).encode()
        self.stamp = stamp

    def share(self, k: int) -> int:
        return self.count // self.posters + (1 if k < self.count % self.posters else 0)

    def channel(self, k: int) -> bytes:
        return self.channels[k % len(self.channels)]


async def run_wspost(spec: dict[str, Any], ctl: Control) -> None:
    """WebSocket posters: ``posters`` connections (one user), each posting its share of
    ``count`` with the ``post`` op, ``window`` unanswered at a time."""
    deadline = time.monotonic() + float(spec.get("deadline", 120.0))
    plan = PostPlan(spec, monotonic_ns())
    stats = Stats(plan.posters)

    def make(i: int, req: bytes, acc: bytes) -> Conn:
        return PostConn(stats, req, acc, plan, i)

    conns, elapsed = await open_conns(spec, make, plan.posters, stats)
    posters = [c for c in conns if isinstance(c, PostConn)]
    emit({"event": "ready", "connected": len(posters), "connect_s": elapsed})
    if not await ctl.wait("go", deadline - time.monotonic()):
        emit({"event": "done", "sent": 0, "ok": 0, "errors": ["no go"]})
        return
    first_ns = monotonic_ns()
    for c in posters:
        c.start()
    waits = [c.done for c in posters]
    if waits:
        _, pending = await asyncio.wait(waits, timeout=max(0.0, deadline - time.monotonic()))
        if pending:
            stats.error(f"{len(pending)} posters not done before the deadline")
    last_ns = monotonic_ns()
    ok = sum(c.ok for c in posters)
    emit(
        {
            "event": "done",
            "sent": sum(c.sent for c in posters),
            "ok": ok,
            "statuses": {"ok": ok, "refused": sum(c.acked - c.ok for c in posters)},
            "first_ns": first_ns,
            "last_ns": last_ns,
            "errors": stats.errors[:10],
            "closed": stats.closed,
            "cpu_s": cpu_seconds(),
        }
    )
    for c in posters:
        c.close()
    await asyncio.sleep(0.05)


ROLES = {
    "sub": run_sub,
    "pub": run_pub,
    "idle": run_idle,
    "post": run_post,
    "wspost": run_wspost,
}


async def amain(spec: dict[str, Any]) -> None:
    ctl = Control(asyncio.get_running_loop())
    await ROLES[spec["role"]](spec, ctl)


def main() -> None:
    raise_nofile()
    line = sys.stdin.readline()
    spec = json.loads(line)
    if spec.get("gc_freeze", True):
        import gc

        gc.freeze()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(amain(spec))
    os._exit(0)


if __name__ == "__main__":
    main()
