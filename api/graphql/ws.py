"""GraphQL over WebSocket at ``/graphql`` on the REST port: the graphql-transport-ws
protocol (the ``graphql-ws`` library's; ``connection_init``/``connection_ack``,
``ping``/``pong``, ``subscribe``/``next``/``error``/``complete``).

Subscriptions ride on the hub: at ``connection_ack`` the connection opens one
:class:`parley.core.ports.Feed` (a hub subscriber like a broker connection: the same
fan-out, membership filter and bounded queue), each subscription adds its topic pattern to
it, and one task routes every event to the subscriptions whose pattern matches. Each
subscription maps its events with graphql-core's ``create_source_event_stream`` and one
``execute`` per event (``graphql.subscribe`` needs asyncio; see :mod:`.trio_exec`).

Auth: ``Authorization: Bearer`` on the upgrade, or ``{"authorization": "Bearer ..."}`` (or
``{"token": "..."}``) as the ``connection_init`` payload (browsers cannot set headers on
a WebSocket). Close codes are the protocol's: 4400 bad message, 4401 subscribe before the
ack, 4403 bad token, 4406 no ``graphql-transport-ws`` subprotocol, 4408 no
``connection_init`` within :data:`INIT_TIMEOUT`, 4409 a subscription id in use, 4429 a
second ``connection_init``; and Parley's 4000 for a reader too slow for its events.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import aclosing
from typing import Any

import trio
from graphql import ExecutionResult, create_source_event_stream
from quart import Blueprint, websocket

from parley.api.deps import services
from parley.api.graphql.context import Context
from parley.api.graphql.executor import RequestError, error, prepare, response, run
from parley.api.graphql.schema import parley_schema
from parley.core.claims import Claims
from parley.core.codes import CloseCode, ErrorCode
from parley.core.errors import AuthError, ClientError, RateLimited
from parley.core.ports import Feed
from parley.core.topics import matches, parse_pattern
from parley.domain.rules import is_clean
from parley.domain.services import Services

SUBPROTOCOL = "graphql-transport-ws"
INIT_TIMEOUT = 10.0
MAX_SUBSCRIPTIONS = 100
MAX_MESSAGE_CHARS = 64 * 1024
#: Events one subscription may have waiting (beyond: the connection is too slow).
SUB_QUEUE = 256
ALL_KINDS = frozenset({"query", "mutation", "subscription"})


class Close(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"{code} {reason}")
        self.code = code
        self.reason = reason


def _token(init: dict[str, Any] | None, header: str) -> str | None:
    if isinstance(init, dict):
        auth = init.get("authorization") or init.get("Authorization")
        if isinstance(auth, str) and auth.lower().startswith("bearer "):
            return auth[7:].strip() or None
        token = init.get("token")
        if isinstance(token, str) and token:
            return token
    scheme, _, cred = header.partition(" ")
    return cred.strip() if scheme.lower() == "bearer" and cred.strip() else None


class Route:
    """One subscription's pattern, filter and queue."""

    def __init__(self, pattern: str, keep: Callable[[dict[str, Any]], bool] | None) -> None:
        self.pattern = pattern
        self.parts = parse_pattern(pattern)
        self.keep = keep
        self.send, self.recv = trio.open_memory_channel[dict[str, Any]](SUB_QUEUE)


class RouteStream:
    """A subscription's source stream: the events routed to it, until closed."""

    def __init__(self, conn: Connection, route: Route) -> None:
        self.conn = conn
        self.route = route

    def __aiter__(self) -> RouteStream:
        return self

    async def __anext__(self) -> dict[str, Any]:
        try:
            return await self.route.recv.receive()
        except (trio.EndOfChannel, trio.ClosedResourceError):
            raise StopAsyncIteration from None

    async def aclose(self) -> None:
        self.conn.drop(self.route)
        self.route.recv.close()


