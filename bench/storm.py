"""The ``storm`` scenario (Parley only): every client reconnects at once after a restart,
and resumes where it was.

N clients (the profile's ``conn_count``: full 10k, quick 2k), each its own user and a
member of one of N/500 channels, are connected and subscribed to their channel's events
with ``since``. The server is restarted (stopped gracefully: each client is closed with
1001; started again on the same port and store), ``STORM_MISSED`` messages are posted into
every channel while no client is connected, and then every client reconnects at once (up
to ``STORM_CONCURRENCY`` handshakes in flight) and subscribes again with the same
``since``. Reported: the time from the reconnect's start until the last client is
recovered (its reply says ``recovered`` with every missed event replayed, and it received
exactly those), the restart's own duration, server CPU per reconnect, and any client that
did not recover. See :mod:`bench.loadstorm` for the client side.
"""

from __future__ import annotations

import time
from typing import Any

from bench.durable import Unavailable, http_json
from bench.procs import BenchError, LoadGen
from bench.scenarios import Ctx
from bench.targets import ORG, TARGETS, Running, running

#: Messages posted into every channel while the clients are away.
STORM_MISSED = 3
#: Users per channel (the most a channel can be created with, docs/rest.md).
PER_CHANNEL = 500
#: Handshakes the storm keeps in flight at once.
STORM_CONCURRENCY = 500
PREFIX = "storm-"


def _setup(rs: Running, n: int) -> tuple[list[str], dict[str, int]]:
    """Channels of up to PER_CHANNEL storm users each, and each channel's position."""
    channels: list[str] = []
    since: dict[str, int] = {}
    for j in range(0, n, PER_CHANNEL):
        members = [f"{PREFIX}{i}" for i in range(j, min(n, j + PER_CHANNEL))]
        body = {"kind": "group", "name": f"storm-{j // PER_CHANNEL}", "members": members}
        status, ch = http_json(rs, "POST", "/v1/channels", body)
        if status != 201 or not isinstance(ch, dict) or "id" not in ch:
            raise Unavailable(f"POST /v1/channels -> {status} {str(ch)[:200]}")
        cid = str(ch["id"])
        status, msg = http_json(rs, "POST", f"/v1/channels/{cid}/messages", {"text": "before"})
        if status != 201 or not isinstance(msg, dict) or "seq" not in msg:
            raise Unavailable(f"POST messages -> {status} {str(msg)[:200]}")
        channels.append(cid)
        since[cid] = int(msg["seq"])
    return channels, since


def _post_missed(rs: Running, channels: list[str]) -> None:
    for cid in channels:
        for k in range(STORM_MISSED):
            body = {"text": f"missed {k}"}
            status, msg = http_json(rs, "POST", f"/v1/channels/{cid}/messages", body)
            if status != 201:
                raise BenchError(f"posting a missed message -> {status} {str(msg)[:200]}")


def storm_run(ctx: Ctx, n: int) -> dict[str, Any]:
    prof = ctx.profile
    target = TARGETS["parley"]
    with running(target, ctx.log_dir, tag="-storm", database_url=ctx.database_url) as rs:
        channels, since = _setup(rs, n)
        gen = LoadGen(
            {
                "role": "storm",
                "host": "127.0.0.1",
                "port": rs.port,
                "path": "/ws",
                "count": n,
                "channels": channels,
                "per_channel": PER_CHANNEL,
                "since": since,
                "missed": STORM_MISSED,
                "auth": {"secret": rs.secret, "org": ORG, "prefix": PREFIX, "roles": []},
                "connect_concurrency": STORM_CONCURRENCY,
                "deadline": prof.deadline * 3,
                "connect_timeout": prof.deadline,
            },
            ctx.log_dir / "loadgen-storm.log",
        )
        try:
            ready = gen.expect("ready", prof.deadline + 30)
            t_stop = time.monotonic()
            rs.server.stop()
            rs.server.start()
            restart_s = time.monotonic() - t_stop
            _post_missed(rs, channels)
            cpu0 = rs.server.cpu_s()
            gen.send("go")
            result = gen.expect("result", prof.deadline * 2 + 30)
            cpu1 = rs.server.cpu_s()
            alive = rs.server.alive()
        finally:
            gen.stop()
    problems = list(result.get("errors", []))[:5]
    recovered = int(result.get("recovered", 0))
    if int(ready["connected"]) < n:
        problems.insert(0, f"only {ready['connected']}/{n} connected before the restart")
    if int(result.get("closed_by_restart", 0)) < int(ready["connected"]):
        problems.append(f"only {result.get('closed_by_restart')} closed by the restart")
    if recovered < n:
        problems.insert(0, f"only {recovered}/{n} recovered")
    if not alive:
        problems.append("server died")
    recover_s = result.get("recover_s")
    return {
        "server": "parley",
        "clients": n,
        "channels": len(channels),
        "missed_per_client": STORM_MISSED,
        "connected_before": int(ready["connected"]),
        "restart_s": round(restart_s, 3),
        "recover_s": None if recover_s is None else round(float(recover_s), 3),
        "recovered": recovered,
        "reconnects_per_s": n / float(recover_s) if recover_s else 0.0,
        "server_us_per_reconnect": round((cpu1 - cpu0) * 1e6 / n, 1) if n else 0.0,
        "connect_attempts": result.get("connect_attempts"),
        "short": result.get("short"),
        "extra": result.get("extra"),
        "not_recovered": result.get("not_recovered"),
        "never_reconnected": result.get("never_reconnected"),
        "ok": not problems,
        "problems": problems,
    }


def scenario_storm(ctx: Ctx) -> dict[str, Any]:
    target = TARGETS["parley"]
    if target not in ctx.targets:
        return {"skipped": "Parley not among the targets"}
    if why := target.unavailable():
        return {"skipped": why}
    n = ctx.profile.conn_count
    params = {
        "clients": n,
        "missed_per_client": STORM_MISSED,
        "per_channel": PER_CHANNEL,
        "concurrency": STORM_CONCURRENCY,
        "method": "N clients (each its own user) subscribed with since; server restarted "
        f"(graceful stop, start on the same store); {STORM_MISSED} messages posted per "
        "channel while all are away; then all reconnect at once and subscribe with the "
        "same since. recover_s: from the reconnect's start until the last client's reply "
        "(recovered, every missed event replayed and received exactly once)",
    }
    try:
        run = storm_run(ctx, n)
    except Unavailable as exc:
        ctx.step()
        return {"skipped": f"durable channel layer unavailable: {exc}", "params": params}
    except BenchError as exc:
        run = {"server": "parley", "ok": False, "problems": [f"run failed: {str(exc)[:400]}"]}
    flag = "" if run["ok"] else f"  [red]PROBLEM: {'; '.join(run['problems'][:2])}[/red]"
    if "recover_s" in run:
        ctx.log(
            f"{'parley':>10}  storm {run['recovered']:,}/{n:,} recovered in "
            f"{run['recover_s']} s after a {run['restart_s']} s restart, "
            f"{run['server_us_per_reconnect']:,.0f} µs server CPU per reconnect{flag}"
        )
    else:
        ctx.log(f"{'parley':>10}  storm{flag}")
    ctx.step()
    ok = [run] if run.get("ok") else []
    return {
        "description": f"reconnect storm: {n:,} clients resume after a restart.",
        "params": params,
        "runs": [run],
        "summary": {
            "recover_s": run.get("recover_s"),
            "restart_s": run.get("restart_s"),
            "recovered": f"{run.get('recovered', 0):,}/{n:,}",
            "server_us_per_reconnect": run.get("server_us_per_reconnect"),
        }
        if ok
        else {},
    }
