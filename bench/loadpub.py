"""The ``pub`` role: one connection publishing windowed or paced (see :mod:`bench.loadgen`)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

import orjson

from bench import wsframe
from bench.loadconn import (
    COUNTING,
    HANDSHAKE,
    HELLO_MARK,
    OK_MARK,
    SETUP,
    Control,
    cpu_seconds,
    emit,
    make_headers,
    monotonic_ns,
)

#: Below this, a paced publisher sleeps with ``time.sleep`` (sub-ms) instead of asyncio.
PRECISE_SLEEP_S = 0.002


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
                # asyncio's timers round up to whole milliseconds (epoll's timeout), which
                # made every send up to ~1 ms late: sleep the last stretch with time.sleep
                # (clock_nanosleep), then let the loop read the acks that came in meanwhile.
                wait = (due - now) / 1e9
                if wait > PRECISE_SLEEP_S:
                    await asyncio.sleep(wait - PRECISE_SLEEP_S)
                else:
                    time.sleep(wait)  # noqa: ASYNC251 - on purpose, see above
                    await asyncio.sleep(0)
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
