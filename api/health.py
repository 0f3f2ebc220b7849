"""``/livez`` (and its alias ``/healthz``), ``/readyz`` and ``/metrics``, no auth; and
the request id and timing of every REST request (docs/deploy.md).

The answers come from the :class:`~parley.core.ports.OpsEndpoints` the composition root
gives :func:`~parley.api.app.create_app`; the broker port answers the same paths from the
same object. Without one (an app built alone, in tests) the process is live and ready and
there are no metrics.
"""

from __future__ import annotations

import re
import secrets
import time

import orjson
import structlog
from quart import Blueprint, Response, current_app, g, request
from quart_schema import validate_response
from quart_trio import QuartTrio

from parley.api.schemas import HealthOut, ReadyOut
from parley.core.ports import HttpReply, OpsEndpoints

bp = Blueprint("health", __name__)

OPS_EXTENSION = "parley_ops"
REQUEST_ID_HEADER = "X-Request-ID"
#: An incoming request id is kept if it looks like one (a proxy's), else a new one is made.
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def _ops() -> OpsEndpoints | None:
    ops: OpsEndpoints | None = current_app.extensions.get(OPS_EXTENSION)
    return ops


NO_STORE = {"Cache-Control": "no-store"}


def _reply(reply: HttpReply) -> Response:
    return Response(
        reply.body, status=reply.status, content_type=reply.content_type, headers=NO_STORE
    )


@bp.get("/livez")
@validate_response(HealthOut)
async def livez() -> HealthOut:
    """Liveness: 200 while the process serves requests (no token needed)."""
    return HealthOut(status="ok")


@bp.get("/healthz")
@validate_response(HealthOut)
async def healthz() -> HealthOut:
    """Liveness, as ``/livez`` (kept for existing probes)."""
    return HealthOut(status="ok")


@bp.get("/readyz")
@validate_response(ReadyOut, 200)
@validate_response(ReadyOut, 503)
async def readyz() -> tuple[ReadyOut, int, dict[str, str]]:
    """Readiness: 200 while the node should get new clients; 503 once a graceful shutdown
    began, or the store does not answer, or its schema is not the expected version.

    ``checks`` says each check's result (``ok``, ``not configured``, or why not)."""
    ops = _ops()
    reply = await ops.respond("/readyz") if ops is not None else None
    if reply is None:
        return ReadyOut(status="ready", checks={}), 200, NO_STORE
    return ReadyOut(**orjson.loads(reply.body)), reply.status, NO_STORE


@bp.get("/metrics")
async def metrics() -> Response:
    """Prometheus metrics, in the text exposition format (docs/deploy.md lists them)."""
    ops = _ops()
    reply = await ops.respond("/metrics") if ops is not None else None
    if reply is None:
        return Response(b"no metrics\n", status=404, content_type="text/plain")
    return _reply(reply)


def install_request_observer(app: QuartTrio, ops: OpsEndpoints | None) -> None:
    """Give every request an id (``X-Request-ID``: the caller's, if it looks like one, else
    a new one), bound to its log lines, and report its route, status and latency."""
    if ops is not None:
        app.extensions[OPS_EXTENSION] = ops

    @app.before_request
    async def start() -> None:
        given = request.headers.get(REQUEST_ID_HEADER, "")
        rid = given if _REQUEST_ID.match(given) else "r_" + secrets.token_urlsafe(9)
        g.request_id = rid
        g.request_started = time.perf_counter()
        structlog.contextvars.bind_contextvars(request_id=rid)

    @app.after_request
    async def finish(response: Response) -> Response:
        rid = getattr(g, "request_id", None)
        if rid is not None:
            response.headers[REQUEST_ID_HEADER] = rid
        started = getattr(g, "request_started", None)
        if ops is not None and started is not None:
            rule = request.url_rule
            route = rule.rule if rule is not None else "unmatched"
            ops.request_done(
                route, request.method, response.status_code, time.perf_counter() - started
            )
        return response

    @app.teardown_request
    async def unbind(_exc: BaseException | None) -> None:
        structlog.contextvars.unbind_contextvars("request_id")
