"""The latency scenario: publish->receive percentiles at fractions of the max rate."""

from __future__ import annotations

from functools import partial
from typing import Any

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


def latency_loads(prof: Profile, max_msgs: float) -> list[tuple[str, float]]:
    """(label, msg/s): fractions of the reference max, then fixed rates."""
    loads = [(f"{f:.0%}", max_msgs * f) for f in prof.latency_fractions]
    loads += [(f"{r:g} msg/s", r) for r in prof.latency_fixed_msgs]
    return loads


def scenario_latency(ctx: Ctx) -> dict[str, Any]:
    prof = ctx.profile
    n = prof.latency_subs
    topic = f"{PREFIX}.src.res.evt.1"

    def groups_for(m: int) -> list[dict[str, Any]]:
        return [{"count": n, "patterns": [f"{PREFIX}.>"], "expected": m}]

    runs: list[dict[str, Any]] = []
    probes: list[dict[str, Any]] = []
    with Servers(ctx, "latency") as servers:
        if not servers.live:
            return {"skipped": "no server started", "failed_to_start": servers.failed}
        ref = "parley" if "parley" in servers.live else next(iter(servers.live))
        max_dps = ctx.max_rate.get(ref, {}).get(n)
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
                ),
                ref,
                probe=True,
            )
            probes.append(probe)
            max_dps = float(probe.get("deliveries_per_s") or 0.0)
            source = "probe run"
        if not max_dps:
            return {"skipped": f"could not measure {ref}'s max rate", "runs": probes}
        max_msgs = max_dps / n
        params = {
            "subscribers": n,
            "reference": ref,
            "reference_max_deliveries_per_s": max_dps,
            "reference_max_msgs_per_s": max_msgs,
            "reference_source": source,
            "fractions": list(prof.latency_fractions),
            "fixed_msgs_per_s": list(prof.latency_fixed_msgs),
            "seconds_per_run": prof.latency_seconds,
            "max_deliveries_per_run": prof.latency_max_deliveries,
            "sampled_subscribers": (n + prof.latency_sample_every - 1) // prof.latency_sample_every,
            "rounds": prof.latency_rounds,
            "stamp": "intended send time (monotonic clock; no coordinated omission)",
        }
        loads = latency_loads(prof, max_msgs)
        params["loads"] = {label: rate for label, rate in loads}
        for rnd in range(prof.latency_rounds):
            for label, rate in loads:
                messages = max(
                    10, min(int(rate * prof.latency_seconds), prof.latency_max_deliveries // n)
                )
                for name, rs in rotated(list(servers.live.items()), rnd):
                    tag = f"latency-{name}-{label.replace(' ', '').replace('/', '')}-r{rnd}"
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
                            ),
                            name,
                            round=rnd,
                            load=label,
                        )
                    )
    summary: dict[str, Any] = {}
    from hdrh.histogram import HdrHistogram

    for label, rate in loads:
        per: dict[str, Any] = {}
        mine = [r for r in runs if r.get("load") == label]
        for name in sorted({r["server"] for r in mine}):
            theirs = [r for r in mine if r["server"] == name]
            hs = [r["hist"] for r in theirs if r.get("hist")]
            if not hs:
                continue
            h = HdrHistogram.decode(hs[0])
            for e in hs[1:]:
                h.add(HdrHistogram.decode(e))
            per[name] = {
                **latency_summary(h),
                "msgs_per_s": rate,
                "p99_rounds": summarize(
                    [float(r["latency_us"]["p99"]) for r in theirs if r.get("latency_us")]
                ),
                "all_ok": all(r.get("ok") for r in theirs),
                "hist": h.encode().decode(),
            }
        summary[label] = per
    return {
        "params": params,
        "probes": probes,
        "runs": runs,
        "summary": summary,
        "failed_to_start": servers.failed,
    }


# ---------------------------------------------------------------------------------------
# connections: N idle authenticated connections, server RSS before and after.
