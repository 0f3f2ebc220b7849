"""``parley bench [SCENARIO…] [--quick] [--out DIR]``: run scenarios against Parley and the
baselines in alternating rounds; write ``results.json``, ``summary.md`` and plots.

Entry points: :func:`main` (argv in, exit code out) and :func:`run_suite` (for tests).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import report
from bench.cluster import scenario_cluster
from bench.connections import scenario_connections
from bench.durable import scenario_ingest, scenario_recovery
from bench.events import scenario_events
from bench.latency import scenario_latency
from bench.micro import scenario_micro
from bench.notify import scenario_notifications
from bench.procs import REPO, raise_nofile
from bench.rig import parse_rig
from bench.scenarios import (
    PROFILES,
    Ctx,
    Profile,
    scenario_fanout,
    scenario_topics,
)
from bench.storm import scenario_storm
from bench.targets import TARGETS, Target

SCENARIOS: dict[str, Callable[[Ctx], dict[str, Any]]] = {
    "fanout": scenario_fanout,
    "topics": scenario_topics,
    "latency": scenario_latency,
    "connections": scenario_connections,
    "ingest": scenario_ingest,
    "recovery": scenario_recovery,
    "storm": scenario_storm,
    "events": scenario_events,
    "cluster": scenario_cluster,
    "micro": scenario_micro,
    "notifications": scenario_notifications,
}


def planned_steps(name: str, prof: Profile, n_targets: int) -> int:
    if name == "fanout":
        return prof.rounds * len(prof.fanout_subs) * n_targets
    if name == "topics":
        return prof.rounds * n_targets
    if name == "latency":
        loads = len(prof.latency_fractions) + len(prof.latency_fixed_msgs)
        # every target with the first client, the rig floor with each other one, a probe
        extra = max(0, len(prof.latency_clients) - 1)
        return prof.latency_rounds * loads * (n_targets + extra) + 1
    if name == "connections":
        return prof.conn_rounds * n_targets
    if name in ("micro", "notifications", "storm"):
        return 1
    return prof.durable_rounds


def run_suite(
    scenarios: Sequence[str],
    profile: Profile,
    out_dir: Path,
    targets: Sequence[str] | None = None,
    *,
    live: bool = True,
    database_url: str = "",
) -> dict[str, Any]:
    """Run ``scenarios`` and write the outputs into ``out_dir``; return the results."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    raise_nofile()
    out_dir.mkdir(parents=True, exist_ok=True)
    wanted = list(targets) if targets else list(TARGETS)
    chosen: list[Target] = []
    skipped: dict[str, str] = {}
    for name in wanted:
        t = TARGETS[name]
        why = t.unavailable()
        if why:
            skipped[name] = why
        else:
            chosen.append(t)
    console = Console(
        force_terminal=None if live else False, no_color=not live, width=None if live else 160
    )
    started = datetime.now(UTC)
    t0 = time.monotonic()
    results: dict[str, Any] = {
        "schema": 1,
        "started": started.isoformat(timespec="seconds"),
        "machine": report.machine_info(),
        "profile": dataclasses.asdict(profile),
        "targets": {t.name: t.description for t in chosen},
        "skipped_targets": skipped,
        "parley_store": "postgresql" if database_url.startswith("postgres") else "sqlite",
        "scenarios": {},
    }
    for name, why in skipped.items():
        console.print(f"[yellow]target {name} skipped: {why}[/yellow]")
    total = sum(planned_steps(s, profile, len(chosen)) for s in scenarios)
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=not live,
    ) as progress:
        task = progress.add_task("bench", total=total)
        ctx = Ctx(
            profile=profile,
            targets=chosen,
            out_dir=out_dir,
            log=progress.console.print,
            step=lambda: progress.advance(task),
            database_url=database_url,
        )
        for name in scenarios:
            progress.update(task, description=name)
            progress.console.rule(f"[bold]{name}")
            s0 = time.monotonic()
            res = SCENARIOS[name](ctx)
            res["seconds"] = round(time.monotonic() - s0, 1)
            if "skipped" in res:
                progress.console.print(f"[yellow]{name} skipped: {res['skipped']}[/yellow]")
            results["scenarios"][name] = res
            results["duration_s"] = time.monotonic() - t0
            report.write_json(results, out_dir / "results.json")
    results["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
    results["duration_s"] = time.monotonic() - t0
    results["checks"] = report.checks(results)
    results["plots"] = report.plots(results, out_dir)
    report.write_json(results, out_dir / "results.json")
    md = report.markdown(results)
    (out_dir / "summary.md").write_text(md + "\n")
    console.print(
        f"\nwrote {out_dir}: " + ", ".join(["results.json", "summary.md", *results["plots"]])
    )
    return results


def all_ok(results: dict[str, Any]) -> bool:
    """Every run delivered everything it should have (targets missed do not count)."""
    return all(r.get("ok", False) for s in results["scenarios"].values() for r in s.get("runs", []))


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="parley bench",
        description="Fan-out benchmarks: Parley against python-websockets broadcast(), "
        "picows and a raw-socket ceiling, in alternating rounds.",
    )
    ap.add_argument(
        "scenarios",
        nargs="*",
        metavar="SCENARIO",
        help=f"any of {', '.join(SCENARIOS)} (default: all)",
    )
    ap.add_argument("--quick", action="store_true", help="small sizes, under 3 minutes")
    ap.add_argument(
        "--profile", choices=sorted(PROFILES), help="sizes to use (default full, or quick)"
    )
    ap.add_argument("--out", type=Path, help="output directory (default bench-out/<timestamp>)")
    ap.add_argument(
        "--targets", help=f"comma-separated subset of {','.join(TARGETS)} (default: all)"
    )
    ap.add_argument("--rounds", type=int, help="override the number of alternating rounds")
    ap.add_argument("--client-procs", type=int, help="subscriber processes per run (default 1)")
    ap.add_argument(
        "--latency-clients",
        help="load clients of the latency scenario, e.g. c,python,python:2 (default c,python): "
        "the first measures every server, the others only the rig floor (batched ceiling)",
    )
    ap.add_argument(
        "--database-url",
        default=os.environ.get("PARLEY_BENCH_DATABASE_URL", ""),
        help="store for Parley, e.g. postgresql://... (PARLEY_BENCH_DATABASE_URL; "
        "default SQLite in a temp dir). The database must exist; runs add rows to it.",
    )
    ap.add_argument("--no-progress", action="store_true", help="plain output (no live bar)")
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(list(argv) if argv is not None else None)
    scenarios = args.scenarios or list(SCENARIOS)
    bad = [s for s in scenarios if s not in SCENARIOS]
    if bad:
        build_parser().error(
            f"unknown scenario(s) {', '.join(bad)}; choose from {', '.join(SCENARIOS)}"
        )
    targets = [t.strip() for t in args.targets.split(",")] if args.targets else None
    if targets and (unknown := [t for t in targets if t not in TARGETS]):
        build_parser().error(f"unknown target(s) {', '.join(unknown)}")
    profile = PROFILES[args.profile or ("quick" if args.quick else "full")]
    if args.rounds:
        profile = dataclasses.replace(
            profile,
            rounds=args.rounds,
            latency_rounds=args.rounds,
            conn_rounds=args.rounds,
            durable_rounds=args.rounds,
        )
    if args.client_procs:
        profile = dataclasses.replace(profile, client_procs=args.client_procs)
    if args.latency_clients:
        clients = tuple(c.strip() for c in args.latency_clients.split(",") if c.strip())
        try:
            for c in clients:
                parse_rig(c)
        except ValueError as exc:
            build_parser().error(f"--latency-clients: {exc}")
        profile = dataclasses.replace(profile, latency_clients=clients)
    out = args.out or REPO / "bench-out" / datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    results = run_suite(
        scenarios,
        profile,
        out,
        targets,
        live=not args.no_progress,
        database_url=args.database_url,
    )
    return 0 if all_ok(results) else 1
