"""``parley sub`` / ``pub`` / ``post`` on the SDK (docs/clients.md, "CLI"): each writes JSON
lines to ``out``; the command line (parley/cli.py) parses flags and prints errors."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, TextIO

import orjson
import trio

from parley.client.backoff import Backoff
from parley.client.client import connect
from parley.client.errors import ParleyError
from parley.client.events import ChannelEvent, Event
from parley.client.tokens import TokenSource


def event_line(ev: Event | ChannelEvent) -> str:
    """One event as a JSON line: ``topic``, ``data``, ``ts``, and for channel events
    ``channel``, ``seq``, ``event`` (ephemeral ones: ``channel``, ``event``)."""
    body: dict[str, Any] = {k: v for k, v in asdict(ev).items() if v is not None}
    return orjson.dumps(body).decode()


def _write(out: TextIO, line: str) -> None:
    out.write(line + "\n")
    out.flush()


async def run_sub(
    url: str,
    token: TokenSource,
    patterns: list[str],
    out: TextIO,
    *,
    count: int | None = None,
    backoff: Backoff | None = None,
    status: TextIO | None = None,
) -> None:
    """Print the events of ``patterns`` until ``count`` were printed (or forever),
    resuming across reconnects (no event lost or printed twice); ``status`` gets a line
    per pattern once the server has confirmed it."""
    done = trio.Event()
    printed = 0
    failed: list[ParleyError] = []
    async with connect(url, token=token, backoff=backoff) as client:
        subs = [client.subscribe(p) for p in patterns]
        for sub in subs:
            await sub.start()
            if status is not None:
                _write(status, f"subscribed to {sub.pattern}")

        async def pump(sub: Any) -> None:
            nonlocal printed
            try:
                async for ev in sub:
                    _write(out, event_line(ev))
                    printed += 1
                    if count is not None and printed >= count:
                        break
            except ParleyError as exc:  # refused, or the client stopped
                failed.append(exc)
            done.set()

        async with trio.open_nursery() as nursery:
            for sub in subs:
                nursery.start_soon(pump, sub)
            await done.wait()
            nursery.cancel_scope.cancel()
    if failed:
        raise failed[0]


async def run_pub(url: str, token: TokenSource, topic: str, data: Any, out: TextIO) -> None:
    async with connect(url, token=token) as client:
        deliveries = await client.publish(topic, data)
    _write(out, orjson.dumps({"topic": topic, "deliveries": deliveries}).decode())


async def run_post(
    url: str,
    token: TokenSource,
    channel: str,
    text: str,
    out: TextIO,
    *,
    idempotency_key: str | None = None,
) -> None:
    async with connect(url, token=token) as client:
        posted = await client.post(channel, text, idempotency_key=idempotency_key)
    _write(out, orjson.dumps(asdict(posted)).decode())
