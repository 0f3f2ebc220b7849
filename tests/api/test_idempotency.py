"""Idempotency-Key on creating REST calls: a retry gets the first response back and
creates nothing; the same key for another request, or while the first still runs, is a
409; a failed first request leaves the key free for a corrected retry."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from parley.core.codes import ErrorCode
from parley.core.errors import ClientError
from parley.domain.idempotency import IdempotencyService, fingerprint
from parley.store import SqlStore
from tests.support.api import Env, chat_env


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    async with chat_env(tmp_path) as e:
        yield e


async def test_a_retried_create_returns_the_first_response(env: Env) -> None:
    body = {"kind": "group", "name": "launch", "members": ["bob"]}
    first = await env.request(
        "POST", "/v1/channels", "alice", json=body, headers={"Idempotency-Key": "k1"}
    )
    again = await env.request(
        "POST", "/v1/channels", "alice", json=body, headers={"Idempotency-Key": "k1"}
    )
    assert first.status_code == again.status_code == 201
    assert await first.get_json() == await again.get_json()
    assert (
        "Idempotent-Replayed" not in first.headers
        and again.headers["Idempotent-Replayed"] == "true"
    )
    status, listed = await env.call("GET", "/v1/channels", "alice")
    assert status == 200 and [c["name"] for c in listed["items"]] == ["launch"]
    # the key is alice's: bob's request with the same key is another request
    other = await env.request(
        "POST", "/v1/channels", "bob", json=body, headers={"Idempotency-Key": "k1"}
    )
    assert (
        other.status_code == 201
        and (await other.get_json())["id"] != (await first.get_json())["id"]
    )


async def test_the_same_key_for_another_request_is_a_conflict(env: Env) -> None:
    key = {"Idempotency-Key": "k2"}
    ok = await env.request(
        "POST", "/v1/teams", "alice", json={"name": "design", "members": []}, headers=key
    )
    assert ok.status_code == 201
    other = await env.request(
        "POST", "/v1/teams", "alice", json={"name": "ops", "members": []}, headers=key
    )
    assert other.status_code == 409
    assert "different request" in (await other.get_json())["error"]["message"]
    status, teams = await env.call("GET", "/v1/teams", "alice")
    assert status == 200 and [t["name"] for t in teams["items"]] == ["design"]


async def test_a_failed_request_leaves_the_key_free(env: Env) -> None:
    key = {"Idempotency-Key": "k3"}
    bad = await env.request("POST", "/v1/channels", "alice", json={"kind": "nope"}, headers=key)
    assert bad.status_code == 400
    good = await env.request(
        "POST", "/v1/channels", "alice", json={"kind": "group", "name": "x"}, headers=key
    )
    assert good.status_code == 201


@pytest.mark.parametrize("key", ["", "k" * 129, "a\u0000b", "tab\there"])
async def test_bad_keys_are_400(env: Env, key: str) -> None:
    resp = await env.request(
        "POST",
        "/v1/channels",
        "alice",
        json={"kind": "group", "name": "x"},
        headers={"Idempotency-Key": key},
    )
    assert resp.status_code == 400 and (await resp.get_json())["error"]["code"] == "bad_request"
    assert (await env.call("GET", "/v1/channels", "alice"))[1]["items"] == []


async def test_a_key_still_running_is_a_conflict(store: SqlStore) -> None:
    svc = IdempotencyService(store)
    print_ = fingerprint("POST", "/v1/channels", b"", b"{}")
    assert await svc.begin("acme", "alice", "k4", print_) is None  # claimed, still running
    with pytest.raises(ClientError) as exc:
        await svc.begin("acme", "alice", "k4", print_)
    assert exc.value.code is ErrorCode.CONFLICT and "still running" in exc.value.message
    await svc.finish("acme", "alice", "k4", status=201, content_type="application/json", body="{}")
    replay = await svc.begin("acme", "alice", "k4", print_)
    assert replay is not None and (replay.status, replay.body) == (201, "{}")


async def test_an_abandoned_claim_is_free_again_after_a_minute(store: SqlStore) -> None:
    """A request that never finished (the server stopped mid-request) does not block the
    key for a day."""
    svc = IdempotencyService(store)
    print_ = fingerprint("POST", "/v1/teams", b"", b"{}")
    assert await svc.begin("acme", "alice", "k5", print_) is None
    await store.write(
        lambda tx: tx.db.run(
            "UPDATE idempotency_keys SET created_at_us = created_at_us - 61000000"
            " WHERE key = 'k5'"
        )
    )
    assert await svc.begin("acme", "alice", "k5", print_) is None  # claimed anew
