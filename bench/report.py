"""Outputs of a bench run: ``results.json``, ``summary.md`` and PNG plots."""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.procs import REPO

PACKAGES = (
    "trio",
    "trio-websocket",
    "wsproto",
    "orjson",
    "pyjwt",
    "websockets",
    "picows",
    "hdrhistogram",
    "rich",
    "matplotlib",
)

ORDER = ("parley", "websockets", "picows", "ceiling", "ceiling_batched")
BASELINE_COLS = ("websockets", "picows", "ceiling", "ceiling_batched")

#: Targets from the "Bench suite" issue.
TARGETS_TEXT = {
    "fanout": ">= 2.0x websockets broadcast() and >= 1.3x picows at 100 and 1k subscribers",
    "latency": "p99 < 20 ms at 50% of max rate with 1k subscribers, on a rig whose floor "
    "(the batched ceiling at 20 msg/s) is under 5 ms p99",
    "connections": "<= 16 KiB RSS per idle authenticated connection at 10k",
    "ingest": ">= 30k msg/s on SQLite (20k on PostgreSQL) with 100 posters",
    "recovery": "10,000 missed events recovered in < 1 s",
    "accept": "accept >= python-websockets' connects/s (goal: picows'), JWT + channel set each",
    "storm": "reconnect storm: 10,000 clients all recovered within 5 s of a restart",
}


def machine_info() -> dict[str, Any]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_kib = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    except OSError:
        pass
    versions: dict[str, str | None] = {}
    for pkg in PACKAGES:
        try:
            versions[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            versions[pkg] = None
    return {
        "cpu_model": cpu,
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)),
        "mem_gib": round(mem_kib / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "python_impl": platform.python_implementation(),
        "packages": versions,
        "git": _git(),
    }


