"""The Python SDK against a real `parley serve`, restarted mid-stream: every message
arrives exactly once, in order; posts made while the server is down are queued and stored
once (idempotency keys)."""

from __future__ import annotations

from typing import Any

import trio

from parley.client import ChannelEvent, State, connect
from tests.client.conftest import FAST, Server
from tests.conftest import make_token

TOPIC = "events.acme.conversations.>"
N = 120


async def collect(sub: Any, into: list[ChannelEvent], until: int) -> None:
    async for ev in sub:
        if isinstance(ev, ChannelEvent) and ev.event == "message_posted":
            into.append(ev)
            if len(into) >= until:
                return


async def test_restart_mid_stream_loses_and_doubles_nothing(server: Server) -> None:
    async with (
        connect(
            server.ws_url, token=make_token("alice"), http_url=server.http_url, backoff=FAST
        ) as alice,
        connect(server.ws_url, token=make_token("bob"), backoff=FAST) as bob,
    ):
        assert alice.rest is not None
        ch = (await alice.rest.create_channel("group", name="g", members=["bob"]))["id"]
        got: list[ChannelEvent] = []
        posted: list[int] = []
        async with bob.subscribe(TOPIC) as sub, trio.open_nursery() as nursery:
            nursery.start_soon(collect, sub, got, N)

            third = trio.Event()

            async def poster() -> None:
                for i in range(N):
                    posted.append((await alice.post(ch, f"m{i}")).seq)
                    if i == N // 3:
                        third.set()
                    if i % 10 == 0:
                        await trio.sleep(0.01)

            nursery.start_soon(poster)
            with trio.fail_after(60):
                await third.wait()
                # Down for a moment: alice's posts queue, bob's reconnect attempts fail.
                await server.restart(down_for=0.3)
        assert texts_of(got) == [f"m{i}" for i in range(N)]
        seqs = [e.seq for e in got]
        assert seqs == sorted(set(seqs)) == sorted(posted)
        assert seqs == list(range(seqs[0], seqs[0] + N))
        assert bob.connections >= 2 and alice.connections >= 2
        # Stored once each, whatever was resent.
        stored = [m["text"] async for m in alice.rest.history(ch)]
        assert stored == [f"m{i}" for i in range(N)]
        assert alice.state is State.OPEN


def texts_of(events: list[ChannelEvent]) -> list[str]:
    return [e.data["text"] for e in events]
