"""``/healthz``: liveness, no auth."""

from __future__ import annotations

from quart import Blueprint
from quart_schema import validate_response

from parley.api.schemas import HealthOut

bp = Blueprint("health", __name__)


@bp.get("/healthz")
@validate_response(HealthOut)
async def healthz() -> HealthOut:
    """Liveness: 200 while the process serves requests (no token needed)."""
    return HealthOut(status="ok")
