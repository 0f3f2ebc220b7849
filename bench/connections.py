"""The connections scenario: RSS per idle authenticated connection, connect rate."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from bench.procs import BenchError, LoadGen
from bench.scenarios import Ctx, by_target, ratios, rotated
from bench.targets import Target, running


def connections_run(ctx: Ctx, target: Target, n: int, rnd: int) -> dict[str, Any]:
    prof = ctx.profile
    tag = f"-conns-r{rnd}"
    with running(target, ctx.log_dir, tag=tag, database_url=ctx.database_url) as rs:
        time.sleep(min(0.3, prof.conn_settle_s))
        rss0 = rs.server.rss_kib()
        gen = LoadGen(
            {
                "role": "idle",
                "host": "127.0.0.1",
                "port": rs.port,
                "path": "/ws",
                "count": n,
                "auth": rs.auth("idle-"),
                "deadline": prof.deadline * 2,
                "connect_timeout": prof.deadline,
            },
            ctx.log_dir / f"loadgen-conns-{target.name}-r{rnd}.log",
        )
        cpu_start = rs.server.cpu_s()
        try:
            ready = gen.expect("ready", prof.deadline + 10)
            cpu_accept = rs.server.cpu_s() - cpu_start
            time.sleep(prof.conn_settle_s)
            rss1 = rs.server.rss_kib()
            cpu0 = rs.server.cpu_s()
            time.sleep(prof.conn_idle_window_s)
            idle_cpu = (rs.server.cpu_s() - cpu0) / prof.conn_idle_window_s
            alive = rs.server.alive()
        finally:
            gen.stop()
        try:
            result = gen.expect("result", 10)
        except BenchError:
            result = {"alive_at_stop": None, "closed": {}, "errors": ["no result"]}
    connected = int(ready["connected"])
    problems = list(ready.get("errors", []))[:3]
    if connected < n:
        problems.insert(0, f"only {connected}/{n} connected")
    if result.get("alive_at_stop") not in (None, connected):
        problems.append(f"{connected - int(result['alive_at_stop'])} dropped while idle")
    if not alive:
        problems.append("server died")
    per_conn = (rss1 - rss0) / connected if connected else 0.0
    return {
        "server": target.name,
        "connections": n,
        "connected": connected,
        "connect_s": round(float(ready["connect_s"]), 3),
        "connects_per_s": connected / float(ready["connect_s"]) if ready["connect_s"] else 0.0,
        # Server utime+stime from the load generator's start until all were connected
        # (the generator builds its requests first: a few ms of idle server), per accept.
        "server_us_per_accept": round(cpu_accept * 1e6 / connected, 1) if connected else 0.0,
        "rss_before_kib": rss0,
        "rss_after_kib": rss1,
        "rss_per_conn_kib": round(per_conn, 3),
        "idle_cpu_pct": round(100 * idle_cpu, 1),
        "deliveries": 0,
        "expected": 0,
        "deliveries_per_s": 0.0,
        "subscribers": n,
        "ok": not problems,
        "problems": problems,
    }


def scenario_connections(ctx: Ctx) -> dict[str, Any]:
    prof = ctx.profile
    n = prof.conn_count
    runs: list[dict[str, Any]] = []
    for rnd in range(prof.conn_rounds):
        for t in rotated(ctx.targets, rnd):

            def fn(t: Target = t, rnd: int = rnd) -> dict[str, Any]:
                return connections_run(ctx, t, n, rnd)

            run = _safe_run_conns(ctx, fn, t.name, round=rnd)
            runs.append(run)
    per = by_target(runs, "server", "rss_per_conn_kib")
    meds = {k: v["median"] for k, v in per.items()}
    return {
        "params": {
            "connections": n,
            "rounds": prof.conn_rounds,
            "authenticated": "Parley: one HS256 JWT per connection (distinct sub); "
            "baselines take no token",
            "measure": f"server VmRSS after all connected (+{prof.conn_settle_s:g} s) minus "
            f"before, / connections; then server CPU over {prof.conn_idle_window_s:g} s with "
            "every connection idle",
        },
        "runs": runs,
        "summary": {
            "rss_per_conn_kib": per,
            "connects_per_s": by_target(runs, "server", "connects_per_s"),
            "server_us_per_accept": by_target(runs, "server", "server_us_per_accept"),
            "accept_ratios": ratios(
                {k: v["median"] for k, v in by_target(runs, "server", "connects_per_s").items()},
                higher_is_better=True,
            ),
            "idle_cpu_pct": by_target(runs, "server", "idle_cpu_pct"),
            "ratios": ratios(meds, higher_is_better=False),
        },
    }


def _safe_run_conns(
    ctx: Ctx, fn: Callable[[], dict[str, Any]], server: str, **info: Any
) -> dict[str, Any]:
    try:
        run = fn()
    except BenchError as exc:
        run = {"server": server, "ok": False, "problems": [f"run failed: {str(exc)[:400]}"], **info}
        ctx.log(f"[red]{server}: run failed: {str(exc)[:300]}[/red]")
    else:
        run.update(info)
        flag = "" if run["ok"] else f"  [red]PROBLEM: {'; '.join(run['problems'][:2])}[/red]"
        ctx.log(
            f"{server:>10}  conns {run['connected']:>6}/{run['connections']}  "
            f"RSS +{(run['rss_after_kib'] - run['rss_before_kib']) / 1024:,.1f} MiB  "
            f"{run['rss_per_conn_kib']:.2f} KiB/conn  {run['connects_per_s']:,.0f} conn/s  "
            f"{run['server_us_per_accept']:,.0f} µs CPU/accept  "
            f"idle CPU {run['idle_cpu_pct']:.0f}%{flag}"
        )
    ctx.step()
    return run
