"""Scenarios on Parley's durable channel layer (no baseline has one): ``ingest`` (REST posts
committed per second) and ``recovery`` (time to replay missed events on ``subscribe`` with
``since``). Each reports ``skipped`` with a reason when the server lacks the layer."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from bench.procs import BenchError, LoadGen
from bench.scenarios import Ctx, summarize
from bench.targets import ORG, TARGETS, Running, running
from broker.auth import issue_token

OWNER = "bench-owner"


def http_json(
    rs: Running, method: str, path: str, body: dict[str, Any] | None = None
) -> tuple[int, Any]:
    token = issue_token(rs.secret, sub=OWNER, org=ORG, ttl=3600, roles=["service"])
    req = urllib.request.Request(
        f"http://127.0.0.1:{rs.http_port}{path}",
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return int(resp.status), json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            return exc.code, json.loads(raw or b"null")
        except json.JSONDecodeError:
            return exc.code, raw[:300].decode("utf-8", "replace")
    except (urllib.error.URLError, OSError) as exc:
        raise BenchError(f"{method} {path}: {exc}") from None


def create_channel(rs: Running, name: str) -> str:
    status, body = http_json(rs, "POST", "/v1/channels", {"kind": "group", "name": name})
    if status != 201 or not isinstance(body, dict) or "id" not in body:
        raise Unavailable(f"POST /v1/channels -> {status} {str(body)[:200]}")
    return str(body["id"])


def store_name(url: str) -> str:
    if url.startswith(("postgresql:", "postgres:")):
        return "PostgreSQL"
    return "SQLite (file in a temp data dir)"


class Unavailable(Exception):
    """The server has no durable channel layer (or a part the scenario needs)."""


def _post_load(
    ctx: Ctx, rs: Running, channel_ids: list[str], count: int, posters: int, tag: str
) -> dict[str, Any]:
    gen = LoadGen(
        {
            "role": "post",
            "host": "127.0.0.1",
            "port": rs.http_port,
            "posters": posters,
            "count": count,
            "paths": [f"/v1/channels/{c}/messages" for c in channel_ids],
            "payload": ctx.profile.payload,
            "auth": {
                "secret": rs.secret,
                "org": ORG,
                "prefix": OWNER,
                "roles": ["service"],
                "exact_sub": True,
            },
            "deadline": ctx.profile.deadline * 2,
        },
        ctx.log_dir / f"loadgen-{tag}.log",
    )
    try:
        gen.expect("ready", 30)
        cpu0 = rs.server.cpu_s()
        gen.send("go")
        done = gen.expect("done", ctx.profile.deadline * 2 + 10)
        cpu1 = rs.server.cpu_s()
    finally:
        gen.stop()
    done["server_cpu_s"] = round(cpu1 - cpu0, 3)
    return done


def scenario_ingest(ctx: Ctx) -> dict[str, Any]:
    prof = ctx.profile
    target = TARGETS["parley"]
    if target not in ctx.targets:
        return {"skipped": "Parley not among the targets"}
    if why := target.unavailable():
        return {"skipped": why}
    channels = 10
    params = {
        "posters": prof.ingest_posters,
        "messages": prof.ingest_messages,
        "channels": channels,
        "store": store_name(ctx.database_url),
        "request": "POST /v1/channels/{id}/messages, keep-alive, one in flight per poster",
        "rounds": prof.durable_rounds,
    }
    runs: list[dict[str, Any]] = []
    for rnd in range(prof.durable_rounds):
        try:
            with running(
                target, ctx.log_dir, tag=f"-ingest-r{rnd}", database_url=ctx.database_url
            ) as rs:
                ids = [create_channel(rs, f"ingest-{j}") for j in range(channels)]
                d = _post_load(
                    ctx, rs, ids, prof.ingest_messages, prof.ingest_posters, f"ingest-r{rnd}"
                )
        except Unavailable as exc:
            ctx.step()
            return {"skipped": f"durable channel layer unavailable: {exc}", "params": params}
        except BenchError as exc:
            runs.append(
                {"server": "parley", "round": rnd, "ok": False, "problems": [str(exc)[:400]]}
            )
            ctx.step()
            continue
        secs = (int(d["last_ns"]) - int(d["first_ns"])) / 1e9
        ok_n = int(d["ok"])
        run = {
            "server": "parley",
            "round": rnd,
            "posted": ok_n,
            "expected": prof.ingest_messages,
            "seconds": round(secs, 3),
            "msgs_per_s": ok_n / secs if secs else 0.0,
            "statuses": d["statuses"],
            "server_cpu_s": d["server_cpu_s"],
            "client_cpu_s": d["cpu_s"],
            "ok": ok_n == prof.ingest_messages,
            "problems": d["errors"][:5],
        }
        runs.append(run)
        ctx.log(
            f"{'parley':>10}  ingest {ok_n:,}/{prof.ingest_messages:,} posts  "
            f"{run['msgs_per_s']:,.0f} msg/s  ({prof.ingest_posters} posters)"
        )
        ctx.step()
    vals = [r["msgs_per_s"] for r in runs if r.get("ok")]
    return {
        "description": f"{prof.ingest_posters} REST posters, {prof.ingest_messages:,} messages "
        f"into {channels} channels ({store_name(ctx.database_url)}).",
        "params": params,
        "runs": runs,
        "summary": {"msgs_per_s": summarize(vals)} if vals else {},
    }


def scenario_recovery(ctx: Ctx) -> dict[str, Any]:
    prof = ctx.profile
    target = TARGETS["parley"]
    if target not in ctx.targets:
        return {"skipped": "Parley not among the targets"}
    if why := target.unavailable():
        return {"skipped": why}
    n = prof.recovery_events
    params = {
        "events": n,
        "method": "post N messages over REST while no one listens, then one WebSocket "
        "client subscribes with since={channel: seq before the first}; time from sending "
        "the subscribe to receiving its reply (the replay is queued before the reply)",
        "rounds": prof.durable_rounds,
    }
    runs: list[dict[str, Any]] = []
    for rnd in range(prof.durable_rounds):
        try:
            with running(
                target, ctx.log_dir, tag=f"-recovery-r{rnd}", database_url=ctx.database_url
            ) as rs:
                cid = create_channel(rs, f"recovery-{rnd}")
                status, first = http_json(
                    rs, "POST", f"/v1/channels/{cid}/messages", {"text": "first"}
                )
                if status not in (200, 201) or not isinstance(first, dict) or "seq" not in first:
                    raise Unavailable(f"POST messages -> {status} {str(first)[:200]}")
                since = int(first["seq"]) - 1
                if n > 1:
                    d = _post_load(ctx, rs, [cid], n - 1, min(20, n - 1), f"recovery-fill-r{rnd}")
                    if int(d["ok"]) != n - 1:
                        raise BenchError(f"only {d['ok']}/{n - 1} posts stored: {d['errors'][:3]}")
                run = _recover_once(ctx, rs, cid, since, n, rnd)
        except Unavailable as exc:
            ctx.step()
            return {"skipped": f"durable channel layer unavailable: {exc}", "params": params}
        except BenchError as exc:
            runs.append(
                {"server": "parley", "round": rnd, "ok": False, "problems": [str(exc)[:400]]}
            )
            ctx.step()
            continue
        runs.append(run)
        ctx.log(
            f"{'parley':>10}  recovery {run['replayed']:,}/{n:,} events in "
            f"{run['recover_s'] * 1000:.0f} ms"
        )
        ctx.step()
    vals = [r["recover_s"] for r in runs if r.get("ok")]
    return {
        "description": f"{n:,} missed channel events replayed on subscribe with since.",
        "params": params,
        "runs": runs,
        "summary": {"recover_s": summarize(vals)} if vals else {},
    }


def _recover_once(ctx: Ctx, rs: Running, cid: str, since: int, n: int, rnd: int) -> dict[str, Any]:
    pattern = f"events.{ORG}.conversations.conversation.*.{cid}"
    gen = LoadGen(
        {
            "role": "sub",
            "host": "127.0.0.1",
            "port": rs.port,
            "path": "/ws",
            "groups": [{"count": 1, "patterns": [pattern], "expected": n}],
            "recover": {"op": "subscribe", "topic": pattern, "since": {cid: since}},
            "auth": {
                "secret": rs.secret,
                "org": ORG,
                "prefix": OWNER,
                "roles": ["service"],
                "exact_sub": True,
            },
            "deadline": ctx.profile.deadline,
            "drain_timeout": 2.0,
        },
        ctx.log_dir / f"loadgen-recovery-r{rnd}.log",
    )
    try:
        ready = gen.expect("ready", ctx.profile.deadline)
        result = gen.expect("result", ctx.profile.deadline + 10)
    finally:
        gen.stop()
    problems = list(ready.get("errors", []))[:3]
    reply = (result.get("replies") or [None])[0] or {}
    report = (reply.get("recovery") or {}).get(cid, {})
    replayed = int(report.get("replayed", -1))
    recover_s = float(result.get("recover_s") or 0.0)
    if replayed != n:
        problems.append(f"reply says replayed {replayed}, wanted {n}: {str(reply)[:200]}")
    if int(result["received"]) != n:
        problems.append(f"received {result['received']} events, wanted {n}")
    if not report.get("recovered"):
        problems.append(f"recovered is not true: {str(report)[:200]}")
    return {
        "server": "parley",
        "round": rnd,
        "events": n,
        "received": int(result["received"]),
        "replayed": replayed,
        "recover_s": recover_s,
        "ok": not problems,
        "problems": problems,
    }
