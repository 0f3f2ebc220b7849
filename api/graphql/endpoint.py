"""``/graphql`` on the REST port: ``POST`` (queries and mutations) and ``GET`` (queries
only, ``?query=&variables=&operationName=``) with the same bearer token and rate limits
as REST; a browser's ``GET`` (``Accept: text/html``, no ``query``) gets GraphiQL
(:mod:`.graphiql`). The WebSocket at the same path speaks graphql-transport-ws
(:mod:`.ws`).

Statuses: 200 with ``data`` (and ``errors`` for fields that failed: a refused field is
``null`` with its REST error code); 400 when the request cannot run (bad JSON, a document
that does not parse or validate, a limit); 401 without a valid token; 405 a mutation by GET;
413 a document over the size limit; 429 over the rate limits."""

from __future__ import annotations

import json
from typing import Any

from quart import Blueprint, Response, jsonify, request
from quart_schema import hide

from parley.api.deps import authenticate, claims, services
from parley.api.errors import STATUS
from parley.api.graphql import graphiql
from parley.api.graphql.context import Context
from parley.api.graphql.executor import RequestError, error, prepare, run
from parley.core.codes import ErrorCode
from parley.core.errors import ClientError, RateLimited

bp = Blueprint("graphql", __name__)

QUERY_KINDS = frozenset({"query"})
ALL_KINDS = frozenset({"query", "mutation"})


def _reply(body: dict[str, Any], status: int = 200) -> Response:
    response = jsonify(body)
    response.status_code = status
    return response


async def _authenticated() -> Response | None:
    try:
        await authenticate()
    except ClientError as exc:
        response = _reply({"errors": [error(exc.message, exc.code)]}, STATUS.get(exc.code, 400))
        if exc.code is ErrorCode.UNAUTHORIZED:
            response.headers["WWW-Authenticate"] = 'Bearer realm="parley"'
        if isinstance(exc, RateLimited):
            response.headers["Retry-After"] = str(max(1, int(exc.retry_after + 0.999)))
        return response
    return None


async def _execute(query: Any, variables: Any, name: Any, kinds: frozenset[str]) -> Response:
    refused = await _authenticated()
    if refused is not None:
        return refused
    try:
        prepared = prepare(query, variables, name, kinds=kinds)
    except RequestError as exc:
        if exc.wrong_kind:
            response = _reply({"errors": exc.errors}, 405)
            response.headers["Allow"] = "POST"
            return response
        return _reply({"errors": exc.errors}, STATUS.get(exc.code, 400))
    context = Context(services(), claims())
    return _reply(await run(prepared, context))


@bp.post("/graphql")
@hide
async def graphql_post() -> Response:
    body = await request.get_json(silent=True)
    if not isinstance(body, dict):
        return _reply(
            {"errors": [error("the body must be a JSON object", ErrorCode.BAD_JSON)]}, 400
        )
    return await _execute(
        body.get("query"), body.get("variables"), body.get("operationName"), ALL_KINDS
    )


@bp.get("/graphql")
@hide
async def graphql_get() -> Response:
    args = request.args
    if "query" not in args and request.accept_mimetypes.accept_html:
        return graphiql.page()
    variables: Any = None
    raw = args.get("variables")
    if raw:
        try:
            variables = json.loads(raw)
        except ValueError:
            return _reply({"errors": [error("'variables' is not JSON", ErrorCode.BAD_JSON)]}, 400)
    return await _execute(args.get("query"), variables, args.get("operationName"), QUERY_KINDS)
