"""The latency scenario: publish->receive percentiles at fractions of the max rate."""

from __future__ import annotations

import os
from functools import partial
from typing import Any

from bench.rig import Rig, parse_rig
from bench.scenarios import (
    PREFIX,
    Ctx,
    Profile,
    Servers,
    fanout_run,
    latency_summary,
    rotated,
    safe_run,
    summarize,
)
from bench.targets import TARGETS


def latency_loads(prof: Profile, max_msgs: float) -> list[tuple[str, float]]:
    """(label, msg/s): fractions of the reference max, then fixed rates."""
    loads = [(f"{f:.0%}", max_msgs * f) for f in prof.latency_fractions]
    loads += [(f"{r:g} msg/s", r) for r in prof.latency_fixed_msgs]
    return loads


#: The rig floor: the fastest server there is (one write per connection per loop pass).
FLOOR = "ceiling_batched"


def latency_rigs(prof: Profile) -> tuple[list[Rig], dict[str, str]]:
    """The profile's load clients that can run here (the first measures every server),
    and why the others cannot."""
    usable: list[Rig] = []
    missing: dict[str, str] = {}
    for text in prof.latency_clients or ("python",):
        rig = parse_rig(text, prof.client_procs)
        why = rig.unavailable()
        if why:
            missing[rig.name] = why
        elif rig not in usable:
            usable.append(rig)
    if not usable:
        usable.append(Rig("python", prof.client_procs))
    return usable, missing


def _merge(runs: list[dict[str, Any]]) -> dict[str, Any] | None:
    from hdrh.histogram import HdrHistogram

    hs = [r["hist"] for r in runs if r.get("hist")]
    if not hs:
        return None
    h = HdrHistogram.decode(hs[0])
    for e in hs[1:]:
        h.add(HdrHistogram.decode(e))
    cpu = [
        float(r["client_cpu_s"]) * 1e6 / int(r["deliveries"])
        for r in runs
        if r.get("deliveries") and r.get("client_cpu_s") is not None
    ]
    return {
        **latency_summary(h),
        "p99_rounds": summarize(
            [float(r["latency_us"]["p99"]) for r in runs if r.get("latency_us")]
        ),
        "client_cpu_us_per_delivery": summarize(cpu),
        "server_cpu_us_per_delivery": summarize(
            [
                float(r["server_cpu_us_per_delivery"])
                for r in runs
                if r.get("server_cpu_us_per_delivery") is not None
            ]
        ),
        "publisher_lag_p99_us": summarize(
            [float(r["publisher_lag_p99_us"]) for r in runs if r.get("publisher_lag_p99_us")]
        ),
        "all_ok": all(r.get("ok") for r in runs),
        "hist": h.encode().decode(),
    }


