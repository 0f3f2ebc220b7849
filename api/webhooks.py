"""Outgoing webhooks (docs/automation.md): ``/v1/webhooks``, their delivery log
``/v1/webhooks/{id}/deliveries``. Service tokens only (the org's administration)."""

from __future__ import annotations

from quart_schema import tag_blueprint, validate_querystring, validate_request, validate_response

from parley.api.blueprints import authenticated_blueprint
from parley.api.deps import claims, services
from parley.api.schemas import Body, ErrorOut, Out, Query, Timestamp
from parley.core.times import rfc3339
from parley.domain.webhooks import Delivery, Webhook


class WebhookIn(Body):
    url: str
    #: Topic patterns of the org (``events.{org}.…``, ``*`` and a final ``>``).
    patterns: list[str]
    #: The HMAC key; 16 to 200 characters. Absent: Parley makes one (shown once).
    secret: str | None = None


class WebhookEditIn(Body):
    url: str | None = None
    patterns: list[str] | None = None
    #: ``true`` enables it again (and clears its failure count).
    enabled: bool | None = None


class WebhookOut(Out):
    id: str
    url: str
    patterns: list[str]
    enabled: bool
    #: Consecutive failed attempts; ``max_failures`` of them disable it.
    failures: int
    disabled_reason: str | None = None
    created_by: str
    created_at: Timestamp
    updated_at: Timestamp

    @classmethod
    def of(cls, w: Webhook) -> WebhookOut:
        return cls(
            id=w.id,
            url=w.url,
            patterns=list(w.patterns),
            enabled=w.enabled,
            failures=w.failures,
            disabled_reason=w.disabled_reason,
            created_by=w.created_by,
            created_at=rfc3339(w.created_at),
            updated_at=rfc3339(w.updated_at),
        )


class WebhookCreatedOut(WebhookOut):
    #: Shown here only: keep it to check the ``Parley-Signature`` of each delivery.
    secret: str


class WebhookListOut(Out):
    items: list[WebhookOut]


class DeliveryOut(Out):
    id: str
    topic: str
    #: ``pending`` (will be retried), ``delivered`` or ``failed``.
    state: str
    attempts: int
    #: The last attempt's HTTP status (none: no response).
    status_code: int | None = None
    error: str | None = None
    created_at: Timestamp
    updated_at: Timestamp

    @classmethod
    def of(cls, d: Delivery) -> DeliveryOut:
        return cls(
            id=d.id,
            topic=d.topic,
            state=d.state,
            attempts=d.attempts,
            status_code=d.status_code,
            error=d.error,
            created_at=rfc3339(d.created_at),
            updated_at=rfc3339(d.updated_at),
        )


class DeliveryListOut(Out):
    items: list[DeliveryOut]


class DeliveryQuery(Query):
    limit: int | None = None
    #: A delivery id: older ones only (the next page).
    before: str | None = None


bp = authenticated_blueprint("webhooks", __name__)
tag_blueprint(bp, ["webhooks"])


@bp.post("/webhooks")
@validate_request(WebhookIn)
@validate_response(WebhookCreatedOut, 201)
@validate_response(ErrorOut, 400)
@validate_response(ErrorOut, 403)
async def create_webhook(data: WebhookIn) -> tuple[WebhookCreatedOut, int]:
    """Send the org's events matching ``patterns`` to ``url``, signed."""
    w = await services().webhooks.create(
        claims(), url=data.url, patterns=data.patterns, secret=data.secret
    )
    return WebhookCreatedOut(**WebhookOut.of(w).model_dump(), secret=w.secret), 201


@bp.get("/webhooks")
@validate_response(WebhookListOut)
async def list_webhooks() -> WebhookListOut:
    return WebhookListOut(
        items=[WebhookOut.of(w) for w in await services().webhooks.webhooks(claims())]
    )


@bp.get("/webhooks/<hook_id>")
@validate_response(WebhookOut)
@validate_response(ErrorOut, 404)
async def get_webhook(hook_id: str) -> WebhookOut:
    return WebhookOut.of(await services().webhooks.get(claims(), hook_id))


@bp.patch("/webhooks/<hook_id>")
@validate_request(WebhookEditIn)
@validate_response(WebhookOut)
@validate_response(ErrorOut, 404)
async def edit_webhook(hook_id: str, data: WebhookEditIn) -> WebhookOut:
    w = await services().webhooks.update(
        claims(), hook_id, url=data.url, patterns=data.patterns, enabled=data.enabled
    )
    return WebhookOut.of(w)


@bp.delete("/webhooks/<hook_id>")
@validate_response(ErrorOut, 404)
async def delete_webhook(hook_id: str) -> tuple[str, int]:
    await services().webhooks.delete(claims(), hook_id)
    return "", 204


@bp.get("/webhooks/<hook_id>/deliveries")
@validate_querystring(DeliveryQuery)
@validate_response(DeliveryListOut)
@validate_response(ErrorOut, 404)
async def list_deliveries(hook_id: str, query_args: DeliveryQuery) -> DeliveryListOut:
    """The delivery log, newest first."""
    items = await services().webhooks.deliveries(
        claims(), hook_id, before=query_args.before, limit=query_args.limit
    )
    return DeliveryListOut(items=[DeliveryOut.of(d) for d in items])
