"""``Idempotency-Key`` on every creating REST call (POST under ``/v1``): the first request
with a key runs and its successful response is kept for a day; a retry with the same key,
path and body gets that response again (``Idempotent-Replayed: true``) and creates nothing.
See docs/rest.md and parley/domain/idempotency.py."""

from __future__ import annotations

from quart import Response, g, request

from parley.api.deps import claims, services
from parley.domain.idempotency import fingerprint

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"


async def begin() -> Response | None:
    """A blueprint ``before_request`` (after authentication)."""
    key = request.headers.get(HEADER)
    if request.method != "POST" or key is None:
        return None
    # JSON bodies count in the fingerprint; an upload's bytes are streamed to the handler,
    # so only their type and length do.
    body = b""
    if request.is_json:
        data = await request.get_data(as_text=False)
        body = data if isinstance(data, bytes) else data.encode()
    meta = f"{request.content_type}|{request.content_length}".encode()
    c = claims()
    print_ = fingerprint(request.method, request.path, request.query_string + meta, body)
    replay = await services().idempotency.begin(c.org, c.sub, key, print_)
    if replay is None:
        g.idempotency_key = key
        return None
    response = Response(replay.body, status=replay.status, content_type=replay.content_type)
    response.headers[REPLAYED] = "true"
    return response


async def finish(response: Response) -> Response:
    """A blueprint ``after_request``: keep a success for retries, release a failure."""
    key: str | None = g.pop("idempotency_key", None)
    if key is None:
        return response
    c = claims()
    body = (await response.get_data(as_text=True)) if response.status_code < 300 else ""
    await services().idempotency.finish(
        c.org,
        c.sub,
        key,
        status=response.status_code,
        content_type=response.content_type or "application/json",
        body=body,
    )
    return response