def scenario_latency(ctx: Ctx) -> dict[str, Any]:
    prof = ctx.profile
    n = prof.latency_subs
    topic = f"{PREFIX}.src.res.evt.1"
    rigs, rigs_missing = latency_rigs(prof)
    rig = rigs[0]
    fanout_rig = Rig("python", prof.client_procs)

    def groups_for(m: int) -> list[dict[str, Any]]:
        return [{"count": n, "patterns": [f"{PREFIX}.>"], "expected": m}]

    runs: list[dict[str, Any]] = []
    probes: list[dict[str, Any]] = []
    with Servers(ctx, "latency", extra=(TARGETS[FLOOR],)) as servers:
        if not servers.live:
            return {"skipped": "no server started", "failed_to_start": servers.failed}
        ref = "parley" if "parley" in servers.live else next(iter(servers.live))
        # The fanout scenario's max was measured with the Python client: reuse it only
        # if that is this scenario's rig, else measure the max with the rig itself.
        max_dps = ctx.max_rate.get(ref, {}).get(n) if rig == fanout_rig else None
        source = "fanout scenario (median)"
        if not max_dps:
            messages = max(prof.fanout_min_messages, prof.fanout_deliveries // n)
            probe = safe_run(
                ctx,
                partial(
                    fanout_run,
                    ctx,
                    servers.live[ref],
                    groups_for(messages),
                    [topic],
                    messages,
                    tag=f"latency-probe-{ref}",
                    rig=rig,
                ),
                ref,
                probe=True,
            )
            probes.append(probe)
            max_dps = float(probe.get("deliveries_per_s") or 0.0)
            source = f"probe run, {rig.name} client"
        if not max_dps:
            return {"skipped": f"could not measure {ref}'s max rate", "runs": probes}
        max_msgs = max_dps / n
        params = {
            "subscribers": n,
            "reference": ref,
            "reference_max_deliveries_per_s": max_dps,
            "reference_max_msgs_per_s": max_msgs,
            "reference_source": source,
            "fanout_max_deliveries_per_s": ctx.max_rate.get(ref, {}).get(n),
            "fractions": list(prof.latency_fractions),
            "fixed_msgs_per_s": list(prof.latency_fixed_msgs),
            "seconds_per_run": prof.latency_seconds,
            "max_deliveries_per_run": prof.latency_max_deliveries,
            "sampled_subscribers": (n + prof.latency_sample_every - 1) // prof.latency_sample_every,
            "rounds": prof.latency_rounds,
            "stamp": "intended send time (monotonic clock; no coordinated omission)",
            "rig": rig.name,
            "rigs": [r.name for r in rigs],
            "rigs_unavailable": rigs_missing,
            "floor_server": FLOOR,
            "load_average": os.getloadavg(),
        }
        loads = latency_loads(prof, max_msgs)
        params["loads"] = {label: rate for label, rate in loads}
        floor_rs = servers.live.get(FLOOR)
        for rnd in range(prof.latency_rounds):
            for label, rate in loads:
                messages = max(
                    10, min(int(rate * prof.latency_seconds), prof.latency_max_deliveries // n)
                )
                plan = [(name, rs, rig) for name, rs in servers.live.items()]
                if floor_rs is not None:
                    plan += [(FLOOR, floor_rs, other) for other in rigs[1:]]
                for name, rs, rg in rotated(plan, rnd):
                    load_tag = label.replace(" ", "").replace("/", "")
                    tag = f"latency-{name}-{rg.name.replace(':', 'x')}-{load_tag}-r{rnd}"
                    runs.append(
                        safe_run(
                            ctx,
                            partial(
                                fanout_run,
                                ctx,
                                rs,
                                groups_for(messages),
                                [topic],
                                messages,
                                rate=rate,
                                sample_every=prof.latency_sample_every,
                                tag=tag,
                                rig=rg,
                            ),
                            name,
                            round=rnd,
                            load=label,
                        )
                    )
        params["load_average_after"] = os.getloadavg()
    summary: dict[str, Any] = {}
    floors: dict[str, Any] = {}
    for label, rate in loads:
        mine = [r for r in runs if r.get("load") == label]
        per: dict[str, Any] = {}
        for name in sorted({r["server"] for r in mine}):
            merged = _merge(
                [r for r in mine if r["server"] == name and r.get("client") == rig.name]
            )
            if merged is not None:
                per[name] = {**merged, "msgs_per_s": rate}
        floor = per.get(FLOOR)
        for v in per.values():
            v["floor_p50"] = floor["p50"] if floor else None
            v["floor_p99"] = floor["p99"] if floor else None
        summary[label] = per
        floors[label] = {}
        for rg in rigs:
            merged = _merge(
                [r for r in mine if r["server"] == FLOOR and r.get("client") == rg.name]
            )
            if merged is not None:
                floors[label][rg.name] = {**merged, "msgs_per_s": rate}
    return {
        "params": params,
        "probes": probes,
        "runs": runs,
        "summary": summary,
        "floors": floors,
        "failed_to_start": servers.failed,
    }


# ---------------------------------------------------------------------------------------
# connections: N idle authenticated connections, server RSS before and after.