class Connection:
    """One graphql-transport-ws connection (the :class:`Streams` of its subscriptions)."""

    def __init__(self, services: Services, send_text: Callable[[str], Any]) -> None:
        self.services = services
        self._send_text = send_text
        self._send_lock = trio.Lock()
        self.claims: Claims | None = None
        self.feed: Feed | None = None
        self.routes: list[Route] = []
        self.patterns: dict[str, int] = {}
        self.subs: dict[str, trio.CancelScope] = {}
        self.init_seen = False
        self.acked = trio.Event()
        self.nursery: trio.Nursery | None = None

    async def send(self, message: dict[str, Any]) -> None:
        async with self._send_lock:
            await self._send_text(json.dumps(message, separators=(",", ":")))

    # -- Streams -------------------------------------------------------------------------
    def stream(
        self, pattern: str, keep: Callable[[dict[str, Any]], bool] | None = None
    ) -> RouteStream:
        """Registered at once (so a subscription is live when its ``subscribe`` has been
        handled); unregistered when the stream is closed."""
        route = Route(pattern, keep)
        self.routes.append(route)
        if self.patterns.get(pattern, 0) == 0 and self.feed is not None:
            self.feed.subscribe(pattern)
        self.patterns[pattern] = self.patterns.get(pattern, 0) + 1
        return RouteStream(self, route)

    def drop(self, route: Route) -> None:
        if route not in self.routes:
            return
        self.routes.remove(route)
        self.patterns[route.pattern] -= 1
        if self.patterns[route.pattern] == 0:
            del self.patterns[route.pattern]
            if self.feed is not None:
                self.feed.unsubscribe(route.pattern)

    # -- the connection ------------------------------------------------------------------
    async def serve(self, receive: Callable[[], Any], auth_header: str) -> None:
        try:
            async with trio.open_nursery() as nursery:
                self.nursery = nursery
                nursery.start_soon(self._init_deadline)
                while True:
                    raw = await receive()
                    await self.handle(raw, auth_header)
        finally:
            if self.feed is not None:
                self.feed.close()

    async def _init_deadline(self) -> None:
        with trio.move_on_after(INIT_TIMEOUT):
            await self.acked.wait()
            return
        raise Close(4408, "Connection initialisation timeout")

    async def handle(self, raw: Any, auth_header: str) -> None:
        if not isinstance(raw, str) or len(raw) > MAX_MESSAGE_CHARS:
            raise Close(4400, "messages are JSON text of at most 64 KiB")
        try:
            msg = json.loads(raw)
        except ValueError:
            raise Close(4400, "message is not JSON") from None
        if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
            raise Close(4400, "message needs a type")
        kind = msg["type"]
        if kind == "connection_init":
            await self._init(msg.get("payload"), auth_header)
        elif kind == "ping":
            await self.send({"type": "pong"})
        elif kind == "pong":
            return
        elif kind == "subscribe":
            await self._subscribe(msg)
        elif kind == "complete":
            scope = self.subs.pop(str(msg.get("id")), None)
            if scope is not None:
                scope.cancel()
        else:
            raise Close(4400, f"unknown message type {kind!r}")

    async def _init(self, payload: Any, auth_header: str) -> None:
        if self.init_seen:
            raise Close(4429, "Too many initialisation requests")
        self.init_seen = True
        token = _token(payload if isinstance(payload, dict) else None, auth_header)
        if token is None:
            raise Close(4403, "Forbidden: no token")
        try:
            claims = self.services.verify(token)
        except AuthError as exc:
            raise Close(4403, f"Forbidden: {exc.reason}") from None
        if not is_clean(claims.sub):
            raise Close(4403, "Forbidden: token claim sub has invalid characters")
        self.claims = claims
        live = self.services.live
        if live is not None:

            async def channels() -> set[str]:
                return await self.services.channels.user_channel_ids(claims.org, claims.sub)

            self.feed = await live.open_feed(claims, channels)
            assert self.nursery is not None
            self.nursery.start_soon(self._route)
        await self.send({"type": "connection_ack"})
        self.acked.set()

    async def _route(self) -> None:
        feed = self.feed
        assert feed is not None
        while True:
            frames = await feed.receive()
            if frames is None:
                code = getattr(feed, "closed_by", None) or CloseCode.SLOW_CONSUMER
                raise Close(int(code), "closed by the server")
            for frame in frames:
                topic = frame.get("topic")
                if not isinstance(topic, str):
                    continue
                parts = topic.split(".")
                for route in list(self.routes):
                    if not matches(route.parts, parts):
                        continue
                    if route.keep is not None and not route.keep(frame):
                        continue
                    try:
                        route.send.send_nowait(frame)
                    except trio.WouldBlock:
                        raise Close(int(CloseCode.SLOW_CONSUMER), "too slow") from None
                    except trio.BrokenResourceError:
                        continue

    async def _subscribe(self, msg: dict[str, Any]) -> None:
        if self.claims is None:
            raise Close(4401, "Unauthorized")
        sub_id = msg.get("id")
        payload = msg.get("payload")
        if not isinstance(sub_id, str) or not sub_id or not isinstance(payload, dict):
            raise Close(4400, "subscribe needs an id and a payload")
        if sub_id in self.subs:
            raise Close(4409, f"Subscriber for {sub_id} already exists")
        if len(self.subs) >= MAX_SUBSCRIPTIONS:
            await self.send(
                {
                    "type": "error",
                    "id": sub_id,
                    "payload": [
                        {
                            "message": f"at most {MAX_SUBSCRIPTIONS} subscriptions",
                            "extensions": {"code": str(ErrorCode.TOO_MANY_SUBSCRIPTIONS)},
                        }
                    ],
                }
            )
            return
        scope = trio.CancelScope()
        self.subs[sub_id] = scope
        assert self.nursery is not None
        # started once the subscription is live (or done): the next message is handled after
        await self.nursery.start(self._run_sub, sub_id, payload, scope)

    async def _run_sub(
        self,
        sub_id: str,
        payload: dict[str, Any],
        scope: trio.CancelScope,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Run one operation. ``task_status.started()`` once a subscription is live, or at
        once for a query or mutation (it may run while further messages are handled)."""
        claims = self.claims
        assert claims is not None
        with scope:
            try:
                prepared = prepare(
                    payload.get("query"),
                    payload.get("variables"),
                    payload.get("operationName"),
                    kinds=ALL_KINDS,
                )
            except RequestError as exc:
                task_status.started()
                await self._error(sub_id, exc.errors)
                return
            try:  # the token's REST rate limits count every operation on the socket too
                self.services.rate_limits.check(claims, write=prepared.kind == "mutation")
            except RateLimited as exc:
                task_status.started()
                await self._error(sub_id, [error(exc.message, exc.code)])
                return
            context = Context(self.services, claims, streams=self)
            if prepared.kind != "subscription":
                task_status.started()
                result = await run(prepared, context)
                await self.send({"type": "next", "id": sub_id, "payload": result})
            else:
                source = await create_source_event_stream(
                    parley_schema(),
                    prepared.document,
                    None,
                    context,
                    prepared.variables,
                    prepared.operation_name,
                )
                if self.feed is not None:  # in a cluster: live from every node from here
                    await self.feed.settled()
                task_status.started()
                if isinstance(source, ExecutionResult):
                    await self._error(sub_id, response(source).get("errors", []))
                    return
                async with aclosing(source):  # type: ignore[type-var]
                    async for event in source:
                        # a fresh context per event: its loaders cache for one event only
                        per_event = Context(self.services, claims, streams=self)
                        result = await run(prepared, per_event, root=event)
                        await self.send({"type": "next", "id": sub_id, "payload": result})
            if self.subs.pop(sub_id, None) is not None:
                await self.send({"type": "complete", "id": sub_id})

    async def _error(self, sub_id: str, errors: list[dict[str, Any]]) -> None:
        self.subs.pop(sub_id, None)
        await self.send({"type": "error", "id": sub_id, "payload": errors})


bp = Blueprint("graphql_ws", __name__)


@bp.websocket("/graphql")
async def graphql_ws() -> None:
    if SUBPROTOCOL not in websocket.requested_subprotocols:
        await websocket.accept()
        await websocket.close(4406, "Subprotocol not acceptable")
        return
    await websocket.accept(subprotocol=SUBPROTOCOL)
    conn = Connection(services(), websocket.send)
    try:
        await conn.serve(websocket.receive, websocket.headers.get("Authorization", ""))
    except Close as exc:
        await websocket.close(exc.code, exc.reason)
    except BaseExceptionGroup as group:
        closes = [e for e in _leaves(group) if isinstance(e, Close)]
        if not closes:
            raise
        await websocket.close(closes[0].code, closes[0].reason)
    except ClientError as exc:
        await websocket.close(4400, exc.message)


def _leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    out: list[BaseException] = []
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            out.extend(_leaves(exc))
        else:
            out.append(exc)
    return out
