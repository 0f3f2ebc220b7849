"""Scenario machinery (profiles, context, alternating rounds, summaries) and the fanout and
topics scenarios; latency and connections live in :mod:`bench.latency` and
:mod:`bench.connections`, ingest and recovery in :mod:`bench.durable`. Each scenario runs
alternating rounds over Parley and the baselines and returns a dict (parameters, every run,
and a summary) that goes into ``results.json`` unchanged."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from bench.csub import BuildError
from bench.procs import BenchError, LoadGen
from bench.rig import Rig, normalize_result, start_sub
from bench.targets import ORG, Running, Target, running

PREFIX = f"events.{ORG}"
T = TypeVar("T")


@dataclass(frozen=True)
class Profile:
    name: str
    rounds: int
    fanout_subs: tuple[int, ...]
    fanout_deliveries: int  # deliveries aimed at per run (messages = this / subscribers)
    fanout_min_messages: int
    topics_channels: int
    topics_per_channel: int  # split over exact, `*` and `>` patterns
    topics_firehose: int  # subscribers of `events.bench.>` (every message)
    topics_messages: int
    latency_subs: int
    latency_fractions: tuple[float, ...]
    latency_fixed_msgs: tuple[float, ...]  # extra absolute loads (msg/s), below saturation
    latency_seconds: float
    latency_rounds: int
    latency_sample_every: int
    latency_max_deliveries: int  # per run: bounds the time an overloaded server takes
    conn_count: int
    conn_rounds: int
    conn_settle_s: float  # after the last connect, before reading RSS
    conn_idle_window_s: float  # server CPU measured over this long with all idle
    ingest_posters: int
    ingest_messages: int
    recovery_events: int
    durable_rounds: int
    payload: int = 100
    window: int = 64
    client_procs: int = 1
    deadline: float = 120.0
    #: Load clients of the latency scenario (:mod:`bench.rig`): the first one available
    #: measures every server; each other one measures only the rig floor (the batched
    #: ceiling) at the same loads, for comparison in the same run.
    latency_clients: tuple[str, ...] = ("c", "python")


PROFILES: dict[str, Profile] = {
    "full": Profile(
        name="full",
        rounds=3,
        fanout_subs=(100, 1000, 5000),
        fanout_deliveries=600_000,
        fanout_min_messages=100,
        topics_channels=100,
        topics_per_channel=30,
        topics_firehose=10,
        topics_messages=10_000,
        latency_subs=1000,
        latency_fractions=(0.25, 0.5, 0.75),
        latency_fixed_msgs=(20.0,),
        latency_seconds=2.0,
        latency_rounds=2,
        latency_sample_every=10,
        latency_max_deliveries=400_000,
        conn_count=10_000,
        conn_rounds=2,
        conn_settle_s=1.0,
        conn_idle_window_s=2.0,
        ingest_posters=100,
        ingest_messages=20_000,
        recovery_events=10_000,
        durable_rounds=2,
        deadline=180.0,
    ),
    "quick": Profile(
        name="quick",
        rounds=2,
        fanout_subs=(100, 1000),
        fanout_deliveries=250_000,
        fanout_min_messages=50,
        topics_channels=20,
        topics_per_channel=15,
        topics_firehose=5,
        topics_messages=2_000,
        latency_subs=1000,
        latency_fractions=(0.25, 0.5, 0.75),
        latency_fixed_msgs=(20.0,),
        latency_seconds=1.0,
        latency_rounds=1,
        latency_sample_every=10,
        latency_max_deliveries=100_000,
        conn_count=2000,
        conn_rounds=1,
        conn_settle_s=1.0,
        conn_idle_window_s=2.0,
        ingest_posters=50,
        ingest_messages=2_000,
        recovery_events=2_000,
        durable_rounds=1,
        deadline=60.0,
    ),
    "smoke": Profile(
        name="smoke",
        rounds=1,
        fanout_subs=(5, 20),
        fanout_deliveries=400,
        fanout_min_messages=10,
        topics_channels=3,
        topics_per_channel=3,
        topics_firehose=2,
        topics_messages=30,
        latency_subs=10,
        latency_fractions=(0.5,),
        latency_fixed_msgs=(20.0,),
        latency_seconds=0.3,
        latency_rounds=1,
        latency_sample_every=2,
        latency_max_deliveries=10_000,
        conn_count=20,
        conn_rounds=1,
        conn_settle_s=0.2,
        conn_idle_window_s=0.3,
        ingest_posters=4,
        ingest_messages=40,
        recovery_events=50,
        durable_rounds=1,
        deadline=30.0,
    ),
}


@dataclass
class Ctx:
    profile: Profile
    targets: list[Target]
    out_dir: Path
    log: Callable[[str], None] = print
    step: Callable[[], None] = lambda: None
    #: PARLEY_DATABASE_URL for Parley (empty: SQLite in the server's temp data dir).
    database_url: str = ""
    #: Parley's measured max deliveries/s per subscriber count (shared between scenarios).
    max_rate: dict[str, dict[int, float]] = field(default_factory=dict)

    @property
    def log_dir(self) -> Path:
        return self.out_dir / "logs"


def summarize(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    med = statistics.median(values)
    return {
        "median": med,
        "min": min(values),
        "max": max(values),
        "spread_pct": 100.0 * (max(values) - min(values)) / med if med else 0.0,
        "n": len(values),
    }


def ratios(meds: dict[str, float], higher_is_better: bool = True) -> dict[str, float]:
    """Parley's median over each baseline's (for lower-is-better figures, baseline/Parley)."""
    p = meds.get("parley")
    out: dict[str, float] = {}
    if not p:
        return out
    for name, v in meds.items():
        if name == "parley" or not v:
            continue
        out[f"parley/{name}"] = p / v if higher_is_better else v / p
    return out


# ---------------------------------------------------------------------------------------
# One fan-out run: subscriber process(es), one publisher, deliveries counted at the receivers.


def split_groups(groups: list[dict[str, Any]], procs: int) -> list[list[dict[str, Any]]]:
    out: list[list[dict[str, Any]]] = [[] for _ in range(procs)]
    for g in groups:
        n = int(g["count"])
        for p in range(procs):
            share = n // procs + (1 if p < n % procs else 0)
            if share:
                out[p].append({**g, "count": share})
    return [o for o in out if o]


def fanout_run(
    ctx: Ctx,
    rs: Running,
    groups: list[dict[str, Any]],
    topics: list[str],
    messages: int,
    *,
    rate: float | None = None,
    sample_every: int = 0,
    tag: str,
    rig: Rig | None = None,
) -> dict[str, Any]:
    """One run; ``rig`` picks the subscriber client (default: the Python client in
    ``profile.client_procs`` processes)."""
    prof = ctx.profile
    rig = rig or Rig("python", prof.client_procs)
    base = {"host": "127.0.0.1", "port": rs.port, "path": "/ws", "deadline": prof.deadline}
    subs: list[LoadGen] = []
    pub: LoadGen | None = None
    problems: list[str] = []
    t_wall = time.monotonic()
    try:
        for k, part in enumerate(split_groups(groups, rig.procs)):
            spec = {
                **base,
                "role": "sub",
                "groups": part,
                "sample_every": sample_every,
                "auth": rs.auth(f"sub{k}-"),
                "connect_timeout": prof.deadline / 2,
                "drain_timeout": 5.0,
            }
            log = ctx.log_dir / f"loadgen-{tag}-sub{k}.log"
            try:
                subs.append(start_sub(rig, spec, log, ctx.out_dir))
            except BuildError as exc:
                raise BenchError(f"{rig.name} client: {exc}") from exc
        ready = [s.expect("ready", prof.deadline) for s in subs]
        connected = sum(int(r["connected"]) for r in ready)
        wanted = sum(int(r["wanted"]) for r in ready)
        connect_s = max(float(r["connect_s"]) for r in ready)
        if connected < wanted:
            errs = [e for r in ready for e in r.get("errors", [])]
            problems.append(f"only {connected}/{wanted} subscribers ready: {errs[:3]}")
        pub_spec = {
            **base,
            "role": "pub",
            "topics": topics,
            "count": messages,
            "window": prof.window,
            "rate": rate,
            "payload": prof.payload,
            "auth": rs.auth("pub-"),
        }
        pub = LoadGen(pub_spec, ctx.log_dir / f"loadgen-{tag}-pub.log")
        pr = pub.expect("ready", 60)
        if not pr.get("ok"):
            raise BenchError(f"publisher not ready: {pr.get('errors')}")
        cpu0 = rs.server.cpu_s()
        for s in subs:
            s.send("go")
        pub.send("go")
        done = pub.expect("done", prof.deadline + 10)
        for s in subs:
            s.send("pubdone")
        results = [normalize_result(s.expect("result", prof.deadline + 10)) for s in subs]
        cpu1 = rs.server.cpu_s()
    finally:
        for g in ([pub] if pub else []) + subs:
            g.stop()
    received = sum(int(r["received"]) for r in results)
    expected = sum(int(r["expected"]) for r in results)
    last_ns = max(int(r["last_ns"]) for r in results)
    first_ns = int(done["first_ns"])
    duration = (last_ns - first_ns) / 1e9 if last_ns > first_ns else 0.0
    for r in results:
        if r["closed"]:
            problems.append(f"connections closed: {r['closed']}")
        if r["conns_short"] or r["conns_extra"]:
            problems.append(f"{r['conns_short']} short / {r['conns_extra']} over-delivered conns")
        if r["out_of_order"]:
            problems.append(f"{r['out_of_order']} out-of-order events")
        problems.extend(r["errors"][:3])
    if int(done["acked"]) != messages:
        problems.append(f"publisher: {done['acked']}/{messages} acked, errors {done['errors'][:3]}")
    hist = None
    encoded = [r["hist"] for r in results if r.get("hist")]
    if encoded:
        from hdrh.histogram import HdrHistogram

        hist = HdrHistogram.decode(encoded[0])
        for e in encoded[1:]:
            hist.add(HdrHistogram.decode(e))
    server_cpu = cpu1 - cpu0
    run: dict[str, Any] = {
        "server": rs.target.name,
        "subscribers": wanted,
        "connected": connected,
        "connect_s": round(connect_s, 3),
        "messages": messages,
        "acked": int(done["acked"]),
        "deliveries": received,
        "expected": expected,
        "lost": expected - received,
        "duration_s": round(duration, 4),
        "deliveries_per_s": received / duration if duration else 0.0,
        "publish_s": round((int(done["last_send_ns"]) - first_ns) / 1e9, 4),
        "server_cpu_s": round(server_cpu, 3),
        # /proc CPU times tick every 10 ms: below 50 ms the per-delivery figure is noise.
        "server_cpu_us_per_delivery": server_cpu * 1e6 / received
        if received and server_cpu >= 0.05
        else None,
        "server_cpu_util": server_cpu / duration if duration else None,
        "client": rig.name,
        "client_cpu_s": round(sum(float(r["cpu_s"]) for r in results), 3),
        # Pushes that are not events (e.g. presence): counted, not errors.
        "other_frames": sum(int(r["non_events"]) for r in results),
        "other_frame_types": {k: v for r in results for k, v in r.get("other_types", {}).items()},
        "wall_s": round(time.monotonic() - t_wall, 2),
        "ok": not problems and received == expected,
        "problems": problems[:10],
    }
    if rate is not None:
        run["offered_msgs_per_s"] = rate
        run["publisher_lag_p99_us"] = done.get("send_lag_p99_us")
    if hist is not None and hist.get_total_count():
        run["latency_us"] = latency_summary(hist)
        run["hist"] = hist.encode().decode()
    return run


def latency_summary(hist: Any) -> dict[str, float]:
    return {
        "count": hist.get_total_count(),
        "p50": hist.get_value_at_percentile(50),
        "p95": hist.get_value_at_percentile(95),
        "p99": hist.get_value_at_percentile(99),
        "p999": hist.get_value_at_percentile(99.9),
        "max": hist.get_max_value(),
    }


def _fmt_rate(v: float) -> str:
    return f"{v / 1000:,.0f}k/s" if v >= 1000 else f"{v:,.0f}/s"


def _run_line(run: dict[str, Any]) -> str:
    flag = "" if run["ok"] else f"  [red]PROBLEM: {'; '.join(run['problems'][:2])}[/red]"
    lat = ""
    if "latency_us" in run:
        lt = run["latency_us"]
        lat = f"  p50 {lt['p50'] / 1000:.2f} ms p99 {lt['p99'] / 1000:.2f} ms"
    cpu = run.get("server_cpu_us_per_delivery")
    cpu_s = f"  srv {cpu:.2f} µs/dlv" if cpu else ""
    return (
        f"{run['server']:>10}  subs {run['subscribers']:>5}  "
        f"{run['deliveries']:>9,}/{run['expected']:,} dlv  "
        f"{_fmt_rate(run['deliveries_per_s']):>9}{cpu_s}{lat}{flag}"
    )


def rotated(items: list[T], rnd: int) -> list[T]:
    """The round's order: each round starts one target later, so none always goes first."""
    k = rnd % len(items) if items else 0
    return items[k:] + items[:k]


