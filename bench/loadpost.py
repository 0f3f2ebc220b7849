"""The ``post`` (REST) and ``wspost`` (WebSocket) roles of the ingest scenario (see
:mod:`bench.loadgen`)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson

from bench import wsframe
from bench.loadconn import (
    Conn,
    Control,
    Stats,
    cpu_seconds,
    emit,
    make_headers,
    monotonic_ns,
    open_conns,
)
from bench.loadpub import pad_for


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
