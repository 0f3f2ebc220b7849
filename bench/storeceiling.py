"""The store's own ceiling for the ingest scenario, measured in the same run: Parley's
store in this process (a fresh SQLite file, or the ``--database-url`` PostgreSQL), no
broker, no sockets. Two paths, as the server takes them:

- ``per post``: ``posters`` concurrent callers, each writing one post at a time as the
  server's post pipeline does (``store.write_bulk(sql.messages.post_plain, ...)``: the
  writer runs a batch's neighbouring plain posts in bulk), what one-in-flight WebSocket
  and REST posts cost the store;
- ``bulk``: the same callers, each writing groups of ``group`` plain posts with
  ``sql.messages.post_plain_many`` (what a connection's pipelined posts cost the store).

msgs/s = posts committed / wall time; CPU µs/post = this process's CPU (all threads)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import trio

from parley.core.records import ChannelKind, Draft
from parley.domain.access import post_policy
from parley.store import SqlStore, open_store, sql

CHANNELS = 10
PAD = "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor"


async def _channels(store: SqlStore, author: str) -> list[str]:
    ids = []
    for j in range(CHANNELS):
        ch, _ = await store.write(
            sql.channels.create_channel,
            org="bench-store",
            kind=ChannelKind.GROUP,
            name=f"c{j}-{time.time_ns()}",
            topic="",
            created_by=author,
            members=[],
        )
        ids.append(ch.id)
    return ids


async def _measure(url: str, posters: int, messages: int, group: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    async with open_store(url, auto_migrate=True) as store:
        author = f"bench-{time.time_ns()}"
        chans = await _channels(store, author)
        policy = post_policy()

        def draft(k: int, j: int, stamp: int) -> Draft:
            return Draft(
                "bench-store",
                chans[k % CHANNELS],
                author,
                f"m{k}-{j} {PAD}",
                idempotency_key=f"s{k}-{j}-{stamp}",
            )

        async def one_by_one(k: int, n: int, stamp: int) -> None:
            for j in range(n):
                await store.write_bulk(sql.messages.post_plain, (draft(k, j, stamp), policy))

        async def in_groups(k: int, n: int, stamp: int) -> None:
            for start in range(0, n, group):
                drafts = [draft(k, j, stamp) for j in range(start, min(n, start + group))]
                for r in await store.write(sql.messages.post_plain_many, drafts, authorize=policy):
                    r.unwrap()

        for label, fn in (("per post", one_by_one), ("bulk", in_groups)):
            for phase, n in (("warm", max(posters, messages // 10)), ("run", messages)):
                stamp = time.time_ns()
                t0, c0 = time.perf_counter(), time.process_time()
                async with trio.open_nursery() as nursery:
                    for k in range(posters):
                        nursery.start_soon(fn, k, n // posters + (k < n % posters), stamp)
                secs, cpu = time.perf_counter() - t0, time.process_time() - c0
                if phase == "run":
                    out[label] = {"msgs_per_s": n / secs, "cpu_us_per_post": cpu * 1e6 / n}
    return out


def store_ceiling(
    database_url: str, *, posters: int, messages: int, group: int = 32
) -> dict[str, Any]:
    """Both paths' figures (see the module docstring), measured now."""
    with tempfile.TemporaryDirectory(prefix="parley-bench-store-") as tmp:
        url = database_url or f"sqlite:///{Path(tmp) / 'store.db'}"
        result: dict[str, Any] = trio.run(_measure, url, posters, messages, group)
        return result
