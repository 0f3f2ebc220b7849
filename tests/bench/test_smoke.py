"""Smoke run of every bench scenario at tiny sizes against real server processes.

Asserts the output structure and that every count adds up (no delivery lost, none
duplicated); never a timing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bench import csub, wsframe
from bench.cli import SCENARIOS, all_ok, run_suite
from bench.report import checks
from bench.rig import Rig, parse_rig
from bench.scenarios import PROFILES, split_groups, topics_groups
from bench.servers.common import Registry, matches
from bench.targets import BASELINES, TARGETS


def test_frame_roundtrip() -> None:
    sp = wsframe.FrameSplitter()
    frames = [
        wsframe.encode_frame(wsframe.OP_TEXT, b"x" * n, mask=m)
        for n, m in ((0, False), (125, True), (126, False), (70_000, True))
    ]
    data = b"".join(frames)
    out = []
    for i in range(0, len(data), 7):  # split at awkward places
        out.extend(sp.feed(data[i : i + 7]))
    assert [(op, fin, len(p)) for op, fin, p in out] == [
        (1, True, 0),
        (1, True, 125),
        (1, True, 126),
        (1, True, 70_000),
    ]
    key = b"\x01\x02\x03\x04"
    assert wsframe.unmask(wsframe.unmask(b"hello world", key), key) == b"hello world"


def test_handshake() -> None:
    req, accept = wsframe.client_request("127.0.0.1", 1, "/ws", {"Authorization": "Bearer t"})
    parsed = wsframe.parse_request(req[: req.index(b"\r\n\r\n")])
    assert parsed.path == "/ws"
    assert parsed.headers["authorization"] == "Bearer t"
    resp = wsframe.server_response(parsed)
    wsframe.check_response(resp[: resp.index(b"\r\n\r\n")], accept)


def test_baseline_registry_matches_like_parley() -> None:
    reg: Registry[str] = Registry()
    reg.subscribe("exact", "events.o.s.r.e.1")
    reg.subscribe("star", "events.o.*.r.*.1")
    reg.subscribe("gt", "events.o.>")
    reg.subscribe("other", "events.p.>")
    assert sorted(reg.match("events.o.s.r.e.1")) == ["exact", "gt", "star"]
    assert reg.match("events.o.s.r.e.2") == ["gt"]
    reg.unsubscribe_all("gt")
    assert reg.match("events.o.s.r.e.2") == []
    assert not matches(("events", "o", ">"), ("events", "o"))


def test_topic_plan_counts() -> None:
    prof = PROFILES["smoke"]
    groups, topics, messages = topics_groups(prof)
    assert messages % len(topics) == 0
    per_channel = sum(g["count"] for g in groups if g["expected"] == messages // len(topics))
    assert per_channel == prof.topics_channels * prof.topics_per_channel
    parts = split_groups(groups, 2)
    assert sum(g["count"] for p in parts for g in p) == sum(g["count"] for g in groups)


def _runs(res: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for s in res["scenarios"].values() for r in s.get("runs", [])]


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    for mod in ("hdrh", "rich", "matplotlib", "websockets"):
        pytest.importorskip(mod, reason="bench extras not installed (pip install -e .[bench])")
    out = tmp_path_factory.mktemp("bench")
    res = run_suite(list(SCENARIOS), PROFILES["smoke"], out, live=False)
    return res, out


def test_outputs_written(smoke: tuple[dict[str, Any], Path]) -> None:
    res, out = smoke
    on_disk = json.loads((out / "results.json").read_text())
    assert on_disk["scenarios"].keys() == res["scenarios"].keys() == set(SCENARIOS)
    for key in ("cpu_model", "cores", "python", "packages"):
        assert key in on_disk["machine"]
    assert (out / "summary.md").read_text().startswith("# Parley bench")
    assert (out / "fanout.png").stat().st_size > 0
    assert (out / "latency.png").stat().st_size > 0


def test_baselines_ran(smoke: tuple[dict[str, Any], Path]) -> None:
    res, _ = smoke
    ran = {r["server"] for r in _runs(res)}
    runnable = {b for b in BASELINES if not TARGETS[b].unavailable()}
    assert runnable >= {"websockets", "ceiling", "ceiling_batched"}
    assert runnable <= ran


def test_every_delivery_counted(smoke: tuple[dict[str, Any], Path]) -> None:
    res, _ = smoke
    prof = PROFILES["smoke"]
    assert all_ok(res), [r.get("problems") for r in _runs(res) if not r.get("ok")]
    fan = res["scenarios"]["fanout"]
    n_targets = len(res["targets"])
    assert len(fan["runs"]) == prof.rounds * len(prof.fanout_subs) * n_targets
    for r in fan["runs"]:
        assert r["connected"] == r["subscribers"] == r["n"]
        assert r["acked"] == r["messages"]
        assert r["deliveries"] == r["expected"] == r["messages"] * r["subscribers"]
        assert r["lost"] == 0
    groups, _, messages = topics_groups(prof)
    want = sum(g["count"] * g["expected"] for g in groups)
    for r in res["scenarios"]["topics"]["runs"]:
        assert r["messages"] == messages
        assert r["deliveries"] == r["expected"] == want
    lat = res["scenarios"]["latency"]
    for r in lat["runs"]:
        assert r["deliveries"] == r["expected"] == r["messages"] * prof.latency_subs
        assert r["latency_us"]["count"] > 0
    assert set(lat["summary"]) == {f"{f:.0%}" for f in prof.latency_fractions} | {
        f"{r:g} msg/s" for r in prof.latency_fixed_msgs
    }
    for per in lat["summary"].values():
        assert set(per) == set(res["targets"])
        for v in per.values():  # every figure next to the same run's rig floor
            assert v["floor_p99"] == per["ceiling_batched"]["p99"]
    for r in res["scenarios"]["connections"]["runs"]:
        assert r["connected"] == prof.conn_count
        assert r["server_us_per_accept"] >= 0  # CPU ticks are 10 ms: 20 accepts may show 0


def test_parley_durable_scenarios(smoke: tuple[dict[str, Any], Path]) -> None:
    res, _ = smoke
    if TARGETS["parley"].unavailable():
        pytest.skip("Parley is not runnable in this checkout")
    prof = PROFILES["smoke"]
    ing = res["scenarios"]["ingest"]
    rec = res["scenarios"]["recovery"]
    if "skipped" in ing or "skipped" in rec:
        pytest.skip(f"durable layer: {ing.get('skipped') or rec.get('skipped')}")
    for r in ing["runs"]:
        assert r["posted"] == r["expected"] > 0
    windows = {r.get("window") for r in ing["runs"] if r["server"] == "parley"}
    assert windows == {1, 8, 32}  # the pipelined runs ran
    for r in ing["store_runs"]:
        assert set(r["store"]) == {"per post", "bulk"}
        assert all(v["msgs_per_s"] > 0 for v in r["store"].values())
    # each round also posts its largest REST load to the bare-ASGI floor
    assert len([r for r in ing["runs"] if r["server"] == "floor_asgi"]) == prof.durable_rounds
    events = res["scenarios"]["events"]
    if "skipped" not in events:
        for r in events["runs"]:
            assert r["ok"] and r["floor_asgi_per_s"] > 0 and r["floor_quart_per_s"] > 0
    for r in rec["runs"]:
        assert r["received"] == r["replayed"] == r["events"] == prof.recovery_events


def test_rig_names() -> None:
    assert parse_rig("c") == Rig("c", 1)
    assert parse_rig("python:2") == Rig("python", 2)
    assert parse_rig("python", default_procs=3).name == "python:3"
    for bad in ("rust", "c:0", "python:x"):
        with pytest.raises(ValueError):
            parse_rig(bad)


def test_csub_samples_become_a_histogram() -> None:
    pytest.importorskip("hdrh", reason="bench extras not installed (pip install -e .[bench])")
    from hdrh.histogram import HdrHistogram

    assert csub.hist_from_samples([]) is None
    encoded = csub.hist_from_samples([[100, 98], [5000, 2]])
    assert encoded is not None
    h = HdrHistogram.decode(encoded)
    assert h.get_total_count() == 100
    assert h.get_value_at_percentile(50) == 100
    assert 4990 <= h.get_max_value() <= 5010


def test_latency_rig_floor(smoke: tuple[dict[str, Any], Path]) -> None:
    """The latency scenario runs the batched ceiling with every load client at every load,
    in the same run, and counts those runs exactly too; the targets include the floor."""
    if csub.unavailable():
        pytest.skip(f"C subscriber not buildable: {csub.unavailable()}")
    res, out = smoke
    prof = PROFILES["smoke"]
    lat = res["scenarios"]["latency"]
    assert lat["params"]["rig"] == "c"
    assert lat["params"]["rigs"] == ["c", "python"]
    for label, per in lat["floors"].items():
        assert set(per) == {"c", "python"}, label
        for v in per.values():
            assert v["all_ok"] and v["count"] > 0
    by_client = {r["client"] for r in lat["runs"]}
    assert by_client == {"c", "python"}
    for r in lat["runs"]:
        assert r["lost"] == 0 and r["deliveries"] == r["messages"] * prof.latency_subs
        if r["client"] == "python":
            assert r["server"] == "ceiling_batched"
    assert list((out / "build").glob("csub-*")), "csub is built into the output dir"
    assert not list((out / "logs").glob("*.plan")), "plans (bearer tokens) are removed"
    names = [c["target"] for c in checks(res)]
    assert any(t.startswith("rig floor p99 < 5 ms at 20 msg/s") for t in names)
    summary = (out / "summary.md").read_text()
    assert "Rig floor by load client" in summary


def test_reconnect_storm(smoke: tuple[dict[str, Any], Path]) -> None:
    """Every client was closed by the restart, reconnected, and recovered exactly its
    missed events (no event lost, none twice); the check row names the result."""
    res, out = smoke
    if TARGETS["parley"].unavailable():
        pytest.skip("Parley is not runnable in this checkout")
    storm = res["scenarios"]["storm"]
    if "skipped" in storm:
        pytest.skip(f"durable layer: {storm['skipped']}")
    n = PROFILES["smoke"].conn_count
    (run,) = storm["runs"]
    assert run["ok"], run["problems"]
    assert run["connected_before"] == run["clients"] == run["recovered"] == n
    assert (run["short"], run["extra"], run["not_recovered"], run["never_reconnected"]) == (
        0,
        0,
        0,
        0,
    )
    assert run["connect_attempts"] >= n
    check = next(c for c in res["checks"] if c["target"].startswith("reconnect storm"))
    assert check["measured"].startswith(f"{n:,}/{n:,} in ")
    assert check["result"] == "n/a"  # a smoke run is not the target's 10,000 clients
    assert "## storm" in (out / "summary.md").read_text()