class Servers:
    """Every target of a scenario started once, kept for all its rounds, stopped at the end."""

    def __init__(self, ctx: Ctx, scenario: str, extra: tuple[Target, ...] = ()) -> None:
        """``extra``: targets started even if the run did not choose them (the latency
        scenario's rig floor needs the batched ceiling)."""
        self.ctx = ctx
        self.scenario = scenario
        names = {t.name for t in ctx.targets}
        self.targets = list(ctx.targets) + [t for t in extra if t.name not in names]
        self.live: dict[str, Running] = {}
        self._cms: list[Any] = []
        self.failed: dict[str, str] = {}

    def __enter__(self) -> Servers:
        for t in self.targets:
            cm = running(
                t, self.ctx.log_dir, tag=f"-{self.scenario}", database_url=self.ctx.database_url
            )
            try:
                self.live[t.name] = cm.__enter__()
                self._cms.append(cm)
            except BenchError as exc:
                self.failed[t.name] = str(exc)[:500]
                self.ctx.log(f"[red]{t.name} failed to start: {str(exc)[:300]}[/red]")
        return self

    def __exit__(self, *exc: object) -> None:
        for cm in reversed(self._cms):
            cm.__exit__(None, None, None)


def safe_run(
    ctx: Ctx, fn: Callable[[], dict[str, Any]], server: str, **info: Any
) -> dict[str, Any]:
    try:
        run = fn()
    except BenchError as exc:
        run = {"server": server, "ok": False, "problems": [f"run failed: {str(exc)[:400]}"], **info}
        ctx.log(f"[red]{server}: run failed: {str(exc)[:300]}[/red]")
    else:
        run.update(info)
        ctx.log(_run_line(run))
    ctx.step()
    return run


