"""Scenarios on Parley's durable channel layer (no baseline has one): ``ingest`` (posts
committed per second, over WebSocket and over REST) and ``recovery`` (time to replay
missed events on ``subscribe`` with ``since``). Each reports ``skipped`` with a reason
when the server lacks the layer."""

from __future__ import annotations

import json
import secrets
import urllib.error
import urllib.request
from typing import Any

from bench.procs import BenchError, LoadGen, ServerProc
from bench.scenarios import Ctx, Profile, summarize
from bench.storeceiling import store_ceiling
from bench.targets import ORG, TARGETS, Running, running, running_rest_floor
from parley.broker.auth import issue_token

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


def _commit_batches(rs: Running) -> tuple[float, float] | None:
    """(writes, batches) committed so far by the store's group-commit writer, from
    ``/metrics`` (``parley_store_commit_batch_size``), or None without metrics."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{rs.http_port}/metrics", timeout=10) as r:
            text = r.read().decode()
    except (urllib.error.URLError, OSError):
        return None
    got: dict[str, float] = {}
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name in ("parley_store_commit_batch_size_sum", "parley_store_commit_batch_size_count"):
            got[name.rsplit("_", 1)[1]] = float(value)
    if "sum" not in got or "count" not in got:
        return None
    return got["sum"], got["count"]


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


#: Ingest runs: (transport, posters) in this order on one server per round, the two
#: transports alternating. Posters: 1, 10 and the profile's ``ingest_posters``.
TRANSPORTS = ("ws", "rest")
LABELS = {"ws": "WebSocket", "rest": "REST"}
#: Posts per run are capped per poster so that slow runs (one REST poster at a few hundred
#: posts/s) stay short; the largest WebSocket run posts the profile's ``ingest_messages``.
PER_POSTER_CAP = {"ws": 2_000, "rest": 200}
#: Pipelined WebSocket runs: (posters, posts in flight per connection). The first is the
#: issue's "1 poster, 32 in flight" target; the second shows pipelining at scale.
WS_PIPELINED = ((1, 32), (-1, 8))  # -1: the profile's ingest_posters
#: Plain posts per ``post_plain_many`` group in the store-only ceiling's bulk path.
STORE_GROUP = 32


def ingest_plan(prof: Profile) -> list[tuple[str, int, int, int]]:
    """(transport, posters, messages, posts in flight per poster) of every ingest run in
    one round: 1, 10 and the profile's posters with one in flight on both transports, then
    the pipelined WebSocket runs."""
    top = prof.ingest_posters
    counts = sorted({p for p in (1, 10) if p < top} | {top})
    plan = []
    for posters in counts:
        for transport in TRANSPORTS:
            cap = prof.ingest_messages if transport == "ws" else prof.ingest_messages // 4
            n = max(1, min(cap, posters * PER_POSTER_CAP[transport]))
            plan.append((transport, posters, n, 1))
    for posters, window in WS_PIPELINED:
        posters = top if posters < 0 else posters
        plan.append(("ws", posters, max(window, prof.ingest_messages // 2), window))
    return plan


def run_label(transport: str, posters: int, window: int) -> str:
    label = f"{LABELS[transport]}, {posters} posters"
    return label if window == 1 else f"{label}, {window} in flight"


def _auth() -> dict[str, Any]:
    return {"secret": "", "org": ORG, "prefix": OWNER, "roles": ["service"], "exact_sub": True}


def _post_load(
    ctx: Ctx,
    rs: Running,
    channel_ids: list[str],
    count: int,
    posters: int,
    tag: str,
    transport: str = "rest",
    window: int = 1,
) -> dict[str, Any]:
    auth = {**_auth(), "secret": rs.secret}
    if transport == "ws":
        spec: dict[str, Any] = {
            "role": "wspost",
            "host": "127.0.0.1",
            "port": rs.port,
            "path": "/ws",
            "posters": posters,
            "count": count,
            "window": window,
            "channels": channel_ids,
            "payload": ctx.profile.payload,
            "auth": auth,
            "deadline": ctx.profile.deadline * 2,
        }
    else:
        spec = {
            "role": "post",
            "host": "127.0.0.1",
            "port": rs.http_port,
            "posters": posters,
            "count": count,
            "paths": [f"/v1/channels/{c}/messages" for c in channel_ids],
            "payload": ctx.profile.payload,
            "auth": auth,
            "deadline": ctx.profile.deadline * 2,
        }
    gen = LoadGen(spec, ctx.log_dir / f"loadgen-{tag}.log")
    try:
        ready = gen.expect("ready", 60)
        if transport == "ws" and int(ready.get("connected", 0)) != posters:
            raise BenchError(f"only {ready.get('connected')}/{posters} posters connected")
        cpu0 = rs.server.cpu_s()
        gen.send("go")
        done = gen.expect("done", ctx.profile.deadline * 2 + 10)
        cpu1 = rs.server.cpu_s()
    finally:
        gen.stop()
    done["server_cpu_s"] = round(cpu1 - cpu0, 3)
    return done


def _rest_floor_load(
    ctx: Ctx, server: ServerProc, count: int, posters: int, tag: str
) -> dict[str, Any]:
    """The REST poster load against a REST floor (bench/servers/rest_floor.py): the same
    requests, answered by Parley's HTTP server with a bare app (no auth, no store)."""
    spec = {
        "role": "post",
        "host": "127.0.0.1",
        "port": server.port,
        "posters": posters,
        "count": count,
        "paths": [f"/v1/channels/ch_floor{j}/messages" for j in range(10)],
        "payload": ctx.profile.payload,
        "auth": {**_auth(), "secret": secrets.token_urlsafe(32)},
        "deadline": ctx.profile.deadline * 2,
    }
    gen = LoadGen(spec, ctx.log_dir / f"loadgen-{tag}.log")
    try:
        gen.expect("ready", 60)
        cpu0 = server.cpu_s()
        gen.send("go")
        done = gen.expect("done", ctx.profile.deadline * 2 + 10)
        cpu1 = server.cpu_s()
    finally:
        gen.stop()
    done["server_cpu_s"] = round(cpu1 - cpu0, 3)
    return done


