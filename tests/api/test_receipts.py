"""Read positions: forward only, pushed to the channel, unread counts agree everywhere."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.api import Env, chat_env


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    async with chat_env(tmp_path) as e:
        yield e


async def unread(env: Env, cid: str, user: str) -> tuple[int, int]:
    """(unread from GET channel, unread from the channel list) for ``user``."""
    status, one = await env.call("GET", f"/v1/channels/{cid}", user)
    assert status == 200
    status, listed = await env.call("GET", "/v1/channels", user)
    (mine,) = [c for c in listed["items"] if c["id"] == cid]
    return one["unread"], mine["unread"]


async def test_mark_read_moves_forward_only_and_pushes_receipts(env: Env) -> None:
    cid = await env.channel()
    seqs = [(await env.post(cid, f"m{i}"))["seq"] for i in range(3)]
    assert await unread(env, cid, "bob") == (3, 3)
    url = f"/v1/channels/{cid}/read"

    status, body = await env.call("POST", url, "bob", json={"seq": seqs[1]})
    assert status == 200
    assert body == {"channel": cid, "read_seq": seqs[1], "unread": 1}
    assert await unread(env, cid, "bob") == (1, 1)
    assert env.sink.pushed("read_receipt", cid) == [{"user_id": "bob", "seq": seqs[1]}]

    # backwards and repeats change nothing and push nothing
    for seq in (seqs[0], seqs[1]):
        status, body = await env.call("POST", url, "bob", json={"seq": seq})
        assert (status, body["read_seq"]) == (200, seqs[1])
    assert len(env.sink.pushed("read_receipt")) == 1

    # past the end is clamped to the last seq
    status, body = await env.call("POST", url, "bob", json={"seq": 10_000})
    last = seqs[2]
    assert (status, body["read_seq"], body["unread"]) == (200, last, 0)
    assert env.sink.pushed("read_receipt", cid)[-1] == {"user_id": "bob", "seq": last}
    assert await unread(env, cid, "bob") == (0, 0)

    status, receipts = await env.call("GET", f"/v1/channels/{cid}/receipts", "alice")
    assert status == 200
    by_user = {r["user_id"]: r for r in receipts["items"]}
    assert by_user["bob"]["read_seq"] == last
    assert by_user["bob"]["updated_at"].endswith("Z")
    assert set(by_user) == {"alice", "bob"}


async def test_unread_is_per_user_across_devices(env: Env) -> None:
    cid = await env.channel()
    first = await env.post(cid, "one")
    await env.post(cid, "two")
    # "device 1" reads the first; "device 2" of the same user sees the same count
    await env.call("POST", f"/v1/channels/{cid}/read", "bob", json={"seq": first["seq"]})
    assert await unread(env, cid, "bob") == (1, 1)
    # own messages never count
    await env.post(cid, "mine", user="bob")
    assert await unread(env, cid, "bob") == (1, 1)
    assert await unread(env, cid, "alice") == (1, 1)


@pytest.mark.parametrize(
    "payload", [{}, {"seq": -1}, {"seq": "3"}, {"seq": 1.5}, {"seq": True}, {"seq": 2**63}]
)
async def test_mark_read_refuses_bad_input(env: Env, payload: object) -> None:
    cid = await env.channel()
    status, body = await env.call("POST", f"/v1/channels/{cid}/read", "bob", json=payload)
    assert (status, body["error"]["code"]) == (400, "bad_request")


async def test_receipts_and_read_are_404_for_outsiders(env: Env) -> None:
    cid = await env.channel()
    await env.post(cid, "x")
    for user, org in [("mallory", "acme"), ("bob", "other")]:
        status, _ = await env.call(
            "POST", f"/v1/channels/{cid}/read", user, org=org, json={"seq": 1}
        )
        assert status == 404
        assert (await env.call("GET", f"/v1/channels/{cid}/receipts", user, org=org))[0] == 404
    assert env.sink.pushed("read_receipt") == []
