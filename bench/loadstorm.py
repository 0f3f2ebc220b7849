"""The ``storm`` role of the load generator: a reconnect storm after a server restart.

Phase 1: open ``count`` connections (client ``i`` is user ``{prefix}{i}``, a member of
``channels[i // per_channel]``), each subscribing to its channel's events with ``since``
= that channel's position; report ``ready``. The bench then restarts the server (every
connection here is closed by it), posts ``missed`` messages into every channel while no
client is connected, and sends ``go``. Phase 2: every client reconnects at once and
subscribes again with the same ``since``; a client is recovered when its reply says
``recovered`` with ``replayed == missed`` and it received exactly ``missed`` events (the
replay is queued before the reply). A refused or failed connect is retried (``retries``
times, after a short jittered pause), as a real client would. Reports ``result``: how many
recovered, the time from ``go`` until the last did, and what went wrong.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

from bench.loadconn import CLOSED, Conn, Control, Stats, cpu_seconds, emit, open_conns


def _topic(org: str, channel: str) -> str:
    return f"events.{org}.conversations.conversation.*.{channel}"


async def run_storm(spec: dict[str, Any], ctl: Control) -> None:
    deadline = time.monotonic() + float(spec.get("deadline", 120.0))
    n = int(spec["count"])
    org = spec["auth"]["org"]
    channels: list[str] = list(spec["channels"])
    per_channel = int(spec["per_channel"])
    since: dict[str, int] = {c: int(s) for c, s in spec["since"].items()}
    missed = int(spec["missed"])

    def channel_of(i: int) -> str:
        return channels[i // per_channel]

    def recover_cmd(i: int) -> dict[str, Any]:
        c = channel_of(i)
        return {"op": "subscribe", "topic": _topic(org, c), "since": {c: since[c]}}

    before = Stats(n)

    def make_first(i: int, req: bytes, acc: bytes) -> Conn:
        return Conn(before, req, acc, [], 0, False, recover_cmd(i))

    first, connect_s = await open_conns(spec, make_first, n, before)
    emit(
        {
            "event": "ready",
            "connected": len(first),
            "wanted": n,
            "connect_s": connect_s,
            "errors": before.errors[:5],
        }
    )
    if not await ctl.wait("go", deadline - time.monotonic()):
        for c in first:
            c.close()
        emit({"event": "result", "errors": ["no go before the deadline"], "recovered": 0})
        return
    closed_before = sum(1 for c in first if c.state == CLOSED)
    for c in first:
        c.close()

    # Phase 2: the storm.
    after = Stats(n)
    t0 = time.monotonic()
    done_at: list[float] = []
    recovered: dict[int, Conn] = {}
    attempts = 0
    pending = list(range(n))
    retries = int(spec.get("retries", 20))

    index_of: dict[int, int] = {}  # id(conn) -> client number

    def make_again(i: int, req: bytes, acc: bytes) -> Conn:
        conn = Conn(after, req, acc, [], missed, False, recover_cmd(i))
        index_of[id(conn)] = i
        return conn

    for attempt in range(retries + 1):
        if not pending or time.monotonic() >= deadline:
            break
        if attempt:
            await asyncio.sleep(random.uniform(0.05, 0.25))
        attempts += len(pending)
        opened, _ = await open_conns(spec, make_again, len(pending), after, indices=pending)
        failed = set(pending)
        for conn in opened:
            i = index_of[id(conn)]
            failed.discard(i)
            recovered[i] = conn
        done_at.append(time.monotonic())
        pending = sorted(failed)
    # The replay precedes the reply, so a client whose reply came has all its events; wait
    # briefly for late duplicates (which would make a count exceed ``missed``).
    await asyncio.sleep(float(spec.get("settle_s", 0.2)))
    ok = 0
    problems: list[str] = list(after.errors[:5])
    short = extra = not_recovered = 0
    for i, conn in recovered.items():
        report = ((conn.reply or {}).get("recovery") or {}).get(channel_of(i), {})
        good_report = report.get("recovered") is True and report.get("replayed") == missed
        if conn.received < missed:
            short += 1
        elif conn.received > missed:
            extra += 1
        if not good_report:
            not_recovered += 1
            if len(problems) < 10:
                problems.append(f"client {i}: {str(conn.reply)[:160]}")
        if good_report and conn.received == missed:
            ok += 1
    for conn in recovered.values():
        conn.close()
    await asyncio.sleep(0.05)
    emit(
        {
            "event": "result",
            "connected_before": len(first),
            "closed_by_restart": closed_before,
            "clients": n,
            "reconnected": len(recovered),
            "recovered": ok,
            "short": short,
            "extra": extra,
            "not_recovered": not_recovered,
            "never_reconnected": len(pending),
            "connect_attempts": attempts,
            "recover_s": (done_at[-1] - t0) if done_at else None,
            "closed": after.closed,
            "errors": problems,
            "cpu_s": cpu_seconds(),
        }
    )
