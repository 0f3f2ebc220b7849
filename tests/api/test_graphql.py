"""GraphQL in process: the batching (a fixed number of store reads for a page of
messages with authors and reactions, whatever its size) and the depth limit."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from graphql import build_schema, parse

from parley.api.graphql.limits import LimitExceeded, check_limits
from parley.store import SqlStore
from tests.support.api import Env, auth, chat_env

PAGE = """query($c: ID!, $n: Int!) {
  messages(channel: $c, first: $n) {
    nodes { text author { userId displayName } reactions { emoji count me } pinned }
  }
}"""


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    async with chat_env(tmp_path) as e:
        yield e


async def count_reads(env: Env, monkeypatch: pytest.MonkeyPatch, query: str, **v: Any) -> int:
    reads: list[str] = []
    original = SqlStore.read

    async def counting(self: SqlStore, fn: Any, *args: Any, **kw: Any) -> Any:
        reads.append(fn.__name__)
        return await original(self, fn, *args, **kw)

    monkeypatch.setattr(SqlStore, "read", counting)
    resp = await env.client.post(
        "/graphql", json={"query": query, "variables": v}, headers=auth("bob")
    )
    body = await resp.get_json()
    monkeypatch.setattr(SqlStore, "read", original)
    assert resp.status_code == 200 and "errors" not in body, body
    return len(reads)


async def test_a_page_of_messages_costs_a_fixed_number_of_reads(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    members = [f"u{i}" for i in range(10)] + ["bob"]
    _, ch = await env.call(
        "POST", "/v1/channels", json={"kind": "group", "name": "g", "members": members}
    )
    cid = ch["id"]
    for i in range(60):
        author = members[i % 10]
        status, m = await env.call(
            "POST", f"/v1/channels/{cid}/messages", author, json={"text": f"m{i}"}
        )
        assert status == 201
        if i % 3 == 0:
            await env.call(
                "POST",
                f"/v1/channels/{cid}/messages/{m['message_id']}/reactions",
                "bob",
                json={"emoji": "👍"},
            )
    few = await count_reads(env, monkeypatch, PAGE, c=cid, n=5)
    many = await count_reads(env, monkeypatch, PAGE, c=cid, n=50)
    assert few == many  # not one read per message or per author
    assert many <= 12  # membership + page, one profile batch, one set of view reads
    loaders_q = PAGE.replace("pinned", "pinned collapsed threadRoot")
    assert await count_reads(env, monkeypatch, loaders_q, c=cid, n=50) == many


def test_the_depth_limit_is_a_clear_error() -> None:
    schema = build_schema("type Query { node: Node } type Node { child: Node, name: String }")
    deep = "{ node { " + "child { " * 12 + "name" + " }" * 12 + " } }"
    doc = parse(deep)
    op = doc.definitions[0]
    with pytest.raises(LimitExceeded) as exc:
        check_limits(schema, doc, op, None)  # type: ignore[arg-type]
    assert exc.value.limit == "depth"
    assert "13 fields deep; the limit is 12" in exc.value.message
    ok = parse("{ node { " + "child { " * 10 + "name" + " }" * 10 + " } }")
    check_limits(schema, ok, ok.definitions[0], None)  # type: ignore[arg-type]
