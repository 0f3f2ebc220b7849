"""Load generator process: ``python -m bench.loadgen`` (one per role per run).

The same minimal client drives Parley and every baseline: asyncio protocols over raw sockets
with a hand-written frame splitter (:mod:`bench.wsframe`). Hot path per frame: read the
header, check the frame is an event, count it. Only connections picked for sampling parse
the JSON, to read the publisher's send stamp and record publish->receive latency. The
latency scenario's subscribers run :mod:`bench.csub` (the same ``sub`` role in C, same
control protocol) unless ``--latency-clients`` names ``python``.

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
* ``storm``: a reconnect storm after a server restart (:mod:`bench.loadstorm`).
* ``wspost``: WebSocket posters for the ingest scenario (the ``post`` op, ``window`` in
  flight per connection; every reply must be ``ok`` and carry a ``seq``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
from typing import Any

from bench.loadconn import (
    CLOSED,
    Conn,
    Control,
    Stats,
    cpu_seconds,
    emit,
    hist,
    monotonic_ns,
    open_conns,
    raise_nofile,
)
from bench.loadpost import run_post, run_wspost
from bench.loadpub import run_pub
from bench.loadstorm import run_storm


async def run_sub(spec: dict[str, Any], ctl: Control) -> None:
    deadline = time.monotonic() + float(spec.get("deadline", 120.0))
    plan: list[tuple[list[str], int]] = []
    for g in spec["groups"]:
        plan.extend([(list(g["patterns"]), int(g["expected"]))] * int(g["count"]))
    n = len(plan)
    stats = Stats(n)
    sample_every = int(spec.get("sample_every", 0))
    if sample_every:
        stats.hist = hist()
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


ROLES = {
    "sub": run_sub,
    "pub": run_pub,
    "idle": run_idle,
    "post": run_post,
    "wspost": run_wspost,
    "storm": run_storm,
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
