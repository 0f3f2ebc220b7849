"""Reminders: a row per reminder and its job, written in one transaction
(docs/automation.md). A task's due reminder has the id ``due_{task_id}``, so it is made
once per task."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from parley.store import codec
from parley.store.db import Db
from parley.store.errors import Conflict, NotFound
from parley.store.ids import new_id
from parley.store.sql import jobs
from parley.store.writetx import WriteTx

#: The job kind that fires them; the job key is the reminder's id.
JOB_KIND = "reminder"

MESSAGE = "message"
TASK = "task"

PENDING = "pending"
FIRED = "fired"
CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class Reminder:
    id: str
    org: str
    user_id: str
    kind: str
    channel_id: str
    message_id: str | None
    task_id: str | None
    note: str | None
    remind_at: datetime
    state: str
    created_at: datetime


_COLS = (
    "id, org, user_id, kind, channel_id, message_id, task_id, note, remind_at_us, state,"
    " created_at_us"
)


def _row(r: codec.Row) -> Reminder:
    return Reminder(
        id=r[0],
        org=r[1],
        user_id=r[2],
        kind=r[3],
        channel_id=r[4],
        message_id=r[5],
        task_id=r[6],
        note=r[7],
        remind_at=codec.from_us(int(r[8])),
        state=r[9],
        created_at=codec.from_us(int(r[10])),
    )


def create(
    tx: WriteTx,
    org: str,
    user_id: str,
    *,
    kind: str,
    channel_id: str,
    message_id: str | None = None,
    task_id: str | None = None,
    note: str | None = None,
    remind_at_us: int,
    now_us: int,
) -> Reminder:
    """A new reminder (kind ``task``: once per task; again returns the first)."""
    codec.check_text(note)
    rid = f"due_{task_id}" if kind == TASK else new_id("rem")
    row = tx.db.one(
        "INSERT INTO reminders (org, id, user_id, kind, channel_id, message_id, task_id, note,"
        " remind_at_us, state, created_at_us) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        f" ON CONFLICT (org, id) DO NOTHING RETURNING {_COLS}",
        (
            org,
            rid,
            user_id,
            kind,
            channel_id,
            message_id,
            task_id,
            note,
            remind_at_us,
            PENDING,
            now_us,
        ),
    )
    if row is None:
        found = get(tx.db, org, rid)
        assert found is not None
        return found
    jobs.schedule(tx, JOB_KIND, rid, org, run_at_us=remind_at_us, payload={}, now_us=now_us)
    return _row(row)


def get(db: Db, org: str, rid: str) -> Reminder | None:
    row = db.one(f"SELECT {_COLS} FROM reminders WHERE org = ? AND id = ?", (org, rid))
    return None if row is None else _row(row)


def list_of(db: Db, org: str, user_id: str, *, pending_only: bool, limit: int) -> list[Reminder]:
    where = "org = ? AND user_id = ?" + (" AND state = ?" if pending_only else "")
    params = [org, user_id] + ([PENDING] if pending_only else [])
    rows = db.all(
        f"SELECT {_COLS} FROM reminders WHERE {where} ORDER BY remind_at_us, id LIMIT ?",
        (*params, codec.limit_of(limit)),
    )
    return [_row(r) for r in rows]


def cancel(tx: WriteTx, org: str, rid: str, user_id: str, *, now_us: int) -> Reminder:
    found = get(tx.db, org, rid)
    if found is None or found.user_id != user_id:
        raise NotFound("reminder")
    if found.state != PENDING or not jobs.cancel(tx, JOB_KIND, rid, now_us=now_us):
        raise Conflict(f"the reminder is {FIRED if found.state == PENDING else found.state}")
    return settle(tx, org, rid, CANCELLED)


def settle(tx: WriteTx, org: str, rid: str, state: str) -> Reminder:
    row = tx.db.one(
        f"UPDATE reminders SET state = ? WHERE org = ? AND id = ? RETURNING {_COLS}",
        (state, org, rid),
    )
    if row is None:
        raise NotFound("reminder")
    return _row(row)
