"""Entity locks: ``/v1/locks/{entity}`` (take, heartbeat, release, read) and ``/v1/locks``
(the org's live locks). ``entity`` is any id of the org: ``note_…``, ``case:4711``."""

from __future__ import annotations

from quart_schema import tag_blueprint, validate_querystring, validate_request, validate_response

from parley.api.blueprints import authenticated_blueprint
from parley.api.deps import claims, services
from parley.api.schemas import Body, ErrorOut, Out, Query, Timestamp
from parley.core.records import EntityLock
from parley.core.times import rfc3339
from parley.domain import access


class LockIn(Body):
    #: Seconds (1 to 3600); default 30.
    ttl: float | None = None


class LockOut(Out):
    entity: str
    holder: str
    acquired_at: Timestamp
    expires_at: Timestamp

    @classmethod
    def of(cls, lk: EntityLock) -> LockOut:
        return cls(
            entity=lk.entity,
            holder=lk.holder,
            acquired_at=rfc3339(lk.acquired_at),
            expires_at=rfc3339(lk.expires_at),
        )


class LockListOut(Out):
    items: list[LockOut]


class LockQuery(Query):
    limit: int | None = None


bp = authenticated_blueprint("locks", __name__)
tag_blueprint(bp, ["locks"])


@bp.post("/locks/<path:entity>")
@validate_request(LockIn)
@validate_response(LockOut)
@validate_response(ErrorOut, 409)
async def acquire(entity: str, data: LockIn) -> LockOut:
    """Take the lock for ``ttl`` seconds (holding it already: renewed); 409 ``conflict``
    naming the holder and expiry (``error.details.lock``) if someone else holds it."""
    c = claims()
    return LockOut.of(await services().locks.acquire(c.org, c.sub, entity, ttl=data.ttl))


@bp.put("/locks/<path:entity>")
@validate_request(LockIn)
@validate_response(LockOut)
@validate_response(ErrorOut, 409)
async def heartbeat(entity: str, data: LockIn) -> LockOut:
    """Renew a lock I hold for ``ttl`` seconds; 404 if nobody holds it, 409 if another does."""
    c = claims()
    return LockOut.of(await services().locks.renew(c.org, c.sub, entity, ttl=data.ttl))


@bp.delete("/locks/<path:entity>")
@validate_response(LockOut)
@validate_response(ErrorOut, 404)
async def release(entity: str) -> LockOut:
    """Release a lock I hold; 404 if nobody holds it, 409 if another does."""
    c = claims()
    return LockOut.of(await services().locks.release(c.org, c.sub, entity))


@bp.get("/locks/<path:entity>")
@validate_response(LockOut)
@validate_response(ErrorOut, 404)
async def get_lock(entity: str) -> LockOut:
    """Who holds the entity now; 404 if nobody."""
    c = claims()
    lock = await services().locks.lock(c.org, c.sub, entity)
    if lock is None:
        raise access.not_found("lock")
    return LockOut.of(lock)


@bp.get("/locks")
@validate_querystring(LockQuery)
@validate_response(LockListOut)
async def list_locks(query_args: LockQuery) -> LockListOut:
    """The org's live locks, by entity."""
    c = claims()
    return LockListOut(
        items=[
            LockOut.of(lk)
            for lk in await services().locks.locks(c.org, c.sub, limit=query_args.limit)
        ]
    )
