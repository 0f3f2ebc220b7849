"""Pipelined posts on one connection, end to end on SQLite and PostgreSQL: a client that
sends many ``post`` ops without waiting gets one reply each, in the order sent, with the
seqs in that order; a refusal and an idempotent repeat among them answer in place; a
watcher sees every message once, in seq order (docs/protocol.md, "Replies")."""

from __future__ import annotations

import json
from contextlib import ExitStack

from tests.e2e.test_channels import TOPIC, app, dial, rest
from tests.support.live import LiveApp

__all__ = ["app"]

POSTS = 40


def test_pipelined_posts_are_answered_in_order_with_their_seqs(app: LiveApp) -> None:
    status, ch = rest(app, "POST", "/v1/channels", "alice", {"kind": "group", "name": "pipe"})
    assert status == 201
    status, other = rest(app, "POST", "/v1/channels", "carol", {"kind": "group", "name": "x"})
    assert status == 201
    with ExitStack() as stack:
        watcher = dial(stack, app, "alice")
        assert watcher.call("subscribe", topic=TOPIC)["ok"] is True
        poster = dial(stack, app, "alice")
        frames = []
        for i in range(1, POSTS + 1):
            body: dict[str, object] = {"id": i, "op": "post", "channel": ch["id"], "text": f"m{i}"}
            if i == 10:
                body["channel"] = other["id"]  # alice is no member: refused in its place
            if i in (20, 21):
                body["idempotency_key"] = "same"  # 21 repeats 20: the original comes back
            frames.append(json.dumps(body))
        for frame in frames:
            poster.ws.send(frame)
        replies = [poster.recv() for _ in range(POSTS)]
        assert [r["id"] for r in replies] == list(range(1, POSTS + 1))
        assert replies[9]["ok"] is False and replies[9]["error"]["code"] == "not_found"
        accepted = [r for r in replies if r["ok"]]
        assert len(accepted) == POSTS - 1
        assert replies[20]["created"] is False
        assert replies[20]["message_id"] == replies[19]["message_id"]
        created = [r for r in accepted if r["created"]]
        seqs = [r["seq"] for r in created]
        assert seqs == list(range(seqs[0], seqs[0] + len(created)))
        events = watcher.events(len(created))
        assert [e["seq"] for e in events] == seqs
        assert [e["data"]["text"] for e in events] == [f"m{r['id']}" for r in created]
