"""``/v1/notification-rules``: an org's rules over platform events (its admins and
services). See docs/notifications.md, Rules."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, JsonValue
from quart_schema import tag_blueprint, validate_request, validate_response

from parley.api.blueprints import authenticated_blueprint
from parley.api.deps import claims, services
from parley.api.schemas import Body, ErrorOut, Out, Timestamp
from parley.core.notifications import StoredRule
from parley.core.times import rfc3339, rfc3339_opt

bp = authenticated_blueprint("notification_rules", __name__)
tag_blueprint(bp, ["notifications"])


class RuleRecipientsIn(Body):
    users: list[str] = Field(default_factory=list)
    #: A team name: its members when the event arrives.
    team: str | None = None
    #: A field path of the event holding a user id (or a list of them): ``data.created_by``.
    field: str | None = None


class RuleIn(Body):
    name: str
    #: A topic pattern in your org (``*`` one segment, ``>`` the rest).
    topic: str
    #: All must hold: ``{"field", "op", "value"}`` or ``{"any": [...]}`` / ``{"all": [...]}``.
    conditions: list[JsonValue] = Field(default_factory=list)
    recipients: RuleRecipientsIn
    type: str = "rule"
    priority: Literal["low", "normal", "high", "urgent"] = "normal"
    #: Templates: ``${data.title}`` is the field's value, ``$$`` a dollar sign.
    title: str
    body: str | None = None
    link: dict[str, str] | None = None
    enabled: bool = True


class RuleOut(Out):
    id: str
    name: str
    topic: str
    conditions: list[JsonValue]
    recipients: dict[str, JsonValue]
    type: str
    priority: str
    title: str
    body: str
    link: dict[str, str]
    enabled: bool
    created_by: str
    created_at: Timestamp
    updated_at: Timestamp
    #: Events that matched and notified.
    match_count: int
    #: Events the rule could not be evaluated on; the last one's reason and time.
    error_count: int
    last_error: str | None = None
    last_error_at: Timestamp | None = None

    @classmethod
    def of(cls, r: StoredRule) -> RuleOut:
        s = r.spec
        return cls(
            id=r.id,
            name=r.name,
            topic=s["topic"],
            conditions=s["conditions"],
            recipients=s["recipients"],
            type=s["type"],
            priority=s["priority"],
            title=s["title"],
            body=s["body"],
            link=s["link"],
            enabled=r.enabled,
            created_by=r.created_by,
            created_at=rfc3339(r.created_at),
            updated_at=rfc3339(r.updated_at),
            match_count=r.match_count,
            error_count=r.error_count,
            last_error=r.last_error,
            last_error_at=rfc3339_opt(r.last_error_at),
        )


class RuleListOut(Out):
    items: list[RuleOut]


def _body(data: RuleIn) -> dict[str, Any]:
    body = data.model_dump(exclude_unset=True)
    body["recipients"] = data.recipients.model_dump(exclude_unset=True)
    return body


@bp.post("/notification-rules")
@validate_request(RuleIn)
@validate_response(RuleOut, 201)
@validate_response(ErrorOut, 403)
async def create_rule(data: RuleIn) -> tuple[RuleOut, int]:
    """A rule: events on its topic whose fields meet its conditions notify its recipients."""
    rule = await services().notify.events.create_rule(claims(), _body(data))
    return RuleOut.of(rule), 201


@bp.get("/notification-rules")
@validate_response(RuleListOut)
@validate_response(ErrorOut, 403)
async def list_rules() -> RuleListOut:
    """The org's rules, oldest first, with their match and error counts."""
    return RuleListOut(
        items=[RuleOut.of(r) for r in await services().notify.events.list_rules(claims())]
    )


@bp.get("/notification-rules/<rule_id>")
@validate_response(RuleOut)
@validate_response(ErrorOut, 403)
async def get_rule(rule_id: str) -> RuleOut:
    """One rule, with its last evaluation error."""
    return RuleOut.of(await services().notify.events.rule(claims(), rule_id))


@bp.put("/notification-rules/<rule_id>")
@validate_request(RuleIn)
@validate_response(RuleOut)
@validate_response(ErrorOut, 403)
async def replace_rule(rule_id: str, data: RuleIn) -> RuleOut:
    """Replace a rule's definition (counters are kept)."""
    return RuleOut.of(await services().notify.events.update_rule(claims(), rule_id, _body(data)))


class DeletedOut(Out):
    id: str
    deleted: bool


@bp.delete("/notification-rules/<rule_id>")
@validate_response(DeletedOut)
@validate_response(ErrorOut, 403)
async def delete_rule(rule_id: str) -> DeletedOut:
    """Delete a rule."""
    await services().notify.events.delete_rule(claims(), rule_id)
    return DeletedOut(id=rule_id, deleted=True)
