"""Overload against a ``parley serve`` subprocess, through python-websockets and httpx:
a client that stops reading beside healthy subscribers, a connection flood, and one user
publishing over the rate limit. The server refuses with the documented codes (4000, 4003,
4500, ``rate_limited``) and stays responsive for everyone else."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from parley.core.codes import CloseCode
from tests.conftest import make_token
from tests.reliability.conftest import Figures, Scale
from tests.reliability.harness import ORG, ParleyServer

TOPIC = "events.acme.client.feed.tick.1"  # the client namespace: any user may read it
TIMEOUT = 20.0
BATCH = 10
CLOSED_4000 = 'parley_connections_closed_total{code="4000"}'


def _hdr(user: str, roles: tuple[str, ...] = ()) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_token(user, ORG, roles=roles)}"}


async def _dial(server: ParleyServer, user: str, **kw: Any) -> ClientConnection:
    ws = await connect(server.ws_url, additional_headers=_hdr(user), open_timeout=10, **kw)
    try:
        hello = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
    except BaseException:
        await ws.close()
        raise
    assert hello["type"] == "hello", hello
    return ws


async def _call(ws: ClientConnection, op_id: int, op: str, **body: Any) -> dict[str, Any]:
    await ws.send(json.dumps({"id": op_id, "op": op, **body}))
    while True:
        msg: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
        if msg.get("id") == op_id:
            return msg


def _metric(text: str, series: str) -> float:
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.split()[-1])
    return 0.0


def _close_code(exc: ConnectionClosed) -> int:
    return exc.rcvd.code if exc.rcvd is not None else 1006


def test_a_client_that_stops_reading_is_closed_4000_and_others_get_everything(
    tmp_path: Path, scale: Scale, figures: Figures
) -> None:
    events = scale.pick(4000, 20000)
    healthy_n = scale.pick(3, 20)
    pad = "x" * 4000
    server = ParleyServer(
        tmp_path,
        PARLEY_OUTBOX_MAX_BYTES=str(512 << 10),
        PARLEY_MAX_CONNECTIONS_PER_USER="100",
    )
    server.start()

    async def main() -> dict[str, Any]:
        # The stalled client's library stops reading once 4 messages wait unread.
        slow = await _dial(server, "slow", max_queue=4)
        healthy = [await _dial(server, f"reader{i}") for i in range(healthy_n)]
        for i, ws in enumerate([slow, *healthy]):
            assert (await _call(ws, 1, "subscribe", topic=TOPIC))["ok"], i

        async def read_all(ws: ClientConnection) -> list[int]:
            got: list[int] = []
            while True:  # until the end marker
                msg = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
                if msg.get("type") == "event":
                    if msg["data"]["n"] < 0:
                        return got
                    got.append(msg["data"]["n"])

        async def drain_slow() -> tuple[int, int]:
            """The stalled client reads again once the feed is out: what it had buffered,
            then the close (4000, or 1006 if the server gave up on delivering the close
            frame through the full socket first: CLOSE_TIMEOUT)."""
            await published.wait()
            n = 0
            try:
                while True:
                    msg = json.loads(await asyncio.wait_for(slow.recv(), TIMEOUT))
                    n += msg.get("type") == "event"
            except ConnectionClosed as exc:
                return n, _close_code(exc)

        published = asyncio.Event()
        readers = [asyncio.create_task(read_all(ws)) for ws in healthy]
        slow_task = asyncio.create_task(drain_slow())
        t0 = time.monotonic()
        async with httpx.AsyncClient(
            base_url=server.http_url, headers=_hdr("feeder", ("service",)), timeout=TIMEOUT
        ) as http:
            # At least ``events``, and on until the server has closed the stalled client
            # (how much the socket buffers hold first depends on the kernel), bounded.
            sent = 0
            while sent < events or (
                sent < 5 * events and _metric((await http.get("/metrics")).text, CLOSED_4000) < 1
            ):
                batch = [{"topic": TOPIC, "data": {"n": n, "pad": pad}}
                         for n in range(sent, sent + BATCH)]  # fmt: skip
                resp = await http.post("/v1/events:batch", json={"events": batch})
                assert resp.status_code == 200, resp.text
                sent += BATCH
            resp = await http.post("/v1/events", json={"topic": TOPIC, "data": {"n": -1}})
            assert resp.status_code == 200, resp.text
            published_s = time.monotonic() - t0
            published.set()
            got = await asyncio.gather(*readers)
            delivered_s = time.monotonic() - t0
            # ... and the server answers at once meanwhile
            t1 = time.monotonic()
            assert (await http.get("/livez")).status_code == 200
            livez_s = time.monotonic() - t1
            metrics = (await http.get("/metrics")).text
        slow_got, slow_code = await slow_task
        for ws in healthy:
            await ws.close()
        return {
            "got": got,
            "slow_code": slow_code,
            "closed_4000": _metric(metrics, CLOSED_4000),
            "sent": sent,
            "slow_got": slow_got,
            "published_s": published_s,
            "delivered_s": delivered_s,
            "livez_s": livez_s,
        }

    try:
        r = asyncio.run(main())
    finally:
        server.stop()
    assert r["closed_4000"] == 1  # the server closed exactly the stalled one, with 4000
    assert r["slow_code"] in (CloseCode.SLOW_CONSUMER, 1006)
    for got in r["got"]:
        assert got == list(range(r["sent"]))  # everything, in order
    assert r["slow_got"] < r["sent"]
    figures(
        f"{r['sent']} events of 4 KB to {healthy_n} healthy readers + 1 stalled: published in "
        f"{r['published_s']:.2f} s, all delivered in order in {r['delivered_s']:.2f} s; the "
        f"stalled one got {r['slow_got']} then saw close {r['slow_code']} (server: "
        f"{r['closed_4000']:.0f} closed 4000); /livez after "
        f"{r['livez_s'] * 1000:.0f} ms"
    )


def test_connection_flood_is_refused_with_4003_and_4500_and_others_still_served(
    tmp_path: Path, scale: Scale, figures: Figures
) -> None:
    cap = scale.pick(60, 400)
    flood = cap + scale.pick(40, 200)
    per_user = 8
    server = ParleyServer(
        tmp_path,
        PARLEY_MAX_CONNECTIONS=str(cap),
        PARLEY_MAX_CONNECTIONS_PER_USER=str(per_user),
    )
    server.start()

    async def attempt(user: str) -> tuple[str, ClientConnection | None]:
        try:
            ws = await _dial(server, user)
        except ConnectionClosed as exc:
            return f"closed {_close_code(exc)}", None
        except (OSError, TimeoutError) as exc:
            return f"failed {type(exc).__name__}", None
        return "open", ws

    async def main() -> dict[str, Any]:
        t0 = time.monotonic()
        # one user over its own limit, then many users at once past the server's
        same_user = await asyncio.gather(*(attempt("greedy") for _ in range(per_user + 4)))
        many = await asyncio.gather(*(attempt(f"u{i}") for i in range(flood)))
        flood_s = time.monotonic() - t0
        outcomes: dict[str, int] = {}
        for what, _ in [*same_user, *many]:
            outcomes[what] = outcomes.get(what, 0) + 1
        greedy = sorted(w for w, _ in same_user)
        # at capacity: REST still answers, and once some close a newcomer gets in
        async with httpx.AsyncClient(base_url=server.http_url, timeout=TIMEOUT) as http:
            t1 = time.monotonic()
            assert (await http.get("/livez")).status_code == 200
            livez_s = time.monotonic() - t1
        opened = [ws for _, ws in [*same_user, *many] if ws is not None]
        for ws in opened[:10]:
            await ws.close()
        late = None
        for _ in range(50):  # the server notices the closes shortly
            what, late = await attempt("latecomer")
            if late is not None:
                break
            await asyncio.sleep(0.1)
        assert late is not None, "no room after closing 10"
        assert (await _call(late, 1, "ping"))["ok"]
        for ws in [*opened[10:], late]:
            await ws.close()
        return {"outcomes": outcomes, "greedy": greedy, "flood_s": flood_s, "livez_s": livez_s}

    try:
        r = asyncio.run(main())
    finally:
        server.stop()
    assert r["greedy"].count("open") == per_user
    assert r["greedy"].count(f"closed {CloseCode.CONNECTION_LIMIT}") == 4
    assert r["outcomes"]["open"] == cap
    assert set(r["outcomes"]) == {
        "open", f"closed {CloseCode.CONNECTION_LIMIT}", f"closed {CloseCode.SERVER_OVERLOAD}"
    }, r["outcomes"]  # fmt: skip
    figures(
        f"max_connections {cap}, per user {per_user}: {per_user + 4} by one user then "
        f"{flood} users at once in {r['flood_s']:.2f} s -> {r['outcomes']}; /livez at "
        f"capacity {r['livez_s'] * 1000:.0f} ms; a newcomer got in after 10 closed"
    )


def test_publish_flood_is_rate_limited_and_others_carry_on(
    tmp_path: Path, scale: Scale, figures: Figures
) -> None:
    rate, burst = 100, 50
    flood = scale.pick(600, 5000)
    server = ParleyServer(tmp_path, PARLEY_PUBLISH_RATE=str(rate), PARLEY_PUBLISH_BURST=str(burst))
    server.start()
    topic = "events.acme.client.room.msg.1"

    async def main() -> dict[str, Any]:
        flooder = await _dial(server, "flooder")
        calm = await _dial(server, "calm")
        watcher = await _dial(server, "watcher")
        assert (await _call(watcher, 1, "subscribe", topic=topic))["ok"]
        t0 = time.monotonic()
        for i in range(flood):  # all at once, without waiting for replies
            await flooder.send(json.dumps({"id": i + 1, "op": "publish", "topic": topic,
                                           "data": {"from": "flooder", "i": i}}))  # fmt: skip
        codes: dict[str, int] = {}
        for _ in range(flood):
            msg = json.loads(await asyncio.wait_for(flooder.recv(), TIMEOUT))
            if msg.get("type") == "event":
                continue
            code = "ok" if msg["ok"] else msg["error"]["code"]
            codes[code] = codes.get(code, 0) + 1
        flood_s = time.monotonic() - t0
        # the flooder's connection is still open; the others are not throttled by it
        assert (await _call(flooder, flood + 1, "ping"))["ok"]
        t1 = time.monotonic()
        calm_replies = [
            await _call(calm, i + 1, "publish", topic=topic, data={"from": "calm", "i": i})
            for i in range(20)
        ]
        calm_s = time.monotonic() - t1
        seen: list[dict[str, Any]] = []
        while sum(1 for d in seen if d["from"] == "calm") < 20:
            msg = json.loads(await asyncio.wait_for(watcher.recv(), TIMEOUT))
            if msg.get("type") == "event":
                seen.append(msg["data"])
        for ws in (flooder, calm, watcher):
            await ws.close()
        return {
            "codes": codes,
            "calm_ok": all(r["ok"] for r in calm_replies),
            "calm_order": [d["i"] for d in seen if d["from"] == "calm"],
            "flooder_seen": sum(1 for d in seen if d["from"] == "flooder"),
            "flood_s": flood_s,
            "calm_s": calm_s,
        }

    try:
        r = asyncio.run(main())
    finally:
        server.stop()
    assert set(r["codes"]) == {"ok", "rate_limited"}, r["codes"]
    assert burst <= r["codes"]["ok"] <= burst + rate * (r["flood_s"] + 1)
    assert r["flooder_seen"] == r["codes"]["ok"]  # refused publishes reached nobody
    assert r["calm_ok"] and r["calm_order"] == list(range(20))
    figures(
        f"rate {rate}/s burst {burst}: {flood} publishes at once -> {r['codes']} in "
        f"{r['flood_s']:.2f} s (connection kept); another user's 20 publishes all ok in "
        f"{r['calm_s'] * 1000:.0f} ms, delivered in order"
    )
