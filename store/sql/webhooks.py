"""Outgoing webhooks and the delivery log (docs/automation.md). A delivery and its job are
written in one transaction; bots' deliveries share the log (``webhook_id`` = the bot)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from parley.store import codec
from parley.store.db import Db
from parley.store.errors import NotFound
from parley.store.ids import new_id
from parley.store.sql import jobs
from parley.store.writetx import WriteTx

#: The job kind that sends one delivery; the job key is the delivery's id.
JOB_KIND = "webhook_delivery"

PENDING = "pending"
DELIVERED = "delivered"
FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Webhook:
    id: str
    org: str
    url: str
    secret: str
    patterns: tuple[str, ...]
    enabled: bool
    #: Consecutive failed attempts (reset by a success or by enabling it again).
    failures: int
    disabled_reason: str | None
    created_by: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Delivery:
    id: str
    org: str
    webhook_id: str
    topic: str
    body: str
    state: str
    attempts: int
    status_code: int | None
    error: str | None
    created_at: datetime
    updated_at: datetime


_HOOK_COLS = (
    "id, org, url, secret, patterns, enabled, failures, disabled_reason, created_by,"
    " created_at_us, updated_at_us"
)
_DELIVERY_COLS = (
    "id, org, webhook_id, topic, body, state, attempts, status_code, error, created_at_us,"
    " updated_at_us"
)


def _hook(r: codec.Row) -> Webhook:
    return Webhook(
        id=r[0],
        org=r[1],
        url=r[2],
        secret=r[3],
        patterns=tuple(json.loads(r[4])),
        enabled=bool(r[5]),
        failures=int(r[6]),
        disabled_reason=r[7],
        created_by=r[8],
        created_at=codec.from_us(int(r[9])),
        updated_at=codec.from_us(int(r[10])),
    )


def _delivery(r: codec.Row) -> Delivery:
    return Delivery(
        id=r[0],
        org=r[1],
        webhook_id=r[2],
        topic=r[3],
        body=r[4],
        state=r[5],
        attempts=int(r[6]),
        status_code=None if r[7] is None else int(r[7]),
        error=r[8],
        created_at=codec.from_us(int(r[9])),
        updated_at=codec.from_us(int(r[10])),
    )


def create_webhook(
    tx: WriteTx,
    org: str,
    *,
    url: str,
    secret: str,
    patterns: Sequence[str],
    created_by: str,
    now_us: int,
) -> Webhook:
    codec.check_text(url, secret, created_by, *patterns)
    row = tx.db.one(
        "INSERT INTO webhooks (org, id, url, secret, patterns, enabled, failures, created_by,"
        " created_at_us, updated_at_us) VALUES (?, ?, ?, ?, ?, TRUE, 0, ?, ?, ?)"
        f" RETURNING {_HOOK_COLS}",
        (org, new_id("wh"), url, secret, json.dumps(list(patterns)), created_by, now_us, now_us),
    )
    assert row is not None
    return _hook(row)


def get_webhook(db: Db, org: str, hook_id: str) -> Webhook | None:
    row = db.one(f"SELECT {_HOOK_COLS} FROM webhooks WHERE org = ? AND id = ?", (org, hook_id))
    return None if row is None else _hook(row)


def list_webhooks(db: Db, org: str) -> list[Webhook]:
    rows = db.all(f"SELECT {_HOOK_COLS} FROM webhooks WHERE org = ? ORDER BY id", (org,))
    return [_hook(r) for r in rows]


def enabled_webhooks(db: Db) -> list[Webhook]:
    """Every org's enabled webhooks (the matcher's table)."""
    rows = db.all(f"SELECT {_HOOK_COLS} FROM webhooks WHERE enabled = TRUE ORDER BY org, id")
    return [_hook(r) for r in rows]


def update_webhook(
    tx: WriteTx,
    org: str,
    hook_id: str,
    *,
    url: str | None,
    patterns: Sequence[str] | None,
    enabled: bool | None,
    now_us: int,
) -> Webhook:
    """Change it; enabling it again clears its failure count."""
    found = get_webhook(tx.db, org, hook_id)
    if found is None:
        raise NotFound("webhook")
    codec.check_text(url, *(patterns or ()))
    on = found.enabled if enabled is None else enabled
    reset = enabled is True
    row = tx.db.one(
        "UPDATE webhooks SET url = ?, patterns = ?, enabled = ?, failures = ?,"
        " disabled_reason = ?, updated_at_us = ? WHERE org = ? AND id = ?"
        f" RETURNING {_HOOK_COLS}",
        (
            found.url if url is None else url,
            json.dumps(list(found.patterns if patterns is None else patterns)),
            on,
            0 if reset else found.failures,
            None if on else (found.disabled_reason or "disabled by an admin"),
            now_us,
            org,
            hook_id,
        ),
    )
    assert row is not None
    return _hook(row)


def delete_webhook(tx: WriteTx, org: str, hook_id: str) -> None:
    if not tx.db.run("DELETE FROM webhooks WHERE org = ? AND id = ?", (org, hook_id)):
        raise NotFound("webhook")


def record_attempt(
    tx: WriteTx, org: str, hook_id: str, *, ok: bool, max_failures: int, now_us: int
) -> Webhook | None:
    """Count one attempt: a success resets the consecutive failures, a failure adds one
    and disables the webhook at ``max_failures``. None if the webhook is gone."""
    if ok:
        tx.db.run(
            "UPDATE webhooks SET failures = 0 WHERE org = ? AND id = ? AND failures <> 0",
            (org, hook_id),
        )
    else:
        tx.db.run(
            "UPDATE webhooks SET failures = failures + 1, updated_at_us = ?"
            " WHERE org = ? AND id = ?",
            (now_us, org, hook_id),
        )
        tx.db.run(
            "UPDATE webhooks SET enabled = FALSE, disabled_reason = ?"
            " WHERE org = ? AND id = ? AND enabled = TRUE AND failures >= ?",
            (f"{max_failures} consecutive failed deliveries", org, hook_id, max_failures),
        )
    return get_webhook(tx.db, org, hook_id)


def add_deliveries(
    tx: WriteTx,
    items: Sequence[tuple[str, str, str, str]],
    *,
    now_us: int,
    kind: str = JOB_KIND,
) -> list[str]:
    """One delivery per ``(org, webhook_id, topic, body)``, each with its job (of
    ``kind``) due now; returns their ids."""
    ids = []
    for org, hook_id, topic, body in items:
        did = new_id("dlv")
        tx.db.defer(
            "INSERT INTO webhook_deliveries (org, id, webhook_id, topic, body, state, attempts,"
            " created_at_us, updated_at_us) VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?)",
            (org, did, hook_id, topic, body, PENDING, now_us, now_us),
        )
        jobs.schedule(tx, kind, did, org, run_at_us=now_us, payload={}, now_us=now_us)
        ids.append(did)
    return ids


def get_delivery(db: Db, org: str, did: str) -> Delivery | None:
    row = db.one(
        f"SELECT {_DELIVERY_COLS} FROM webhook_deliveries WHERE org = ? AND id = ?", (org, did)
    )
    return None if row is None else _delivery(row)


def list_deliveries(
    db: Db, org: str, hook_id: str, *, before: str | None, limit: int
) -> list[Delivery]:
    """Newest first; ``before`` a delivery id (ids sort by time)."""
    where, params = "org = ? AND webhook_id = ?", [org, hook_id]
    if before is not None:
        where += " AND id < ?"
        params.append(before)
    rows = db.all(
        f"SELECT {_DELIVERY_COLS} FROM webhook_deliveries WHERE {where} ORDER BY id DESC LIMIT ?",
        (*params, codec.limit_of(limit)),
    )
    return [_delivery(r) for r in rows]


def mark_delivery(
    tx: WriteTx,
    org: str,
    did: str,
    *,
    state: str,
    attempts: int,
    status_code: int | None,
    error: str | None,
    now_us: int,
) -> None:
    tx.db.run(
        "UPDATE webhook_deliveries SET state = ?, attempts = ?, status_code = ?, error = ?,"
        " updated_at_us = ? WHERE org = ? AND id = ?",
        (state, attempts, status_code, None if error is None else error[:500], now_us, org, did),
    )


def purge_deliveries(tx: WriteTx, *, before_us: int) -> int:
    """Delete settled (delivered or failed) deliveries last changed before ``before_us``."""
    return tx.db.run(
        "DELETE FROM webhook_deliveries WHERE state IN (?, ?) AND updated_at_us < ?",
        (DELIVERED, FAILED, before_us),
    )
