"""The reconnect recipe of docs/protocol.md end to end, on SQLite and PostgreSQL: resume
every channel (``resume_all``, including ones joined while offline), page past the channel
cap with ``more``, and re-subscribe the same pattern to fill a gap."""

from __future__ import annotations

import json
from contextlib import ExitStack
from typing import Any

from parley.broker.session import MAX_RECOVER_CHANNELS
from tests.e2e.test_channels import TOPIC, Client, app, dial, rest
from tests.support.live import LiveApp

__all__ = ["app"]


def group(app: LiveApp, owner: str, members: list[str], name: str = "g") -> str:
    status, ch = rest(
        app, "POST", "/v1/channels", owner, {"kind": "group", "name": name, "members": members}
    )
    assert status == 201, ch
    cid: str = ch["id"]
    return cid


def post(app: LiveApp, user: str, cid: str, text: str) -> int:
    status, body = rest(app, "POST", f"/v1/channels/{cid}/messages", user, {"text": text})
    assert status == 201, body
    seq: int = body["seq"]
    return seq


def subscribe_collect(c: Client, cid: int, **body: Any) -> tuple[dict[str, Any], list[Any]]:
    """Send a subscribe; return its reply and the channel events that came before it."""
    c.ws.send(json.dumps({"id": cid, "op": "subscribe", "topic": TOPIC, **body}))
    before: list[Any] = []
    while True:
        msg = c.recv()
        if msg.get("id") == cid:
            return msg, before
        if "seq" in msg:
            before.append((msg["channel"], msg["seq"]))


def test_resume_all_covers_channels_joined_while_offline(app: LiveApp) -> None:
    a = group(app, "alice", ["carol"], "a")
    with ExitStack() as stack:
        carol = dial(stack, app, "carol")
        assert carol.call("subscribe", topic=TOPIC)["ok"]
        last_a = post(app, "alice", a, "before")
        assert carol.events(1)[0]["seq"] == last_a
        carol.ws.close()
        # Offline: more in a, and a new channel b that carol is added to.
        missed = [post(app, "alice", a, f"missed {i}") for i in range(3)]
        b = group(app, "bob", ["carol"], "b")
        b_now = post(app, "bob", b, "hello carol")

        back = dial(stack, app, "carol")
        reply, replayed = subscribe_collect(back, 7, since={a: last_a}, resume_all=True)
        assert reply["ok"], reply
        assert reply["recovery"] == {
            a: {"recovered": True, "replayed": 3, "replayed_to": missed[-1]},
            b: {"recovered": True, "replayed": 0, "replayed_to": b_now},
        }
        assert "more" not in reply
        assert replayed == [(a, s) for s in missed]
        # Live from there on, exactly the next seq of each: no gap, no duplicate.
        nxt_b = post(app, "bob", b, "live")
        nxt_a = post(app, "alice", a, "live")
        got = [(e["channel"], e["seq"]) for e in back.events(2)]
        assert got == [(b, b_now + 1), (a, missed[-1] + 1)] == [(b, nxt_b), (a, nxt_a)]


def test_resubscribing_the_same_pattern_replays_the_gap(app: LiveApp) -> None:
    a = group(app, "alice", ["carol"], "a")
    seqs = [post(app, "alice", a, f"m{i}") for i in range(4)]
    with ExitStack() as stack:
        carol = dial(stack, app, "carol")
        assert carol.call("subscribe", topic=TOPIC)["ok"]
        # The client saw only seqs[0] (say), so it re-subscribes from there.
        reply, replayed = subscribe_collect(carol, 9, since={a: seqs[0]})
        assert reply["ok"] and reply["recovery"][a]["replayed_to"] == seqs[-1]
        assert replayed == [(a, s) for s in seqs[1:]]
        # Still one subscription: a live event arrives once.
        live = post(app, "alice", a, "once")
        assert [e["seq"] for e in carol.events(1)] == [live]
        assert carol.call("ping")["ok"]
        assert [p for p in carol.pushes if p.get("event") == "message_posted"] == []


def test_more_channels_than_one_subscribe_replays_are_paged(app: LiveApp) -> None:
    n = MAX_RECOVER_CHANNELS + 5
    ids = [group(app, "alice", ["carol"], f"g{i}") for i in range(n)]
    with ExitStack() as stack:
        carol = dial(stack, app, "carol")
        first, _ = subscribe_collect(carol, 1, resume_all=True)
        assert first["ok"] and len(first["recovery"]) == MAX_RECOVER_CHANNELS
        assert sorted([*first["recovery"], *first["more"]]) == sorted(ids)
        second, _ = subscribe_collect(carol, 2, since=dict.fromkeys(first["more"]))
        assert sorted(second["recovery"]) == sorted(first["more"]) and "more" not in second
        positions = {**first["recovery"], **second["recovery"]}
        assert all(r["recovered"] and r["replayed_to"] >= 1 for r in positions.values())
