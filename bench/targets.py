"""The servers a scenario runs against: Parley and the baselines, each its own process."""

from __future__ import annotations

import importlib
import importlib.util
import secrets
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.procs import REPO, ServerProc, child_env, free_port

ORG = "bench"

#: Limits raised so the bench measures fan-out, not Parley's protective limits.
PARLEY_BENCH_ENV = {
    "PARLEY_PUBLISH_RATE": "1000000000",
    "PARLEY_PUBLISH_BURST": "1000000000",
    "PARLEY_USER_PUBLISH_RATE": "1000000000",
    "PARLEY_USER_PUBLISH_BURST": "1000000000",
    # The broker's path is measured, not the log: a connect/disconnect INFO line per
    # connection costs about a quarter of the accept rate (docs/benchmarks.md).
    "PARLEY_LOG_LEVEL": "warning",
    # the load generators' REST posters share tokens: no REST rate limit in the bench
    "PARLEY_REST_WRITE_RATE": "1000000000",
    "PARLEY_REST_WRITE_BURST": "1000000000",
    "PARLEY_REST_READ_RATE": "1000000000",
    "PARLEY_REST_READ_BURST": "1000000000",
    "PARLEY_OUTBOX_MAX_FRAMES": "10000000",
    "PARLEY_OUTBOX_MAX_BYTES": str(4 << 30),
    "PARLEY_MAX_CONNECTIONS_PER_USER": "100000",
    "PARLEY_PING_INTERVAL": "60",
    "PARLEY_PING_TIMEOUT": "60",
}

# Quiet logging for Parley (the baselines log nothing per connection either).
_PARLEY_MAIN = (
    "import logging, sys; "
    "logging.basicConfig(level=logging.WARNING, "
    "format='%(asctime)s %(levelname)s %(name)s: %(message)s'); "
    "from parley.cli import main; sys.exit(main(['serve']))"
)


@dataclass(frozen=True)
class Target:
    name: str
    label: str
    module: str  # what must be importable for the target to be runnable
    description: str

    @property
    def is_parley(self) -> bool:
        return self.name == "parley"

    def unavailable(self) -> str | None:
        """Why this target cannot run here, or None."""
        try:
            found = importlib.util.find_spec(self.module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            return f"module {self.module} not importable"
        if self.is_parley:
            try:
                importlib.import_module("parley.app")
            except Exception as exc:  # any import failure means: not runnable yet
                return f"parley.app import failed: {type(exc).__name__}: {exc}"
        return None


TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target("parley", "Parley", "parley.cli", "parley serve (Trio), limits raised"),
        Target(
            "websockets",
            "websockets broadcast()",
            "websockets.asyncio.server",
            "python-websockets asyncio server, websockets.broadcast()",
        ),
        Target("picows", "picows", "picows", "picows server, WSTransport.send per subscriber"),
        Target(
            "ceiling",
            "raw ceiling",
            "bench.wsframe",
            "asyncio + hand-written frames: one pre-encoded frame written to each socket",
        ),
        Target(
            "ceiling_batched",
            "raw ceiling, batched",
            "bench.wsframe",
            "as ceiling, but frames queued per socket and written once per loop pass",
        ),
    )
}

BASELINES = ("websockets", "picows", "ceiling", "ceiling_batched")


@dataclass
class Running:
    target: Target
    server: ServerProc
    secret: str
    data_dir: Path | None

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def http_port(self) -> int | None:
        return self.server.http_port

    def auth(self, prefix: str) -> dict[str, object] | None:
        if not self.target.is_parley:
            return None
        return {"secret": self.secret, "org": ORG, "prefix": prefix, "roles": ["service"]}


@contextmanager
def running(
    target: Target,
    log_dir: Path,
    *,
    tag: str = "",
    database_url: str = "",
    extra_env: dict[str, str] | None = None,
    secret: str = "",
) -> Iterator[Running]:
    """Start ``target`` on free loopback ports; stop it (by PID) on exit. Parley keeps its
    data in a fresh temp dir (SQLite) unless ``database_url`` names another store;
    ``extra_env`` adds settings (e.g. ``PARLEY_NATS_URL``), ``secret`` shares a JWT
    secret between nodes."""
    secret = secret or secrets.token_urlsafe(32)
    port = free_port()
    log = log_dir / f"server-{target.name}{tag}.log"
    with tempfile.TemporaryDirectory(prefix="parley-bench-") as tmp:
        if target.is_parley:
            http_port = free_port()
            env = child_env(
                {
                    **PARLEY_BENCH_ENV,
                    "PARLEY_HOST": "127.0.0.1",
                    "PARLEY_WS_PORT": str(port),
                    "PARLEY_HTTP_PORT": str(http_port),
                    "PARLEY_DATA_DIR": tmp,
                    "PARLEY_JWT_SECRET": secret,
                    "PARLEY_DATABASE_URL": database_url,
                    **(extra_env or {}),
                }
            )
            server = ServerProc(
                target.name, [sys.executable, "-c", _PARLEY_MAIN], env, port, log, http_port
            )
            data_dir: Path | None = Path(tmp)
        else:
            module, *extra = _MODULES[target.name]
            cmd = [sys.executable, "-m", f"bench.servers.{module}", "--port", str(port), *extra]
            server = ServerProc(target.name, cmd, child_env(), port, log)
            data_dir = None
        server.start()
        try:
            yield Running(target, server, secret, data_dir)
        finally:
            server.stop()


#: The REST floors (bench/servers/rest_floor.py): Parley's HTTP server (Hypercorn, Parley's
#: config) with a bare ASGI app, and with a one-route Quart-Trio app.
REST_FLOORS = {
    "floor_asgi": ("asgi", "bare ASGI app on Parley's Hypercorn"),
    "floor_quart": ("quart", "one-route Quart-Trio app on Parley's Hypercorn"),
}


@contextmanager
def running_rest_floor(name: str, log_dir: Path, *, tag: str = "") -> Iterator[ServerProc]:
    """Start the REST floor ``name`` (a key of :data:`REST_FLOORS`) on a free loopback port
    (``.port``, also ``.http_port``); stop it (by PID) on exit."""
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "bench.servers.rest_floor",
        "--port",
        str(port),
        "--app",
        REST_FLOORS[name][0],
    ]
    server = ServerProc(name, cmd, child_env(), port, log_dir / f"server-{name}{tag}.log", port)
    server.start()
    try:
        yield server
    finally:
        server.stop()


_MODULES = {
    "websockets": ("ws_peer",),
    "picows": ("picows_peer",),
    "ceiling": ("raw_ceiling",),
    "ceiling_batched": ("raw_ceiling", "--batch"),
}

__all__ = [
    "BASELINES",
    "ORG",
    "REPO",
    "REST_FLOORS",
    "TARGETS",
    "Running",
    "Target",
    "running",
    "running_rest_floor",
]
