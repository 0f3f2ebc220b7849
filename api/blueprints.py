"""The resource blueprints' common shape: under ``/v1``, every route needs a valid token,
and a POST with ``Idempotency-Key`` is claimed or replayed (api/idempotency.py)."""

from __future__ import annotations

from quart import Blueprint

from parley.api import idempotency
from parley.api.deps import authenticate


def authenticated_blueprint(name: str, import_name: str) -> Blueprint:
    """A resource blueprint under ``/v1`` whose every route needs a valid token."""
    bp = Blueprint(name, import_name, url_prefix="/v1")
    bp.before_request(authenticate)
    bp.before_request(idempotency.begin)
    bp.after_request(idempotency.finish)
    return bp
