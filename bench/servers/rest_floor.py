"""The REST floor: the HTTP server Parley uses (Hypercorn's trio worker, started by
:func:`parley.api.server.serve_http` with Parley's config), serving an app that does no
work of Parley's. ``--app asgi``: a bare ASGI callable that reads the JSON body and
answers a small JSON object (the server's own cost per request); ``--app quart``: a
Quart-Trio app with one route doing the same (the framework's cost on top).

Every path answers ``POST`` with 201 and ``{"ok": true, "seq": 1}`` (the shape of a post's
reply) after parsing the body as JSON; a body that is not JSON gets 400.

Run: ``python -m bench.servers.rest_floor --port PORT --app asgi``.
"""

from __future__ import annotations

import argparse
import contextlib
from typing import Any

import orjson
import trio
from hypercorn.typing import (
    ASGIReceiveCallable,
    ASGISendCallable,
    HTTPResponseBodyEvent,
    HTTPResponseStartEvent,
    Scope,
)

from parley.api.server import serve_http

REPLY = orjson.dumps({"ok": True, "seq": 1})


async def bare_app(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
    """The least an ASGI app can do for a JSON POST: read the body, parse it, answer."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    try:
        orjson.loads(b"".join(chunks))
        status, body = 201, REPLY
    except orjson.JSONDecodeError:
        status, body = 400, b'{"error":{"code":"bad_json","message":"not JSON"}}'
    start: HTTPResponseStartEvent = {
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "trailers": False,
    }
    await send(start)
    end: HTTPResponseBodyEvent = {"type": "http.response.body", "body": body, "more_body": False}
    await send(end)


def quart_app() -> Any:
    from quart import request
    from quart_trio import QuartTrio

    app = QuartTrio("rest_floor")

    @app.post("/<path:_path>")
    async def post(_path: str) -> tuple[dict[str, Any], int]:
        await request.get_json()
        return {"ok": True, "seq": 1}, 201

    return app


async def amain(host: str, port: int, which: str) -> None:
    app = bare_app if which == "asgi" else quart_app()
    await serve_http(app, host=host, port=port, shutdown_timeout=1.0)  # type: ignore[arg-type]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--app", choices=("asgi", "quart"), default="asgi")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        trio.run(amain, args.host, args.port, args.app)


if __name__ == "__main__":
    main()
