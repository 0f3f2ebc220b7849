"""``/v1/presence``: online / away / offline and last-seen of users of my org
(docs/presence.md)."""

from __future__ import annotations

from quart_schema import tag_blueprint, validate_querystring, validate_response

from parley.api.blueprints import authenticated_blueprint
from parley.api.deps import claims, services
from parley.api.schemas import ErrorOut, Out, Query
from parley.core.codes import ErrorCode
from parley.core.errors import ClientError
from parley.domain import rules

MAX_USERS = 100

bp = authenticated_blueprint("presence", __name__)
tag_blueprint(bp, ["presence"])


class PresenceQuery(Query):
    #: Comma-separated user ids.
    users: str


class PresenceEntry(Out):
    user_id: str
    status: str
    last_seen: str | None = None


class PresenceOut(Out):
    users: list[PresenceEntry]


@bp.get("/presence")
@validate_querystring(PresenceQuery)
@validate_response(PresenceOut)
@validate_response(ErrorOut, 400)
async def presence(query_args: PresenceQuery) -> PresenceOut:
    """Presence of up to 100 users (``?users=a,b``) of my org, as of the last flush."""
    ids = list(dict.fromkeys(u.strip() for u in query_args.users.split(",") if u.strip()))
    if not 0 < len(ids) <= MAX_USERS:
        raise ClientError(ErrorCode.BAD_REQUEST, f"users: 1 to {MAX_USERS} comma-separated ids")
    for uid in ids:
        rules.check_clean(uid, "users")
    presence = services().presence
    if presence is None:
        raise ClientError(ErrorCode.UNAVAILABLE, "presence needs the broker")
    entries = presence.lookup(claims().org, ids)
    return PresenceOut(users=[PresenceEntry(**e) for e in entries])