def _ingest_run(
    d: dict[str, Any], rnd: int, transport: str, posters: int, expected: int, window: int = 1
) -> dict[str, Any]:
    secs = (int(d["last_ns"]) - int(d["first_ns"])) / 1e9
    ok_n = int(d["ok"])
    return {
        "server": "parley",
        "round": rnd,
        "transport": transport,
        "posters": posters,
        "window": window,
        "posted": ok_n,
        "expected": expected,
        "seconds": round(secs, 3),
        "msgs_per_s": ok_n / secs if secs else 0.0,
        "server_us_per_post": d["server_cpu_s"] * 1e6 / ok_n if ok_n else 0.0,
        "statuses": d.get("statuses", {}),
        "server_cpu_s": d["server_cpu_s"],
        "client_cpu_s": d["cpu_s"],
        "ok": ok_n == expected and not d.get("errors"),
        "problems": d["errors"][:5],
    }


def _floor_run(ctx: Ctx, rnd: int, plan: list[tuple[str, int, int, int]]) -> dict[str, Any]:
    """The largest REST run of the round again, against the bare-ASGI REST floor."""
    _, posters, n, _ = max(p for p in plan if p[0] == "rest")
    tag = f"ingest-floor{posters}-r{rnd}"
    try:
        with running_rest_floor("floor_asgi", ctx.log_dir, tag=f"-{tag}") as server:
            d = _rest_floor_load(ctx, server, n, posters, tag)
    except BenchError as exc:
        return {
            "server": "floor_asgi",
            "round": rnd,
            "transport": "rest",
            "posters": posters,
            "ok": False,
            "problems": [str(exc)[:400]],
        }
    run = {**_ingest_run(d, rnd, "rest", posters, n), "server": "floor_asgi"}
    ctx.log(
        f"{'floor':>10}  ingest {'REST':>9} {posters:>3} posters  bare ASGI on Hypercorn  "
        f"{run['msgs_per_s']:,.0f} req/s  {run['server_us_per_post']:,.0f} µs server CPU/req"
    )
    return run


