"""``/v1/retention`` (the org's) and ``/v1/channels/{id}/retention``: how long messages
are kept before the retention job redacts them (docs/privacy.md)."""

from __future__ import annotations

from quart_schema import tag_blueprint, validate_request, validate_response

from parley.api.blueprints import authenticated_blueprint
from parley.api.deps import claims, services
from parley.api.schemas import Body, ErrorOut, Out
from parley.domain.retention import Retention


class RetentionIn(Body):
    #: Seconds messages are kept (3600 to 100 years); ``null`` clears the period.
    seconds: int | None


class RetentionOut(Out):
    org_seconds: int | None = None
    channel_seconds: int | None = None
    #: The period in force: the shorter of the two.
    effective_seconds: int | None = None

    @classmethod
    def of(cls, r: Retention) -> RetentionOut:
        return cls(
            org_seconds=r.org_seconds,
            channel_seconds=r.channel_seconds,
            effective_seconds=r.effective_seconds,
        )


bp = authenticated_blueprint("retention", __name__)
tag_blueprint(bp, ["privacy"])


@bp.get("/retention")
@validate_response(RetentionOut)
async def get_org_retention() -> RetentionOut:
    return RetentionOut.of(await services().retention.org_retention(claims()))


@bp.put("/retention")
@validate_request(RetentionIn)
@validate_response(RetentionOut)
@validate_response(ErrorOut, 400)
@validate_response(ErrorOut, 403)
async def put_org_retention(data: RetentionIn) -> RetentionOut:
    """Service tokens only."""
    r = await services().retention.set_org_retention(claims(), data.seconds)
    return RetentionOut.of(r)


@bp.get("/channels/<channel_id>/retention")
@validate_response(RetentionOut)
@validate_response(ErrorOut, 404)
async def get_channel_retention(channel_id: str) -> RetentionOut:
    return RetentionOut.of(await services().retention.channel_retention(claims(), channel_id))


@bp.put("/channels/<channel_id>/retention")
@validate_request(RetentionIn)
@validate_response(RetentionOut)
@validate_response(ErrorOut, 400)
@validate_response(ErrorOut, 403)
@validate_response(ErrorOut, 404)
async def put_channel_retention(channel_id: str, data: RetentionIn) -> RetentionOut:
    """The channel's owners and admins, or a service token."""
    r = await services().retention.set_channel_retention(claims(), channel_id, data.seconds)
    return RetentionOut.of(r)