def by_target(
    runs: list[dict[str, Any]], key: str, value: str, **where: Any
) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    names = sorted({r["server"] for r in runs})
    for name in names:
        vals = [
            float(r[value])
            for r in runs
            if r["server"] == name
            and r.get("ok")
            and r.get(value) is not None
            and all(r.get(k) == v for k, v in where.items())
        ]
        if vals:
            out[name] = summarize(vals)
    return out


# ---------------------------------------------------------------------------------------
# fanout: one topic, N subscribers.


def fanout_plan(prof: Profile) -> int:
    return prof.rounds * len(prof.fanout_subs)


def scenario_fanout(ctx: Ctx) -> dict[str, Any]:
    prof = ctx.profile
    topic = f"{PREFIX}.src.res.evt.1"
    runs: list[dict[str, Any]] = []
    params = {
        "subscribers": list(prof.fanout_subs),
        "deliveries_per_run": prof.fanout_deliveries,
        "payload_bytes": prof.payload,
        "window": prof.window,
        "rounds": prof.rounds,
        "pattern": f"{PREFIX}.>",
        "topic": topic,
    }
    with Servers(ctx, "fanout") as servers:
        for n in prof.fanout_subs:
            messages = max(prof.fanout_min_messages, prof.fanout_deliveries // n)
            groups = [{"count": n, "patterns": [f"{PREFIX}.>"], "expected": messages}]
            for rnd in range(prof.rounds):
                for name, rs in rotated(list(servers.live.items()), rnd):
                    tag = f"fanout-{name}-{n}-r{rnd}"
                    runs.append(
                        safe_run(
                            ctx,
                            partial(fanout_run, ctx, rs, groups, [topic], messages, tag=tag),
                            name,
                            round=rnd,
                            n=n,
                        )
                    )
    summary: dict[str, Any] = {}
    for n in prof.fanout_subs:
        per = by_target(runs, "n", "deliveries_per_s", n=n)
        cpu = by_target(runs, "n", "server_cpu_us_per_delivery", n=n)
        meds = {k: v["median"] for k, v in per.items()}
        summary[str(n)] = {
            "deliveries_per_s": per,
            "server_cpu_us_per_delivery": cpu,
            "ratios": ratios(meds),
        }
        if "parley" in meds:
            ctx.max_rate.setdefault("parley", {})[n] = meds["parley"]
        for k, v in meds.items():
            ctx.max_rate.setdefault(k, {})[n] = v
    return {
        "params": params,
        "runs": runs,
        "summary": summary,
        "failed_to_start": servers.failed,
    }


# ---------------------------------------------------------------------------------------
# topics: M channels x K subscribers, exact / `*` / `>` patterns, plus firehose subscribers.


def topics_groups(prof: Profile) -> tuple[list[dict[str, Any]], list[str], int]:
    m, k = prof.topics_channels, prof.topics_per_channel
    per_topic = max(1, prof.topics_messages // m)
    messages = per_topic * m
    topics = [f"{PREFIX}.s{j}.chan.msg.1" for j in range(m)]
    groups: list[dict[str, Any]] = []
    kinds = ("{p}.s{j}.chan.msg.1", "{p}.s{j}.*.msg.*", "{p}.s{j}.>")
    for j in range(m):
        for x, kind in enumerate(kinds):
            count = k // 3 + (1 if x < k % 3 else 0)
            if count:
                pattern = kind.format(p=PREFIX, j=j)
                groups.append({"count": count, "patterns": [pattern], "expected": per_topic})
    if prof.topics_firehose:
        groups.append(
            {"count": prof.topics_firehose, "patterns": [f"{PREFIX}.>"], "expected": messages}
        )
    return groups, topics, messages


def scenario_topics(ctx: Ctx) -> dict[str, Any]:
    prof = ctx.profile
    groups, topics, messages = topics_groups(prof)
    subscribers = sum(g["count"] for g in groups)
    params = {
        "channels": prof.topics_channels,
        "subscribers_per_channel": prof.topics_per_channel,
        "firehose_subscribers": prof.topics_firehose,
        "subscribers": subscribers,
        "messages": messages,
        "patterns": "1/3 exact, 1/3 `events.bench.sJ.*.msg.*`, 1/3 `events.bench.sJ.>`; "
        "firehose `events.bench.>`",
        "rounds": prof.rounds,
    }
    runs: list[dict[str, Any]] = []
    with Servers(ctx, "topics") as servers:
        for rnd in range(prof.rounds):
            for name, rs in rotated(list(servers.live.items()), rnd):
                tag = f"topics-{name}-r{rnd}"
                runs.append(
                    safe_run(
                        ctx,
                        partial(fanout_run, ctx, rs, groups, topics, messages, tag=tag),
                        name,
                        round=rnd,
                    )
                )
    per = by_target(runs, "server", "deliveries_per_s")
    meds = {k: v["median"] for k, v in per.items()}
    return {
        "params": params,
        "runs": runs,
        "summary": {
            "deliveries_per_s": per,
            "server_cpu_us_per_delivery": by_target(runs, "server", "server_cpu_us_per_delivery"),
            "ratios": ratios(meds),
        },
        "failed_to_start": servers.failed,
    }


# ---------------------------------------------------------------------------------------
# latency: paced publishing at fractions of the measured max rate, 1k subscribers.


def params_dict(prof: Profile) -> dict[str, Any]:
    return asdict(prof)
