"""``micro``: the sans-IO core alone, in-process (no sockets, no baselines).

Times :meth:`broker.hub.Hub.publish` (match, serialize once, queue the shared frame on each
subscriber's outbox) and the topic trie's match, so an end-to-end regression can be traced
to the core or to the I/O around it. Reported as skipped if the broker's internals differ
from what this module expects.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

from bench.scenarios import PREFIX, Ctx

DATA = {"t": 1_700_000_000_000_000_000, "seq": 0, "pad": "x" * 60}


def _best_of(fn: Callable[[], int], repeat: int) -> tuple[float, int]:
    """Median seconds of ``repeat`` calls of ``fn`` (which returns its op count)."""
    times: list[float] = []
    ops = 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        ops = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), ops


def _hub_publish(subscribers: int, messages: int, repeat: int) -> dict[str, Any]:
    from parley.broker.client import Client
    from parley.broker.hub import Hub
    from parley.broker.outbox import Outbox
    from parley.core.claims import Claims

    claims = Claims(sub="u", org="bench", exp=time.time() + 3600, roles=("service",))
    topic = f"{PREFIX}.src.res.evt.1"

    def run() -> tuple[int, float]:
        hub = Hub()
        for i in range(subscribers):
            c = Client(f"s{i}", claims, Outbox(10**9, 1 << 40), lambda: None)
            hub.subscribe(c, f"{PREFIX}.>", [*PREFIX.split("."), ">"])
        n = 0
        t0 = time.perf_counter()
        for _ in range(messages):
            n += hub.publish(topic, DATA)
        return n, time.perf_counter() - t0

    elapsed: list[float] = []
    delivered = 0
    for _ in range(repeat):
        delivered, secs = run()
        elapsed.append(secs)
    secs = statistics.median(elapsed)
    return {
        "subscribers": subscribers,
        "messages": messages,
        "deliveries": delivered,
        "us_per_publish": secs * 1e6 / messages,
        "ns_per_delivery": secs * 1e9 / delivered if delivered else None,
        "deliveries_per_s": delivered / secs if secs else None,
    }


def _trie_match(patterns: int, lookups: int, repeat: int) -> dict[str, Any]:
    from parley.broker.trie import TopicTrie

    trie: TopicTrie[int] = TopicTrie()
    for j in range(patterns):
        trie.insert([*PREFIX.split("."), f"s{j}", "*", "msg", "*"], j)
        trie.insert([*PREFIX.split("."), f"s{j}", ">"], j + patterns)
    topics = [f"{PREFIX}.s{j % patterns}.chan.msg.1" for j in range(lookups)]
    parts = [t.split(".") for t in topics]

    def cached() -> int:
        for t in topics:
            trie.match(t)
        return lookups

    def uncached() -> int:
        for p in parts:
            trie.match_parts(p)
        return lookups

    c, _ = _best_of(cached, repeat)
    u, _ = _best_of(uncached, repeat)
    return {
        "patterns": 2 * patterns,
        "ns_per_match_cached": c * 1e9 / lookups,
        "ns_per_match_parts": u * 1e9 / lookups,
    }


def scenario_micro(ctx: Ctx) -> dict[str, Any]:
    quick = ctx.profile.name != "full"
    repeat = 3 if quick else 7
    try:
        hub = [
            _hub_publish(n, max(20, 200_000 // n) if not quick else max(10, 50_000 // n), repeat)
            for n in (1, 100, 1000)
        ]
        trie = _trie_match(100, 20_000, repeat)
    except (ImportError, AttributeError, TypeError) as exc:
        ctx.step()
        return {"skipped": f"broker internals not as expected: {type(exc).__name__}: {exc}"}
    for h in hub:
        ctx.log(
            f"{'micro':>10}  Hub.publish to {h['subscribers']:>5} subs: "
            f"{h['us_per_publish']:.1f} µs/publish, {h['ns_per_delivery']:.0f} ns/delivery"
        )
    ctx.log(
        f"{'micro':>10}  trie match ({trie['patterns']} patterns): "
        f"{trie['ns_per_match_cached']:.0f} ns cached, {trie['ns_per_match_parts']:.0f} ns uncached"
    )
    ctx.step()
    return {
        "description": "In-process Hub.publish into real Client/Outbox objects (nothing "
        "drains them), and TopicTrie.match; median of repeats.",
        "params": {"repeat": repeat, "payload": DATA},
        "runs": [],
        "summary": {"hub_publish": hub, "trie": trie},
    }