def _git() -> dict[str, Any]:
    """Read-only look at the checkout (commit and whether it has local changes)."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return {}
    return {"commit": head, "dirty": bool(dirty)}


def write_json(results: dict[str, Any], path: Path) -> None:
    path.write_text(json.dumps(results, indent=1, sort_keys=False, default=str) + "\n")


# -- Markdown ------------------------------------------------------------------------------


def _rate(v: float | None) -> str:
    if v is None:
        return "-"
    if v >= 1e6:
        return f"{v / 1e6:.2f}M"
    if v >= 1e3:
        return f"{v / 1e3:.0f}k"
    return f"{v:.0f}"


def _cell(stats: dict[str, Any] | None, fmt: Callable[[float], str] = _rate) -> str:
    if not stats:
        return "-"
    s = fmt(stats["median"])
    if stats.get("n", 1) > 1:
        s += f" ({fmt(stats['min'])}-{fmt(stats['max'])})"
    return s


def _cols(present: set[str]) -> list[str]:
    return [n for n in ORDER if n in present]


def _ms(us: float | None) -> str:
    return "-" if us is None else f"{us / 1000:.2f}"


def markdown(results: dict[str, Any]) -> str:
    m = results["machine"]
    out = [
        f"# Parley bench — {results['profile']['name']} run",
        "",
        f"- date: {results['started']} (took {results['duration_s']:.0f} s)",
        f"- machine: {m['cpu_model']}, {m['cores']} cores ({m['cores_usable']} usable), "
        f"{m['mem_gib']} GiB, Linux {m['kernel']}",
        f"- Python {m['python']}; " + ", ".join(f"{k} {v}" for k, v in m["packages"].items() if v),
        f"- git: {m['git'].get('commit', '?')}"
        + (" (local changes)" if m["git"].get("dirty") else ""),
        f"- rounds: {results['profile']['rounds']} alternating; cells are median (min-max)",
        "",
    ]
    if results.get("skipped_targets"):
        for name, why in results["skipped_targets"].items():
            out.append(f"- target **{name}** not run: {why}")
        out.append("")
    sc = results["scenarios"]
    if "fanout" in sc and "summary" in sc["fanout"]:
        out += _md_fanout(sc["fanout"])
    if "topics" in sc and "summary" in sc["topics"]:
        out += _md_topics(sc["topics"])
    if "latency" in sc:
        out += _md_latency(sc["latency"])
    if "connections" in sc and "summary" in sc["connections"]:
        out += _md_connections(sc["connections"])
    for name in ("ingest", "recovery", "storm", "events"):
        if name in sc:
            out += _md_durable(name, sc[name])
    if "micro" in sc:
        out += _md_micro(sc["micro"])
    if "notifications" in sc:
        from bench.notify import markdown as notifications_markdown

        out += notifications_markdown(sc["notifications"])
    checks = results.get("checks", [])
    if checks:
        out += ["## Targets", "", "| target | measured | result |", "|---|---|---|"]
        for c in checks:
            out.append(f"| {c['target']} | {c['measured']} | {c['result']} |")
        out.append("")
    others: dict[str, set[str]] = {}
    for s in sc.values():
        for r in s.get("runs", []):
            if r.get("other_frames"):
                others.setdefault(str(r.get("server")), set()).update(r["other_frame_types"])
    if others:
        out += ["## Other pushes", ""]
        out += [
            f"- {name} also pushed non-event frames of type {', '.join(sorted(kinds))} "
            "(counted, not errors; see results.json)"
            for name, kinds in others.items()
        ]
        out.append("")
    problems = [
        (name, r) for name, s in sc.items() for r in s.get("runs", []) if not r.get("ok", True)
    ]
    if problems:
        out += ["## Problems", ""]
        for name, r in problems[:30]:
            out.append(f"- {name} / {r.get('server')}: {'; '.join(r.get('problems', []))[:300]}")
        out.append("")
    return "\n".join(out)


def _md_fanout(s: dict[str, Any]) -> list[str]:
    summ = s["summary"]
    present = {k for v in summ.values() for k in v["deliveries_per_s"]}
    cols = _cols(present)
    ratio_cols = (
        [f"parley/{b}" for b in BASELINE_COLS if b in present] if "parley" in present else []
    )
    out = [
        "## fanout — deliveries/s at the subscribers",
        "",
        f"One topic, N subscribers of `{s['params']['pattern']}`, "
        f"{s['params']['payload_bytes']}-byte payloads, publisher window "
        f"{s['params']['window']}, ~{s['params']['deliveries_per_run']:,} deliveries per run.",
        "",
        "| subscribers | "
        + " | ".join(cols)
        + (" | " if ratio_cols else "")
        + " | ".join(ratio_cols)
        + " |",
        "|---" * (1 + len(cols) + len(ratio_cols)) + "|",
    ]
    for n, v in summ.items():
        row = [n] + [_cell(v["deliveries_per_s"].get(c)) for c in cols]
        row += [f"{v['ratios'].get(r, 0):.2f}x" if r in v["ratios"] else "-" for r in ratio_cols]
        out.append("| " + " | ".join(row) + " |")
    out += [
        "",
        "Server CPU per delivery (µs, lower is better):",
        "",
        "| subscribers | " + " | ".join(cols) + " |",
        "|---" * (1 + len(cols)) + "|",
    ]
    for n, v in summ.items():
        row = [n] + [
            _cell(v["server_cpu_us_per_delivery"].get(c), lambda x: f"{x:.2f}") for c in cols
        ]
        out.append("| " + " | ".join(row) + " |")
    out.append("")
    return out


def _md_topics(s: dict[str, Any]) -> list[str]:
    p, summ = s["params"], s["summary"]
    cols = _cols(set(summ["deliveries_per_s"]))
    out = [
        "## topics — deliveries/s, many channels, wildcard subscriptions",
        "",
        f"{p['channels']} channels x {p['subscribers_per_channel']} subscribers "
        f"({p['patterns']}), {p['firehose_subscribers']} firehose; "
        f"{p['messages']:,} messages over all channels.",
        "",
        "| | " + " | ".join(cols) + " |",
        "|---" * (1 + len(cols)) + "|",
        "| deliveries/s | "
        + " | ".join(_cell(summ["deliveries_per_s"].get(c)) for c in cols)
        + " |",
        "| server µs/delivery | "
        + " | ".join(
            _cell(summ["server_cpu_us_per_delivery"].get(c), lambda x: f"{x:.2f}") for c in cols
        )
        + " |",
    ]
    if summ["ratios"]:
        out += ["", "Ratios: " + ", ".join(f"{k} {v:.2f}x" for k, v in summ["ratios"].items())]
    out.append("")
    return out


def _md_latency(s: dict[str, Any]) -> list[str]:
    if "skipped" in s:
        return ["## latency", "", f"Skipped: {s['skipped']}", ""]
    p = s["params"]
    rig = p.get("rig", "python")
    floor = p.get("floor_server", "ceiling_batched")
    la = p.get("load_average")
    out = [
        "## latency — publish -> receive (ms)",
        "",
        f"{p['subscribers']} subscribers, paced publisher at fractions of {p['reference']}'s "
        f"max ({_rate(p['reference_max_deliveries_per_s'])} deliveries/s = "
        f"{p['reference_max_msgs_per_s']:.0f} msg/s, from the {p['reference_source']}); "
        f"every server gets the same offered load. {p['sampled_subscribers']} subscribers "
        f"sampled; send time stamped as the intended time. Load client: **{rig}**; "
        f"the rig floor is {floor} measured with the same client at the same load in this "
        "run" + (f" (load average {la[0]:.2f} before the scenario)." if la else "."),
        "",
        "| load | server | msg/s | p50 | p95 | p99 | p99.9 | max | samples "
        "| floor p50 | floor p99 |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for label, per in s["summary"].items():
        for name in _cols(set(per)):
            v = per[name]
            warn = "" if v.get("all_ok") else " ⚠"
            out.append(
                f"| {label} | {name}{warn} | {v['msgs_per_s']:.0f} | {_ms(v['p50'])} | "
                f"{_ms(v['p95'])} | {_ms(v['p99'])} | {_ms(v['p999'])} | {_ms(v['max'])} | "
                f"{v['count']:,} | {_ms(v.get('floor_p50'))} | {_ms(v.get('floor_p99'))} |"
            )
    floors = s.get("floors") or {}
    if any(floors.values()):
        out += [
            "",
            f"Rig floor by load client ({floor}, same loads, same run; client CPU per "
            "delivery includes its connects):",
            "",
            "| load | client | p50 | p95 | p99 | max | client µs/delivery "
            "| server µs/delivery | publisher lag p99 |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for label, per in floors.items():
            for name, v in per.items():
                cpu = v.get("client_cpu_us_per_delivery") or {}
                srv = v.get("server_cpu_us_per_delivery") or {}
                lag = v.get("publisher_lag_p99_us") or {}
                warn = "" if v.get("all_ok") else " ⚠"
                out.append(
                    f"| {label} | {name}{warn} | {_ms(v['p50'])} | {_ms(v['p95'])} | "
                    f"{_ms(v['p99'])} | {_ms(v['max'])} | "
                    f"{_cell(cpu, lambda x: f'{x:.2f}') if cpu else '-'} | "
                    f"{_cell(srv, lambda x: f'{x:.2f}') if srv else '-'} | "
                    f"{_ms(lag.get('median'))} |"
                )
    if p.get("rigs_unavailable"):
        out.append("")
        out += [f"- client {k} not run: {v}" for k, v in p["rigs_unavailable"].items()]
    out.append("")
    return out


def _md_connections(s: dict[str, Any]) -> list[str]:
    summ = s["summary"]
    cols = _cols(set(summ["rss_per_conn_kib"]))
    out = [
        "## connections — idle connections held",
        "",
        f"{s['params']['connections']:,} connections; {s['params']['measure']}. "
        f"{s['params']['authenticated']}.",
        "",
        "| | " + " | ".join(cols) + " |",
        "|---" * (1 + len(cols)) + "|",
        "| KiB RSS / connection | "
        + " | ".join(_cell(summ["rss_per_conn_kib"].get(c), lambda x: f"{x:.1f}") for c in cols)
        + " |",
        "| connects/s | "
        + " | ".join(_cell(summ["connects_per_s"].get(c), lambda x: f"{x:,.0f}") for c in cols)
        + " |",
        "| server CPU µs / accept | "
        + " | ".join(
            _cell(summ.get("server_us_per_accept", {}).get(c), lambda x: f"{x:,.0f}") for c in cols
        )
        + " |",
        "| server CPU % while all idle | "
        + " | ".join(_cell(summ.get("idle_cpu_pct", {}).get(c), lambda x: f"{x:.0f}") for c in cols)
        + " |",
        "",
    ]
    return out


def _md_durable(name: str, s: dict[str, Any]) -> list[str]:
    if "skipped" in s:
        return [f"## {name}", "", f"Skipped: {s['skipped']}", ""]
    summ = s.get("summary", {})
    lines = [f"## {name}", "", s.get("description", ""), ""]
    for k, v in summ.items():
        if isinstance(v, dict) and "median" in v:
            lines.append(f"- {k}: {_cell(v, lambda x: f'{x:,.3f}' if x < 100 else f'{x:,.0f}')}")
        else:
            lines.append(f"- {k}: {v}")
    lines.append("")
    return lines


def _md_micro(s: dict[str, Any]) -> list[str]:
    if "skipped" in s:
        return ["## micro", "", f"Skipped: {s['skipped']}", ""]
    out = [
        "## micro - the sans-IO core in-process",
        "",
        s["description"],
        "",
        "| Hub.publish to | µs/publish | ns/delivery | deliveries/s |",
        "|---|---|---|---|",
    ]
    for h in s["summary"]["hub_publish"]:
        out.append(
            f"| {h['subscribers']} subs | {h['us_per_publish']:.1f} | "
            f"{h['ns_per_delivery']:.0f} | {_rate(h['deliveries_per_s'])} |"
        )
    t = s["summary"]["trie"]
    out += [
        "",
        f"TopicTrie.match with {t['patterns']} patterns: {t['ns_per_match_cached']:.0f} ns "
        f"(cached), {t['ns_per_match_parts']:.0f} ns (match_parts, uncached).",
        "",
    ]
    return out


# -- checks against the targets ----------------------------------------------------


def checks(results: dict[str, Any]) -> list[dict[str, str]]:
    sc = results["scenarios"]
    out: list[dict[str, str]] = []

    def add(target: str, measured: str, ok: bool | None) -> None:
        res = "n/a" if ok is None else ("pass" if ok else "FAIL")
        out.append({"target": target, "measured": measured, "result": res})

    fan = sc.get("fanout", {}).get("summary", {})
    for n in ("100", "1000"):
        r = fan.get(n, {}).get("ratios", {})
        for base, want in (("websockets", 2.0), ("picows", 1.3)):
            key = f"parley/{base}"
            if key in r:
                add(f"fanout {n} subs: Parley >= {want}x {base}", f"{r[key]:.2f}x", r[key] >= want)
    latency = sc.get("latency", {})
    lsum = latency.get("summary", {})
    floor20 = lsum.get("20 msg/s", {}).get(latency.get("params", {}).get("floor_server", ""))
    if floor20:
        n = latency["params"]["subscribers"]
        add(
            f"rig floor p99 < 5 ms at 20 msg/s ({latency['params']['floor_server']}, "
            f"{latency['params']['rig']} client), {n} subs",
            f"{floor20['p99'] / 1000:.2f} ms (p50 {floor20['p50'] / 1000:.2f})",
            (floor20["p99"] < 5_000) if n >= 1000 else None,
        )
    lat = lsum.get("50%", {}).get("parley")
    if lat:
        n = latency["params"]["subscribers"]
        fl = lat.get("floor_p99")
        add(
            f"latency p99 < 20 ms at 50% max, {n} subs",
            f"{lat['p99'] / 1000:.2f} ms"
            + (f" (rig floor {fl / 1000:.2f} ms)" if fl is not None else ""),
            (lat["p99"] < 20_000) if n >= 1000 else None,
        )
    con = sc.get("connections", {})
    rss = con.get("summary", {}).get("rss_per_conn_kib", {}).get("parley")
    if rss:
        n = con["params"]["connections"]
        add(
            f"<= 16 KiB RSS per idle connection ({n:,} conns)",
            f"{rss['median']:.1f} KiB",
            (rss["median"] <= 16) if n >= 10_000 else None,
        )
    acc = con.get("summary", {}).get("accept_ratios", {})
    for base, goal in (("websockets", False), ("picows", True)):
        key = f"parley/{base}"
        if key in acc:
            add(
                f"accept: Parley connects/s >= {base}'" + (" (goal)" if goal else ""),
                f"{acc[key]:.2f}x",
                acc[key] >= 1.0,
            )
    storm_runs: list[dict[str, Any]] = sc.get("storm", {}).get("runs") or []
    if storm_runs and storm_runs[0].get("recover_s") is not None:
        sr = storm_runs[0]
        clients, recovered, secs = int(sr["clients"]), int(sr["recovered"]), float(sr["recover_s"])
        add(
            "reconnect storm: 10,000 clients all recovered within 5 s of a restart",
            f"{recovered:,}/{clients:,} in {secs:.2f} s",
            (recovered == clients and secs <= 5.0) if clients >= 10_000 else None,
        )
    ing = sc.get("ingest", {}).get("summary", {}).get("msgs_per_s")
    if ing:
        posters = sc["ingest"]["params"]["posters"]
        pg = results.get("parley_store") == "postgresql"
        want = 20_000 if pg else 30_000
        ingest_sum = sc["ingest"]["summary"]
        ceiling = ingest_sum.get("store only, per post: msg/s", {}).get("median")
        beside = f", store alone {ceiling:,.0f}" if ceiling else ""
        add(
            f"ingest >= {want // 1000}k msg/s {'PostgreSQL' if pg else 'SQLite'}, 100 posters",
            f"{ing['median']:,.0f} msg/s ({posters} posters, 1 in flight{beside})",
            (ing["median"] >= want) if posters >= 100 else None,
        )
        piped = ingest_sum.get("pipelined_msgs_per_s")
        if piped:
            add(
                "ingest >= 10k msg/s with 1 poster, 32 in flight",
                f"{piped['median']:,.0f} msg/s",
                piped["median"] >= 10_000,
            )
    _rest_checks(sc, add)
    rec = sc.get("recovery", {}).get("summary", {}).get("recover_s")
    if rec:
        n = sc["recovery"]["params"]["events"]
        add(
            "recovery of 10,000 missed events < 1 s",
            f"{rec['median']:.3f} s ({n:,} events)",
            (rec["median"] < 1.0) if n >= 10_000 else None,
        )
    return out


def _rest_checks(sc: dict[str, Any], add: Callable[[str, str, bool | None], None]) -> None:
    """The REST targets (issue 15), each beside the same run's bare-ASGI floor: Parley's
    HTTP server answering the same requests with no app work (bench/servers/rest_floor.py)."""
    ing = sc.get("ingest", {})
    summ = ing.get("summary", {})
    posters = ing.get("params", {}).get("posters", 0)
    rest = summ.get(f"REST, {posters} posters: msg/s")
    if rest:
        floor = summ.get(f"REST floor (bare ASGI on Parley's Hypercorn), {posters} posters: req/s")
        beside = f"; bare-ASGI floor {floor['median']:,.0f} req/s" if floor else ""
        add(
            "REST >= 3,000 posts/s, 100 keep-alive posters",
            f"{rest['median']:,.0f} posts/s ({posters} posters{beside})",
            (rest["median"] >= 3_000) if posters >= 100 else None,
        )
    ev = sc.get("events", {}).get("summary", {})
    single = ev.get("single_per_s")
    if single:
        floor = ev.get("floor_asgi_per_s")
        beside = f"; bare-ASGI floor {floor['median']:,.0f}/s" if floor else ""
        add(
            "POST /v1/events >= 5,000/s per process",
            f"{single['median']:,.0f}/s ({ev['single_us_per_request']['median']:,.0f} µs "
            f"server CPU each{beside})",
            single["median"] >= 5_000,
        )


# -- plots ---------------------------------------------------------------------------------


def plots(results: dict[str, Any], out_dir: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    made: list[str] = []
    sc = results["scenarios"]
    fan = sc.get("fanout", {}).get("summary")
    if fan:
        fig, ax = plt.subplots(figsize=(7, 4.5))
        names = _cols({k for v in fan.values() for k in v["deliveries_per_s"]})
        for name in names:
            fx: list[int] = []
            ys: list[float] = []
            lo: list[float] = []
            hi: list[float] = []
            for n, v in fan.items():
                st = v["deliveries_per_s"].get(name)
                if st:
                    fx.append(int(n))
                    ys.append(st["median"])
                    lo.append(st["median"] - st["min"])
                    hi.append(st["max"] - st["median"])
            if fx:
                ax.errorbar(fx, ys, yerr=[lo, hi], marker="o", capsize=3, label=name)
        ax.set_xscale("log")
        ax.set_xlabel("subscribers (one topic)")
        ax.set_ylabel("deliveries/s (median, min-max)")
        ax.set_title("fanout: deliveries/s vs subscribers")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fig.savefig(out_dir / "fanout.png", dpi=110)
        plt.close(fig)
        made.append("fanout.png")
    lat = sc.get("latency", {}).get("summary")
    if lat:
        from hdrh.histogram import HdrHistogram

        fracs = list(lat)
        fracs = [f for f in fracs if lat[f]]
        n_subs = sc["latency"]["params"]["subscribers"]
        fig, axes = plt.subplots(1, len(fracs), figsize=(4.5 * len(fracs), 4.2), squeeze=False)
        pcts: list[float] = [0, 10, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99]
        xs: list[float] = [1 / (1 - p / 100) for p in pcts]
        ticks: list[float] = [0, 50, 90, 99, 99.9, 99.99]
        for ax, frac in zip(axes[0], fracs, strict=True):
            for name in _cols(set(lat[frac])):
                h = HdrHistogram.decode(lat[frac][name]["hist"])
                ys = [h.get_value_at_percentile(p) / 1000 for p in pcts]
                ax.plot(xs, ys, marker=".", label=name)
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xticks([1 / (1 - p / 100) for p in ticks])
            ax.set_xticklabels([f"p{p:g}" for p in ticks], fontsize=8)
            ax.minorticks_off()
            ax.set_xlabel("percentile")
            ax.set_ylabel("publish -> receive (ms)")
            rate = lat[frac][next(iter(lat[frac]))]["msgs_per_s"]
            title = frac if "msg/s" in frac else f"{frac} of max ({rate:.0f} msg/s)"
            ax.set_title(f"latency at {title}, {n_subs} subscribers", fontsize=10)
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out_dir / "latency.png", dpi=110)
        plt.close(fig)
        made.append("latency.png")
    return made
