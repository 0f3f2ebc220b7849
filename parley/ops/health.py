"""``/livez``, ``/healthz``, ``/readyz`` and ``/metrics``: :class:`Ops` answers them on
both ports (the REST app and the broker's handshake call :meth:`Ops.respond`).

Live means the process answers. Ready means a load balancer may send new clients: the
store answers a read within :data:`CHECK_TIMEOUT` and its schema is the version the code
expects, the bus is connected (when one is configured; none is built yet), and no
graceful shutdown has begun. :meth:`Readiness.begin_shutdown` turns it unready at the
start of a shutdown, while the node still serves, so the balancer drains it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

import orjson
import trio

from parley.core.ports import HttpReply
from parley.ops.metrics import CONTENT_TYPE, Metrics

#: Seconds the store gets to answer a readiness read.
CHECK_TIMEOUT = 2.0
OK = "ok"
JSON = "application/json"

#: A readiness check: "ok", or why not.
Check = Callable[[], Awaitable[str]]


class CheckedStore(Protocol):
    """What readiness asks of the store (``parley.store.CheckedStore`` has it)."""

    @property
    def closed(self) -> bool: ...

    @property
    def latest_version(self) -> int: ...

    async def schema_version(self) -> int: ...


class Readiness:
    def __init__(
        self,
        store: CheckedStore | None = None,
        *,
        bus: Check | None = None,
        timeout: float = CHECK_TIMEOUT,
    ) -> None:
        self.store = store
        #: The cross-node bus check, once there is a bus (``"ok"`` or why not).
        self.bus = bus
        self.timeout = timeout
        self.shutting_down = False

    def begin_shutdown(self) -> None:
        self.shutting_down = True

    async def checks(self) -> dict[str, str]:
        """Each check's result: ``ok`` or why not; ``not configured`` passes."""
        result = {"shutdown": "shutting down" if self.shutting_down else OK}
        if self.store is None:
            result["store"] = "not configured"
        else:
            result.update(await self._store(self.store))
        result["bus"] = "not configured" if self.bus is None else await self.bus()
        return result

    async def _store(self, store: CheckedStore) -> dict[str, str]:
        if store.closed:
            return {"store": "closed", "migrations": "unknown"}
        version: int | None = None
        error = f"no answer within {self.timeout:g}s"
        with trio.move_on_after(self.timeout):
            try:
                version = await store.schema_version()
            except Exception as exc:  # unreachable, closed meanwhile, ...
                error = type(exc).__name__
        if version is None:
            return {"store": f"unreachable: {error}", "migrations": "unknown"}
        expected = store.latest_version
        migrations = OK if version == expected else f"schema {version}, expected {expected}"
        return {"store": OK, "migrations": migrations}

    @staticmethod
    def ready(checks: dict[str, str]) -> bool:
        return all(v in (OK, "not configured") for v in checks.values())


class Ops:
    """:class:`~parley.core.ports.OpsEndpoints` over the readiness checks and metrics."""

    def __init__(self, readiness: Readiness, metrics: Metrics) -> None:
        self.readiness = readiness
        self.metrics = metrics

    async def respond(self, path: str) -> HttpReply | None:
        if path in ("/livez", "/healthz"):
            return HttpReply(200, JSON, b'{"status":"ok"}')
        if path == "/readyz":
            checks = await self.readiness.checks()
            ready = self.readiness.ready(checks)
            body = orjson.dumps({"status": "ready" if ready else "unready", "checks": checks})
            return HttpReply(200 if ready else 503, JSON, body)
        if path == "/metrics":
            return HttpReply(200, CONTENT_TYPE, self.metrics.render())
        return None

    def request_done(self, route: str, method: str, status: int, seconds: float) -> None:
        self.metrics.request_done(route, method, status, seconds)
