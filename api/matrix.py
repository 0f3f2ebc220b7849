"""The Matrix application-service API Parley answers for its homeserver
(``/_matrix/app/v1``): transactions of room events, and user and room alias queries
(docs/federation.md#matrix). Authenticated by the registration's ``hs_token``, not by a
Parley token; errors are Matrix's ``{"errcode", "error"}``."""

from __future__ import annotations

from typing import Any

from quart import Blueprint, Response, jsonify, request
from quart_schema import hide

from parley.api.deps import services
from parley.domain.matrix import HsTokenError, MatrixInbound

bp = Blueprint("matrix_appservice", __name__, url_prefix="/_matrix/app/v1")


def _error(status: int, errcode: str, message: str) -> Response:
    response = jsonify({"errcode": errcode, "error": message})
    response.status_code = status
    return response


def _inbound() -> MatrixInbound | Response:
    inbound = services().matrix
    if inbound is None:
        return _error(404, "M_UNRECOGNIZED", "no Matrix bridge is configured")
    scheme, _, cred = request.headers.get("Authorization", "").partition(" ")
    token = cred.strip() if scheme.lower() == "bearer" else request.args.get("access_token")
    try:
        inbound.check_token(token)
    except HsTokenError as exc:
        if exc.missing:
            return _error(401, "M_UNAUTHORIZED", str(exc))
        return _error(403, "M_FORBIDDEN", str(exc))
    return inbound


@bp.put("/transactions/<txn_id>")
@hide
async def transaction(txn_id: str) -> Response | dict[str, Any]:
    inbound = _inbound()
    if isinstance(inbound, Response):
        return inbound
    data = await request.get_data(as_text=False)
    raw = data if isinstance(data, bytes) else data.encode()
    body = await request.get_json(force=True, silent=True)
    if not isinstance(body, dict):
        return _error(400, "M_NOT_JSON", "the transaction must be a JSON object")
    await inbound.transaction(txn_id, body, raw)
    return {}


@bp.get("/users/<user_id>")
@hide
async def user_query(user_id: str) -> Response | dict[str, Any]:
    """Puppets are registered by the bridge when first needed; the homeserver may ask."""
    inbound = _inbound()
    if isinstance(inbound, Response):
        return inbound
    if inbound.is_puppet(user_id):
        return {}
    return _error(404, "M_NOT_FOUND", "not a Parley user")


@bp.get("/rooms/<alias>")
@hide
async def room_query(alias: str) -> Response:
    """Parley creates no rooms on demand: an org links an existing room."""
    inbound = _inbound()
    if isinstance(inbound, Response):
        return inbound
    return _error(404, "M_NOT_FOUND", "Parley creates no rooms on demand")