def scenario_ingest(ctx: Ctx) -> dict[str, Any]:
    prof = ctx.profile
    target = TARGETS["parley"]
    if target not in ctx.targets:
        return {"skipped": "Parley not among the targets"}
    if why := target.unavailable():
        return {"skipped": why}
    channels = 10
    plan = ingest_plan(prof)
    params = {
        "posters": prof.ingest_posters,
        "messages": prof.ingest_messages,
        "channels": channels,
        "store": store_name(ctx.database_url),
        "runs": [
            {"transport": t, "posters": p, "messages": n, "in_flight": w} for t, p, n, w in plan
        ],
        "ws": "one WebSocket connection per poster (one user), the `post` op, one in flight "
        "per connection (and the pipelined runs: 32 and 8 in flight); each reply must be "
        "ok and carry a seq",
        "store_only": "the store alone in the bench process (same store kind, fresh channels), "
        f"{prof.ingest_posters} concurrent callers: one post per write, and groups of "
        f"{STORE_GROUP} plain posts per write (bench/storeceiling.py)",
        "rest": "POST /v1/channels/{id}/messages, one keep-alive HTTP/1.1 connection per "
        "poster, one request in flight",
        "rounds": prof.durable_rounds,
    }
    runs: list[dict[str, Any]] = []
    store_runs: list[dict[str, Any]] = []
    for rnd in range(prof.durable_rounds):
        try:
            with running(
                target, ctx.log_dir, tag=f"-ingest-r{rnd}", database_url=ctx.database_url
            ) as rs:
                ids = [create_channel(rs, f"ingest-{j}") for j in range(channels)]
                for transport, posters, n, window in plan:
                    tag = f"ingest-{transport}{posters}x{window}-r{rnd}"
                    try:
                        batches0 = _commit_batches(rs)
                        d = _post_load(ctx, rs, ids, n, posters, tag, transport, window)
                        batches1 = _commit_batches(rs)
                    except BenchError as exc:
                        runs.append(
                            {
                                "server": "parley",
                                "round": rnd,
                                "transport": transport,
                                "posters": posters,
                                "window": window,
                                "ok": False,
                                "problems": [str(exc)[:400]],
                            }
                        )
                        continue
                    run = _ingest_run(d, rnd, transport, posters, n, window)
                    if batches0 is not None and batches1 is not None:
                        # do concurrent posts share the writer's batches? (metrics)
                        nb = batches1[1] - batches0[1]
                        run["posts_per_batch"] = (batches1[0] - batches0[0]) / nb if nb else 0.0
                    runs.append(run)
                    ctx.log(
                        f"{'parley':>10}  ingest {LABELS[transport]:>9} {posters:>3} posters "
                        f"x{window:<2} "
                        f"{run['posted']:,}/{n:,} posts  {run['msgs_per_s']:,.0f} msg/s  "
                        f"{run['server_us_per_post']:,.0f} µs server CPU/post"
                    )
        except Unavailable as exc:
            ctx.step()
            return {"skipped": f"durable channel layer unavailable: {exc}", "params": params}
        except BenchError as exc:
            runs.append(
                {"server": "parley", "round": rnd, "ok": False, "problems": [str(exc)[:400]]}
            )
        runs.append(_floor_run(ctx, rnd, plan))
        store = store_ceiling(
            ctx.database_url,
            posters=prof.ingest_posters,
            messages=prof.ingest_messages,
            group=STORE_GROUP,
        )
        store_runs.append({"round": rnd, "store": store})
        ctx.log(
            f"{'store':>10}  ingest alone: "
            + ", ".join(
                f"{k} {v['msgs_per_s']:,.0f} msg/s {v['cpu_us_per_post']:,.0f} µs CPU/post"
                for k, v in store.items()
            )
        )
        ctx.step()
    summary: dict[str, Any] = {}

    def ok_runs(
        transport: str, posters: int, window: int = 1, server: str = "parley"
    ) -> list[dict[str, Any]]:
        return [
            r
            for r in runs
            if r.get("ok")
            and r.get("server", "parley") == server
            and r.get("transport") == transport
            and r.get("posters") == posters
            and r.get("window", 1) == window
        ]

    top = [r["msgs_per_s"] for r in ok_runs("ws", prof.ingest_posters)]
    if top:
        summary["msgs_per_s"] = summarize(top)  # the target's figure: WebSocket, most posters
    piped = [r["msgs_per_s"] for r in ok_runs("ws", 1, 32)]
    if piped:
        summary["pipelined_msgs_per_s"] = summarize(piped)  # 1 poster, 32 in flight
    for transport, posters, _, window in plan:
        got = ok_runs(transport, posters, window)
        if got:
            label = run_label(transport, posters, window)
            summary[f"{label}: msg/s"] = summarize([r["msgs_per_s"] for r in got])
            summary[f"{label}: server µs/post"] = summarize([r["server_us_per_post"] for r in got])
            batches = [r["posts_per_batch"] for r in got if r.get("posts_per_batch")]
            if batches:
                summary[f"{label}: posts per commit batch"] = summarize(batches)
    _, top_rest, _, _ = max(p for p in plan if p[0] == "rest")
    floor = ok_runs("rest", top_rest, server="floor_asgi")
    if floor:
        label = f"REST floor (bare ASGI on Parley's Hypercorn), {top_rest} posters"
        summary[f"{label}: req/s"] = summarize([r["msgs_per_s"] for r in floor])
        summary[f"{label}: server µs/req"] = summarize([r["server_us_per_post"] for r in floor])
    for path in ("per post", "bulk"):
        got_s = [r["store"][path] for r in store_runs if path in r.get("store", {})]
        if got_s:
            summary[f"store only, {path}: msg/s"] = summarize([g["msgs_per_s"] for g in got_s])
            summary[f"store only, {path}: CPU µs/post"] = summarize(
                [g["cpu_us_per_post"] for g in got_s]
            )
    if top and store_runs:
        ceiling = summary.get("store only, per post: msg/s", {}).get("median")
        if ceiling:
            summary["ws_over_store_ceiling"] = summary["msgs_per_s"]["median"] / ceiling
    return {
        "description": "WebSocket `post` op (one connection per poster, 1 in flight; and "
        "pipelined: 1 poster x 32 in flight, "
        f"{prof.ingest_posters} posters x 8) and REST `POST /v1/channels/{{id}}/messages` "
        f"(one keep-alive connection per poster, one in flight), 1/10/{prof.ingest_posters} "
        f"posters, into {channels} channels ({store_name(ctx.database_url)}), next to the "
        "store-only ceiling of the same round; msgs_per_s is WebSocket with "
        f"{prof.ingest_posters} posters, 1 in flight.",
        "params": params,
        "runs": runs,
        "store_runs": store_runs,
        "summary": summary,
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
