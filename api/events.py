"""``/v1/events`` and ``/v1/events:batch``: service tokens publish to the broker."""

from __future__ import annotations

from quart_schema import tag_blueprint, validate_response

from parley.api.blueprints import authenticated_blueprint
from parley.api.deps import claims, services
from parley.api.schemas import ErrorOut, EventBatchIn, EventBatchOut, EventIn, EventOut
from parley.api.validation import validate_json

bp = authenticated_blueprint("events", __name__)
tag_blueprint(bp, ["events"])


@bp.post("/events")
@validate_json(EventIn)
@validate_response(EventOut)
@validate_response(ErrorOut, 403)
async def publish(data: EventIn) -> EventOut:
    """Publish one event on ``events.{your org}.…``; ``deliveries`` counts local subscribers."""
    n = services().events.publish_event(claims(), data.topic, data.data)
    return EventOut(topic=data.topic, deliveries=n)


@bp.post("/events:batch")
@validate_json(EventBatchIn)
@validate_response(EventBatchOut)
@validate_response(ErrorOut, 403)
async def publish_batch(data: EventBatchIn) -> EventBatchOut:
    """Publish up to 100 events in order; all are validated before any is published."""
    n = services().events.publish_events(claims(), [(e.topic, e.data) for e in data.events])
    return EventBatchOut(deliveries=n)
