"""Recovery beyond the outbox, eight clients at once, on a real `parley serve`: 10,000
missed 16 KB messages (50,000 in the long run). Each client gets what its outbox takes,
``recovered: false`` with ``replayed_to``, and pages the rest over REST; nobody is closed
as a slow consumer, and the server's peak RSS during the recoveries stays bounded by the
outboxes, not by the missed log (one recovery of 3,000 x 16 KB used to add 142 MiB, eight
300 MiB)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import connect

from tests.conftest import make_token
from tests.reliability.conftest import Figures, Scale
from tests.reliability.harness import ORG, ParleyServer, create_channel

CLIENTS = 8
OUTBOX_BYTES = 2 << 20  # 2 MiB a connection: eight of them are 16 MiB
TEXT = "x" * (16 * 1024 - 64)  # a 16 KB message


def _kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def test_eight_recoveries_beyond_the_outbox_keep_memory_bounded(
    tmp_path: Path, scale: Scale, figures: Figures
) -> None:
    missed = scale.pick(10_000, 50_000)
    server = ParleyServer(
        tmp_path,
        PARLEY_OUTBOX_MAX_BYTES=str(OUTBOX_BYTES),
        PARLEY_REST_WRITE_BURST="1000000",
        PARLEY_REST_READ_BURST="1000000",
    )
    server.start()
    try:
        ch = create_channel(server, "recover", ["alice"])
        cid = ch["id"]

        async def fill() -> None:
            async with connect(
                server.ws_url,
                additional_headers={"Authorization": f"Bearer {make_token('alice', ORG)}"},
                max_size=None,
            ) as ws:
                json.loads(await ws.recv())  # hello
                window = 64
                for start in range(0, missed, window):
                    n = min(window, missed - start)
                    for i in range(n):
                        await ws.send(
                            json.dumps(
                                {"id": start + i + 1, "op": "post", "channel": cid, "text": TEXT}
                            )
                        )
                    replies = 0
                    while replies < n:
                        reply = json.loads(await ws.recv())
                        if "id" not in reply:
                            continue  # a push (presence), not a reply
                        assert reply.get("ok"), reply
                        replies += 1

        asyncio.run(fill())
        pid = server.proc.pid
        Path(f"/proc/{pid}/clear_refs").write_text("5")  # peak RSS from here on
        before = _kib(pid, "VmRSS")

        async def recover(i: int) -> dict[str, Any]:
            topic = f"events.{ORG}.conversations.conversation.*.{cid}"
            async with connect(
                server.ws_url,
                additional_headers={"Authorization": f"Bearer {make_token('alice', ORG)}"},
                max_size=None,
                max_queue=None,
            ) as ws:
                json.loads(await ws.recv())  # hello
                await ws.send(json.dumps({"id": 1, "op": "subscribe", "topic": topic,
                                          "since": {cid: 0}}))  # fmt: skip
                seqs: list[int] = []
                while True:
                    msg = json.loads(await asyncio.wait_for(ws.recv(), 60))
                    if msg.get("id") == 1:
                        return {"reply": msg, "seqs": seqs}
                    if msg.get("type") == "event":
                        seqs.append(msg["seq"])

        async def all_at_once() -> list[dict[str, Any]]:
            return await asyncio.gather(*(recover(i) for i in range(CLIENTS)))

        results = asyncio.run(all_at_once())
        peak = _kib(pid, "VmHWM")
        for r in results:
            rec = r["reply"]["recovery"][cid]
            assert r["reply"]["ok"] and rec["recovered"] is False, r["reply"]
            upto = rec["replayed_to"]
            assert r["seqs"] == list(range(1, upto + 1))  # gapless from the start
        # the rest pages over REST from replayed_to, exactly once and in order
        upto = results[0]["reply"]["recovery"][cid]["replayed_to"]
        seen: list[int] = []
        with httpx.Client(base_url=server.http_url, timeout=30) as http:
            after = upto
            token = make_token("alice", ORG)
            while True:
                resp = http.get(
                    f"/v1/channels/{cid}/messages",
                    params={"after": after, "limit": 200},
                    headers={"Authorization": f"Bearer {token}"},
                )
                assert resp.status_code == 200, resp.text
                body = resp.json()
                seen += [m["seq"] for m in body["items"]]
                if not body.get("next_after"):
                    break
                after = body["next_after"]
        # seqs 1 and 2 are the members' member_added events; the messages are 3..missed+2
        assert seen == list(range(max(upto + 1, 3), missed + 3))
        growth_mib = (peak - before) / 1024
        figures(
            f"{CLIENTS} clients recovering {missed:,} x 16 KB at once: each replayed "
            f"{upto:,} then paged REST; server RSS {before / 1024:.0f} MiB before, peak "
            f"+{growth_mib:.0f} MiB (outboxes {CLIENTS} x {OUTBOX_BYTES >> 20} MiB)"
        )
        # bounded by the outboxes and a page per client, not by the 160 MB missed
        assert growth_mib < 96, growth_mib
    finally:
        server.stop()
