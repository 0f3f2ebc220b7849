"""Readiness: the store answers with the expected schema, no shutdown has begun; and the
operations replies."""

from __future__ import annotations

import json

import trio

from parley.ops.health import Ops, Readiness
from parley.ops.metrics import Metrics
from parley.store import SqlStore


class FakeStore:
    def __init__(self, version: int = 3, latest: int = 3) -> None:
        self.closed = False
        self.latest_version = latest
        self.version = version
        self.hang = False
        self.fail = False

    async def schema_version(self) -> int:
        if self.hang:
            await trio.sleep_forever()
        if self.fail:
            raise ConnectionError("down")
        return self.version


async def test_ready_on_a_migrated_store(store: SqlStore) -> None:
    readiness = Readiness(store)
    checks = await readiness.checks()
    assert checks == {"shutdown": "ok", "store": "ok", "migrations": "ok", "bus": "not configured"}
    assert readiness.ready(checks)


async def test_unready_once_the_store_is_stopped(store: SqlStore) -> None:
    readiness = Readiness(store)
    await store.aclose()
    checks = await readiness.checks()
    assert checks["store"] == "closed"
    assert not readiness.ready(checks)


async def test_unready_at_the_start_of_a_shutdown() -> None:
    readiness = Readiness(FakeStore())
    assert readiness.ready(await readiness.checks())
    readiness.begin_shutdown()
    checks = await readiness.checks()
    assert checks["shutdown"] == "shutting down"
    assert not readiness.ready(checks)


async def test_unready_when_the_store_errs_or_hangs(autojump_clock: trio.abc.Clock) -> None:
    store = FakeStore()
    readiness = Readiness(store, timeout=2.0)
    store.fail = True
    assert (await readiness.checks())["store"] == "unreachable: ConnectionError"
    store.fail, store.hang = False, True
    start = trio.current_time()
    checks = await readiness.checks()
    assert checks["store"] == "unreachable: no answer within 2s"
    assert trio.current_time() - start == 2.0
    assert not readiness.ready(checks)


async def test_unready_with_pending_migrations() -> None:
    readiness = Readiness(FakeStore(version=2, latest=3))
    checks = await readiness.checks()
    assert checks["migrations"] == "schema 2, expected 3"
    assert not readiness.ready(checks)


async def test_a_configured_bus_is_checked() -> None:
    async def bus() -> str:
        return "disconnected"

    readiness = Readiness(bus=bus)
    checks = await readiness.checks()
    assert checks["bus"] == "disconnected" and checks["store"] == "not configured"
    assert not readiness.ready(checks)


async def test_replies() -> None:
    readiness = Readiness(FakeStore())
    ops = Ops(readiness, Metrics())
    for path in ("/livez", "/healthz"):
        reply = await ops.respond(path)
        assert reply is not None and (reply.status, json.loads(reply.body)) == (
            200,
            {"status": "ok"},
        )
    ready = await ops.respond("/readyz")
    assert ready is not None and ready.status == 200
    assert json.loads(ready.body)["status"] == "ready"
    readiness.begin_shutdown()
    unready = await ops.respond("/readyz")
    assert unready is not None and unready.status == 503
    assert json.loads(unready.body)["status"] == "unready"
    metrics = await ops.respond("/metrics")
    assert metrics is not None and metrics.content_type.startswith("text/plain")
    assert b"parley_http_requests" in metrics.body or b"# HELP" in metrics.body
    assert await ops.respond("/nope") is None
