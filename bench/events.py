"""``events``: service events over REST, one request per event (``POST /v1/events``)
against batches (``POST /v1/events:batch``, 100 events each), on one keep-alive
connection in alternating rounds; the batch figure is reported as a ratio to the
one-per-request figure of the same run (docs/rest.md says when to batch).

The same one-per-request loop also runs against the REST floors of the same round
(bench/servers/rest_floor.py): Parley's HTTP server with a bare ASGI app, and with a
one-route Quart-Trio app, so Parley's figure reads against what its server and its
framework cost alone. Each figure comes with the server's CPU per request (utime + stime
of the server process over the loop), steadier than the rate on a shared machine."""

from __future__ import annotations

import http.client
import json
import secrets
import time
from collections.abc import Callable
from typing import Any

from bench.durable import Unavailable
from bench.procs import BenchError
from bench.scenarios import Ctx, summarize
from bench.targets import ORG, REST_FLOORS, TARGETS, running, running_rest_floor
from parley.broker.auth import issue_token

BATCH = 100
#: The issue's target for ``POST /v1/events`` (one event per request, one process).
TARGET_PER_S = 5_000


def _client(port: int, secret: str) -> tuple[http.client.HTTPConnection, dict[str, str]]:
    token = issue_token(secret, sub="bench-svc", org=ORG, ttl=3600, roles=["service"])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    return conn, headers


def _post(conn: http.client.HTTPConnection, headers: dict[str, str], path: str, body: Any) -> None:
    conn.request("POST", path, body=json.dumps(body).encode(), headers=headers)
    resp = conn.getresponse()
    data = resp.read()
    if resp.status not in (200, 201, 202):
        if resp.status == 404:
            raise Unavailable(f"POST {path} -> 404")
        raise BenchError(f"POST {path} -> {resp.status} {data[:200]!r}")


def _rate(
    port: int, secret: str, n: int, batch: bool, cpu: Callable[[], float]
) -> tuple[float, float]:
    """(events/s, server CPU µs per request) of ``n`` events on one connection."""
    conn, headers = _client(port, secret)
    topic = f"events.{ORG}.bench.thing.changed"
    try:
        _post(conn, headers, "/v1/events", {"topic": f"{topic}.warm", "data": {}})
        cpu0 = cpu()
        started = time.perf_counter()
        if batch:
            for i in range(0, n, BATCH):
                events = [{"topic": f"{topic}.{j}", "data": {"i": j}} for j in range(i, i + BATCH)]
                _post(conn, headers, "/v1/events:batch", {"events": events})
        else:
            for i in range(n):
                _post(conn, headers, "/v1/events", {"topic": f"{topic}.{i}", "data": {"i": i}})
        rate = n / (time.perf_counter() - started)
        requests = n // BATCH if batch else n
        return rate, (cpu() - cpu0) * 1e6 / max(1, requests)
    finally:
        conn.close()


def _floors(ctx: Ctx, rnd: int, n: int) -> dict[str, Any]:
    """The one-per-request loop against each REST floor (a fresh server each)."""
    got: dict[str, Any] = {}
    names = list(REST_FLOORS) if rnd % 2 == 0 else list(reversed(REST_FLOORS))
    for name in names:
        with running_rest_floor(name, ctx.log_dir, tag=f"-events-r{rnd}") as server:
            rate, us = _rate(server.port, secrets.token_urlsafe(32), n, False, server.cpu_s)
        got[f"{name}_per_s"] = rate
        got[f"{name}_us_per_request"] = us
    return got


def scenario_events(ctx: Ctx) -> dict[str, Any]:
    prof = ctx.profile
    target = TARGETS["parley"]
    if target not in ctx.targets:
        return {"skipped": "Parley not among the targets"}
    if why := target.unavailable():
        return {"skipped": why}
    single_n = max(200, prof.recovery_events // 5)
    batch_n = single_n * 10
    params = {
        "single_events": single_n,
        "batch_events": batch_n,
        "batch_size": BATCH,
        "connection": "one keep-alive HTTP/1.1 connection, one request at a time",
        "floors": {name: label for name, (_, label) in REST_FLOORS.items()},
        "rounds": prof.durable_rounds,
    }
    runs: list[dict[str, Any]] = []
    for rnd in range(prof.durable_rounds):
        try:
            with running(
                target, ctx.log_dir, tag=f"-events-r{rnd}", database_url=ctx.database_url
            ) as rs:
                assert rs.http_port is not None
                order = [False, True] if rnd % 2 == 0 else [True, False]
                got = {
                    b: _rate(
                        rs.http_port, rs.secret, batch_n if b else single_n, b, rs.server.cpu_s
                    )
                    for b in order
                }
            floors = _floors(ctx, rnd, single_n)
        except Unavailable as exc:
            ctx.step()
            return {"skipped": f"service events unavailable: {exc}", "params": params}
        except BenchError as exc:
            runs.append(
                {"server": "parley", "round": rnd, "ok": False, "problems": [str(exc)[:400]]}
            )
            ctx.step()
            continue
        single, single_us = got[False]
        batched, batch_us = got[True]
        run = {
            "server": "parley",
            "round": rnd,
            "ok": True,
            "single_per_s": single,
            "single_us_per_request": single_us,
            "batch_per_s": batched,
            "batch_us_per_request": batch_us,
            "ratio": batched / single,
            **floors,
            "single_over_floor_asgi": single / floors["floor_asgi_per_s"],
        }
        runs.append(run)
        ctx.log(
            f"{'parley':>10}  events one per request {single:,.0f}/s ({single_us:,.0f} µs "
            f"server CPU each), batched by {BATCH} {batched:,.0f}/s ({run['ratio']:.1f}x); "
            f"floors: bare ASGI {floors['floor_asgi_per_s']:,.0f}/s "
            f"({floors['floor_asgi_us_per_request']:,.0f} µs), Quart-Trio "
            f"{floors['floor_quart_per_s']:,.0f}/s ({floors['floor_quart_us_per_request']:,.0f} µs)"
        )
        ctx.step()
    ok = [r for r in runs if r.get("ok")]
    summary: dict[str, Any] = {}
    if ok:
        keys = (
            "single_per_s",
            "single_us_per_request",
            "batch_per_s",
            "floor_asgi_per_s",
            "floor_asgi_us_per_request",
            "floor_quart_per_s",
            "floor_quart_us_per_request",
            "single_over_floor_asgi",
        )
        summary = {k: summarize([r[k] for r in ok]) for k in keys}
        summary["batch_over_single"] = summarize([r["ratio"] for r in ok])
    return {
        "description": "Service events over REST on one keep-alive connection: one request "
        f"per event against batches of {BATCH} (POST /v1/events:batch), same server, "
        "alternating order; the one-per-request loop also against the REST floors (Parley's "
        "Hypercorn serving a bare ASGI app, and a one-route Quart-Trio app).",
        "params": params,
        "runs": runs,
        "summary": summary,
    }
