"""Pins the graphql-core behaviour the trio adapter (api/graphql/trio_exec.py) relies on:
upstream's default execution fails under trio once two fields are async, ours runs
concurrent fields, async lists and error propagation as upstream does under asyncio."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import graphql
import pytest
import trio
import trio.lowlevel
from graphql import build_schema, execute, parse

from parley.api.graphql.trio_exec import TrioExecutionContext, gather

SDL = """
type Query {
  a: String
  b: String
  items: [Item!]
  strictItems: [Item!]!
  boom: String
  strictBoom: Item
  mixed: [String]
}
type Item { n: Int!, twice: Int!, fail: Int! }
"""


def schema() -> graphql.GraphQLSchema:
    s = build_schema(SDL)
    started: list[str] = []

    async def slow(name: str) -> str:
        started.append(name)
        await trio.sleep(1)
        return name

    async def item_field(obj: dict[str, int], _info: Any) -> int:
        await trio.sleep(0.5)
        return obj["n"] * 2

    async def failing(_obj: Any, _info: Any) -> int:
        raise ValueError("item failed")

    async def boom(_obj: Any, _info: Any) -> str:
        raise ValueError("boom")

    async def items(_obj: Any, _info: Any) -> list[dict[str, int]]:
        await trio.lowlevel.checkpoint()
        return [{"n": i} for i in range(3)]

    async def one(_obj: Any, _info: Any) -> str:
        return "x"

    q = s.query_type
    assert q is not None
    q.fields["a"].resolve = lambda *_: slow("a")
    q.fields["b"].resolve = lambda *_: slow("b")
    q.fields["items"].resolve = items
    q.fields["strictItems"].resolve = items
    q.fields["boom"].resolve = boom
    q.fields["strictBoom"].resolve = lambda *_: {"n": 1}
    q.fields["mixed"].resolve = lambda *_: [one(None, None), "y", boom(None, None)]
    item = s.type_map["Item"]
    assert isinstance(item, graphql.GraphQLObjectType)
    item.fields["twice"].resolve = item_field
    item.fields["fail"].resolve = failing
    return s


async def run(query: str) -> graphql.ExecutionResult:
    result = execute(schema(), parse(query), execution_context_class=TrioExecutionContext)
    assert not isinstance(result, graphql.ExecutionResult)
    done = await result
    assert isinstance(done, graphql.ExecutionResult)
    return done


UPSTREAM = """
import graphql, trio
s = graphql.build_schema("type Query { a: String, b: String }")
async def slow(*_):
    await trio.sleep(0)
    return "x"
s.query_type.fields["a"].resolve = slow
s.query_type.fields["b"].resolve = slow
async def main():
    try:
        await graphql.execute(s, graphql.parse("{ a b }"))
    except TypeError as exc:
        print("TypeError:", exc)
trio.run(main)
"""


def test_upstream_default_execution_fails_under_trio() -> None:
    """Why the adapter exists: graphql-core's own gather is asyncio's. (In a child process:
    the coroutines asyncio's gather leaves behind are never awaited.)"""
    out = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", UPSTREAM],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert out.startswith("TypeError:") and "asyncio" in out


async def test_concurrent_fields_run_at_once(autojump_clock: trio.abc.Clock) -> None:
    t0 = trio.current_time()
    result = await run("{ a b }")
    assert result.data == {"a": "a", "b": "b"} and result.errors is None
    assert trio.current_time() - t0 == pytest.approx(1)  # not 2: concurrent


async def test_async_lists_and_nested_fields(autojump_clock: trio.abc.Clock) -> None:
    t0 = trio.current_time()
    result = await run("{ items { n twice } mixed }")
    assert result.data is not None
    assert result.data["items"] == [
        {"n": 0, "twice": 0},
        {"n": 1, "twice": 2},
        {"n": 2, "twice": 4},
    ]
    assert trio.current_time() - t0 == pytest.approx(0.5)
    assert result.data["mixed"] == ["x", "y", None]
    assert [e.path for e in result.errors or []] == [["mixed", 2]]


async def test_errors_null_the_nearest_nullable_parent() -> None:
    result = await run("{ boom items { fail } strictBoom { fail } a }")
    assert result.data == {"boom": None, "items": None, "strictBoom": None, "a": "a"}
    paths = sorted(e.path or [] for e in result.errors or [])
    # one error per nulled parent; which failing item comes first is the scheduler's choice
    assert [p[0] for p in paths] == ["boom", "items", "strictBoom"]
    assert paths[1][1] in (0, 1, 2) and paths[1][2] == "fail"


async def test_a_non_null_root_error_nulls_the_data() -> None:
    result = await run("{ strictItems { fail } }")
    assert result.data is None
    assert result.errors is not None and result.errors[0].message == "item failed"


async def test_gather_raises_the_first_error_itself() -> None:
    async def ok() -> int:
        return 1

    async def bad() -> int:
        raise KeyError("k")

    assert await gather([ok(), ok()]) == [1, 1]
    with pytest.raises(KeyError):
        await gather([ok(), bad()])


def test_the_pinned_graphql_core_line() -> None:
    major, minor = graphql.version_info.major, graphql.version_info.minor
    assert (major, minor) == (3, 2), "trio_exec copies graphql-core 3.2's two gathering methods"
