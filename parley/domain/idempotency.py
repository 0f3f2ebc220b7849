"""Idempotency keys for REST calls that create something (``Idempotency-Key``): a retried
request gets the first one's response instead of creating a second channel, task, team...
(docs/rest.md). The first request claims the key inside a write transaction; one
that arrives while it runs gets ``conflict``; one with the same key but another body or
path gets ``conflict`` too; a claim whose request failed is released, so a retry runs."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from parley.core.codes import ErrorCode
from parley.core.errors import ClientError
from parley.core.limits import MAX_IDEMPOTENCY_KEY_CHARS
from parley.domain import rules
from parley.store import Store, sql

#: Seconds a key is remembered.
KEY_TTL = 24 * 3600.0


@dataclass(frozen=True, slots=True)
class Replay:
    """The response of the earlier request with this key, to send again."""

    status: int
    content_type: str
    body: str


def fingerprint(method: str, path: str, query: bytes, body: bytes) -> str:
    """What makes two requests "the same" for a key: method, path, query and body."""
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), query, body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


class IdempotencyService:
    def __init__(self, store: Store, *, ttl: float = KEY_TTL) -> None:
        self.store = store
        self.ttl_us = int(ttl * 1_000_000)

    @staticmethod
    def check_key(key: str) -> str:
        if not key or len(key) > MAX_IDEMPOTENCY_KEY_CHARS or not key.isprintable():
            raise rules.bad(
                f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY_CHARS} printable characters"
            )
        return rules.check_clean(key, "Idempotency-Key")

    async def begin(self, org: str, user_id: str, key: str, print_: str) -> Replay | None:
        """Claim ``key``: ``None`` if this request runs, or the response to replay."""
        key = self.check_key(key)
        earlier = await self.store.write(
            sql.idempotency.claim, org, user_id, key, print_, ttl_us=self.ttl_us
        )
        if earlier is None:
            return None
        if earlier.fingerprint != print_:
            raise ClientError(
                ErrorCode.CONFLICT, "this Idempotency-Key was used for a different request"
            )
        if earlier.status is None or earlier.body is None or earlier.content_type is None:
            raise ClientError(
                ErrorCode.CONFLICT, "a request with this Idempotency-Key is still running"
            )
        return Replay(earlier.status, earlier.content_type, earlier.body)

    async def finish(
        self, org: str, user_id: str, key: str, *, status: int, content_type: str, body: str
    ) -> None:
        """Keep a successful response for retries; forget the claim of a failed one."""
        if 200 <= status < 300:
            await self.store.write(
                sql.idempotency.complete,
                org,
                user_id,
                key,
                status=status,
                content_type=content_type,
                body=body,
            )
        else:
            await self.store.write(sql.idempotency.release, org, user_id, key)
