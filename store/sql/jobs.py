"""Persisted jobs (docs/automation.md): one row per job, unique per (kind, key); claimed
atomically with a lease, so that several nodes polling the same database never run the
same job at once.

The claim is ``SELECT … FOR UPDATE SKIP LOCKED`` then ``UPDATE`` in one transaction on
PostgreSQL: a row another node is claiming is skipped, not waited for. SQLite has one
writer (``BEGIN IMMEDIATE``, the group-commit batch), so the same two statements are
atomic there as they are. Every later step (finish, fail, release) is fenced by the
claim: it only applies while the row is still ``running`` under the same worker and
attempt, so a node whose lease expired cannot overwrite the re-run of another node.

Times are passed in (``now_us``): the scheduler's one clock, virtual in tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from parley.store import codec
from parley.store.db import Db
from parley.store.ids import new_id
from parley.store.writetx import WriteTx

PENDING = "pending"
RUNNING = "running"
DONE = "done"
FAILED = "failed"
CANCELLED = "cancelled"

#: Longest ``last_error`` kept (characters).
MAX_ERROR_CHARS = 500


@dataclass(frozen=True, slots=True)
class Job:
    id: str
    kind: str
    key: str
    org: str
    run_at: datetime
    payload: dict[str, Any]
    state: str
    #: Claims so far, this one included (1 on the first run).
    attempts: int
    last_error: str | None
    claimed_by: str | None
    claimed_until: datetime | None


_COLS = (
    "id, kind, job_key, org, run_at_us, payload, state, attempts, last_error, claimed_by,"
    " claimed_until_us"
)


def _job(row: codec.Row) -> Job:
    return Job(
        id=row[0],
        kind=row[1],
        key=row[2],
        org=row[3],
        run_at=codec.from_us(int(row[4])),
        payload=codec.loads(row[5]),
        state=row[6],
        attempts=int(row[7]),
        last_error=row[8],
        claimed_by=row[9],
        claimed_until=codec.opt_from_us(row[10]),
    )


def schedule(
    tx: WriteTx,
    kind: str,
    key: str,
    org: str,
    *,
    run_at_us: int,
    payload: dict[str, Any],
    now_us: int,
) -> tuple[Job, bool]:
    """Insert the job ``(kind, key)`` unless it exists; return it and whether it is new.
    Scheduling an existing key changes nothing (idempotent scheduling)."""
    codec.check_text(kind, key, org)
    row = tx.db.one(
        "INSERT INTO jobs (id, kind, job_key, org, run_at_us, payload, state, attempts,"
        " created_at_us, updated_at_us) VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?)"
        f" ON CONFLICT (kind, job_key) DO NOTHING RETURNING {_COLS}",
        (new_id("job"), kind, key, org, run_at_us, codec.dumps(payload), PENDING, now_us, now_us),
    )
    if row is not None:
        return _job(row), True
    existing = get_job(tx.db, kind, key)
    assert existing is not None  # the conflict says it exists, and jobs are never deleted here
    return existing, False


def get_job(db: Db, kind: str, key: str) -> Job | None:
    row = db.one(f"SELECT {_COLS} FROM jobs WHERE kind = ? AND job_key = ?", (kind, key))
    return None if row is None else _job(row)


def reschedule(
    tx: WriteTx,
    kind: str,
    key: str,
    *,
    run_at_us: int,
    payload: dict[str, Any] | None,
    now_us: int,
) -> bool:
    """Move a job that still waits (``pending``) to ``run_at_us`` (and replace its payload);
    False if it is claimed, finished or missing."""
    if payload is None:
        changed = tx.db.run(
            "UPDATE jobs SET run_at_us = ?, updated_at_us = ?"
            " WHERE kind = ? AND job_key = ? AND state = ?",
            (run_at_us, now_us, kind, key, PENDING),
        )
    else:
        changed = tx.db.run(
            "UPDATE jobs SET run_at_us = ?, payload = ?, updated_at_us = ?"
            " WHERE kind = ? AND job_key = ? AND state = ?",
            (run_at_us, codec.dumps(payload), now_us, kind, key, PENDING),
        )
    return changed > 0


def cancel(tx: WriteTx, kind: str, key: str, *, now_us: int) -> bool:
    """Cancel a job that still waits; False if it is claimed (running), finished or missing."""
    changed = tx.db.run(
        "UPDATE jobs SET state = ?, updated_at_us = ? WHERE kind = ? AND job_key = ? AND state = ?",
        (CANCELLED, now_us, kind, key, PENDING),
    )
    return changed > 0


def claim(tx: WriteTx, worker: str, *, now_us: int, lease_us: int, limit: int) -> list[Job]:
    """Claim up to ``limit`` due jobs for ``worker`` until ``now_us + lease_us``: pending
    jobs whose time has come, and running jobs whose lease expired (their node died or
    hung after claiming them). Earliest first."""
    db = tx.db
    skip = f"{db.for_update} SKIP LOCKED" if db.for_update else ""
    rows = db.all(
        "SELECT id FROM jobs WHERE (state = ? AND run_at_us <= ?)"
        " OR (state = ? AND claimed_until_us <= ?)"
        f" ORDER BY run_at_us LIMIT ?{skip}",
        (PENDING, now_us, RUNNING, now_us, codec.limit_of(limit)),
    )
    if not rows:
        return []
    ids = [r[0] for r in rows]
    claimed = db.all(
        "UPDATE jobs SET state = ?, attempts = attempts + 1, claimed_by = ?,"
        f" claimed_until_us = ?, updated_at_us = ? WHERE id IN ({codec.placeholders(len(ids))})"
        f" RETURNING {_COLS}",
        (RUNNING, worker, now_us + lease_us, now_us, *ids),
    )
    return sorted((_job(r) for r in claimed), key=lambda j: (j.run_at, j.id))


def _fence() -> str:
    return " WHERE id = ? AND state = ? AND claimed_by = ? AND attempts = ?"


def finish(tx: WriteTx, job: Job, *, now_us: int) -> bool:
    """Mark a claimed job done; False if the claim was lost (lease expired, re-claimed)."""
    changed = tx.db.run(
        "UPDATE jobs SET state = ?, claimed_until_us = NULL, last_error = NULL,"
        " updated_at_us = ?" + _fence(),
        (DONE, now_us, job.id, RUNNING, job.claimed_by, job.attempts),
    )
    return changed > 0


def fail(tx: WriteTx, job: Job, error: str, *, retry_at_us: int | None, now_us: int) -> bool:
    """A claimed job failed: back to ``pending`` at ``retry_at_us``, or ``failed`` for good
    (``retry_at_us`` None). False if the claim was lost."""
    state, run_at = (FAILED, None) if retry_at_us is None else (PENDING, retry_at_us)
    changed = tx.db.run(
        "UPDATE jobs SET state = ?, run_at_us = COALESCE(?, run_at_us), claimed_until_us = NULL,"
        " last_error = ?, updated_at_us = ?" + _fence(),
        (
            state,
            run_at,
            error[:MAX_ERROR_CHARS],
            now_us,
            job.id,
            RUNNING,
            job.claimed_by,
            job.attempts,
        ),
    )
    return changed > 0


def next_due_us(db: Db) -> int | None:
    """When the earliest job becomes claimable: a pending job's time or a running job's
    lease end; None when nothing waits."""
    row = db.one(
        "SELECT MIN(t) FROM (SELECT MIN(run_at_us) AS t FROM jobs WHERE state = ?"
        " UNION ALL SELECT MIN(claimed_until_us) AS t FROM jobs WHERE state = ?) AS due",
        (PENDING, RUNNING),
    )
    return None if row is None or row[0] is None else int(row[0])


def purge_finished(tx: WriteTx, *, before_us: int) -> int:
    """Delete jobs that finished (done, failed, cancelled) before ``before_us``."""
    return tx.db.run(
        "DELETE FROM jobs WHERE state IN (?, ?, ?) AND updated_at_us < ?",
        (DONE, FAILED, CANCELLED, before_us),
    )


def count_by_state(db: Db) -> dict[str, int]:
    return {str(r[0]): int(r[1]) for r in db.all("SELECT state, COUNT(*) FROM jobs GROUP BY state")}
