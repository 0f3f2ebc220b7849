"""``events``: service events over REST, one request per event (``POST /v1/events``)
against batches (``POST /v1/events:batch``, 100 events each), on one keep-alive
connection in alternating rounds; the batch figure is reported as a ratio to the
one-per-request figure of the same run (docs/rest.md says when to batch)."""

from __future__ import annotations

import http.client
import json
import time
from typing import Any

from bench.durable import Unavailable
from bench.procs import BenchError
from bench.scenarios import Ctx, summarize
from bench.targets import ORG, TARGETS, Running, running
from parley.broker.auth import issue_token

BATCH = 100


def _client(rs: Running) -> tuple[http.client.HTTPConnection, dict[str, str]]:
    token = issue_token(rs.secret, sub="bench-svc", org=ORG, ttl=3600, roles=["service"])
    conn = http.client.HTTPConnection("127.0.0.1", rs.http_port, timeout=30)
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


def _rate(rs: Running, n: int, batch: bool) -> float:
    conn, headers = _client(rs)
    topic = f"events.{ORG}.bench.thing.changed"
    try:
        started = time.perf_counter()
        if batch:
            for i in range(0, n, BATCH):
                events = [{"topic": f"{topic}.{j}", "data": {"i": j}} for j in range(i, i + BATCH)]
                _post(conn, headers, "/v1/events:batch", {"events": events})
        else:
            for i in range(n):
                _post(conn, headers, "/v1/events", {"topic": f"{topic}.{i}", "data": {"i": i}})
        return n / (time.perf_counter() - started)
    finally:
        conn.close()


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
        "rounds": prof.durable_rounds,
    }
    runs: list[dict[str, Any]] = []
    for rnd in range(prof.durable_rounds):
        try:
            with running(
                target, ctx.log_dir, tag=f"-events-r{rnd}", database_url=ctx.database_url
            ) as rs:
                order = [False, True] if rnd % 2 == 0 else [True, False]
                got = {b: _rate(rs, batch_n if b else single_n, b) for b in order}
        except Unavailable as exc:
            ctx.step()
            return {"skipped": f"service events unavailable: {exc}", "params": params}
        except BenchError as exc:
            runs.append(
                {"server": "parley", "round": rnd, "ok": False, "problems": [str(exc)[:400]]}
            )
            ctx.step()
            continue
        run = {
            "server": "parley",
            "round": rnd,
            "ok": True,
            "single_per_s": got[False],
            "batch_per_s": got[True],
            "ratio": got[True] / got[False],
        }
        runs.append(run)
        ctx.log(
            f"{'parley':>10}  events one per request {got[False]:,.0f}/s, "
            f"batched by {BATCH} {got[True]:,.0f}/s ({run['ratio']:.1f}x)"
        )
        ctx.step()
    ok = [r for r in runs if r.get("ok")]
    summary: dict[str, Any] = {}
    if ok:
        summary = {
            "single_per_s": summarize([r["single_per_s"] for r in ok]),
            "batch_per_s": summarize([r["batch_per_s"] for r in ok]),
            "batch_over_single": summarize([r["ratio"] for r in ok]),
        }
    return {
        "description": "Service events over REST on one keep-alive connection: one request "
        f"per event against batches of {BATCH} (POST /v1/events:batch), same server, "
        "alternating order.",
        "params": params,
        "runs": runs,
        "summary": summary,
    }
