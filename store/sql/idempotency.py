"""Idempotency keys of REST requests: claimed by the first request, completed with the
response a retry gets back."""

from __future__ import annotations

from dataclasses import dataclass

from parley.store import codec
from parley.store.writetx import WriteTx


@dataclass(frozen=True, slots=True)
class KeyState:
    """What an earlier request with the key left: its fingerprint, and its response once
    it completed (``status`` None: still running)."""

    fingerprint: str
    status: int | None
    content_type: str | None
    body: str | None


#: A claim whose request never finished (the server stopped, or the client went away,
#: mid-request) is free again after this long.
ABANDONED_US = 60_000_000


def claim(
    tx: WriteTx, org: str, user_id: str, key: str, fingerprint: str, *, ttl_us: int
) -> KeyState | None:
    """Claim ``key`` for a request; ``None`` if this request now holds it, else what the
    earlier request with it left. A key older than ``ttl_us``, or a claim abandoned for
    :data:`ABANDONED_US`, is forgotten first."""
    codec.check_text(key, fingerprint)
    db = tx.db
    now = codec.now_us()
    db.run(
        "DELETE FROM idempotency_keys WHERE org = ? AND user_id = ? AND key = ?"
        " AND (created_at_us < ? OR (status IS NULL AND created_at_us < ?))",
        (org, user_id, key, now - ttl_us, now - ABANDONED_US),
    )
    inserted = db.run(
        "INSERT INTO idempotency_keys (org, user_id, key, fingerprint, created_at_us)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        (org, user_id, key, fingerprint, now),
    )
    if inserted:
        return None
    row = db.one(
        "SELECT fingerprint, status, content_type, body FROM idempotency_keys"
        " WHERE org = ? AND user_id = ? AND key = ?",
        (org, user_id, key),
    )
    if row is None:  # released meanwhile: a later claim will take it
        return KeyState(fingerprint, None, None, None)
    return KeyState(row[0], None if row[1] is None else int(row[1]), row[2], row[3])


def complete(
    tx: WriteTx, org: str, user_id: str, key: str, *, status: int, content_type: str, body: str
) -> None:
    codec.check_text(content_type, body)
    tx.db.send(
        "UPDATE idempotency_keys SET status = ?, content_type = ?, body = ?"
        " WHERE org = ? AND user_id = ? AND key = ? AND status IS NULL",
        (status, content_type, body, org, user_id, key),
    )


def release(tx: WriteTx, org: str, user_id: str, key: str) -> None:
    """Forget a claim whose request failed, so that a retry runs it again."""
    tx.db.send(
        "DELETE FROM idempotency_keys WHERE org = ? AND user_id = ? AND key = ? AND status IS NULL",
        (org, user_id, key),
    )


def purge(tx: WriteTx, *, ttl_us: int) -> int:
    """Forget every key older than ``ttl_us``."""
    return tx.db.run(
        "DELETE FROM idempotency_keys WHERE created_at_us < ?", (codec.now_us() - ttl_us,)
    )
