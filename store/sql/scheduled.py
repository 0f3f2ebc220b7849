"""Scheduled messages ("send later"): a row per message, and its job in the same
transaction (docs/automation.md)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from parley.store import codec
from parley.store.db import Db
from parley.store.errors import Conflict, NotFound
from parley.store.ids import new_id
from parley.store.sql import jobs
from parley.store.writetx import WriteTx

#: The job kind that posts them; the job key is the scheduled message's id.
JOB_KIND = "scheduled_message"

SCHEDULED = "scheduled"
SENT = "sent"
CANCELLED = "cancelled"
FAILED = "failed"


@dataclass(frozen=True, slots=True)
class ScheduledMessage:
    id: str
    org: str
    channel_id: str
    author: str
    text: str
    send_at: datetime
    state: str
    message_id: str | None
    error: str | None
    created_at: datetime
    updated_at: datetime


_COLS = (
    "id, org, channel_id, author, text, send_at_us, state, message_id, error, created_at_us,"
    " updated_at_us"
)


def _row(r: codec.Row) -> ScheduledMessage:
    return ScheduledMessage(
        id=r[0],
        org=r[1],
        channel_id=r[2],
        author=r[3],
        text=r[4],
        send_at=codec.from_us(int(r[5])),
        state=r[6],
        message_id=r[7],
        error=r[8],
        created_at=codec.from_us(int(r[9])),
        updated_at=codec.from_us(int(r[10])),
    )


def create(
    tx: WriteTx,
    org: str,
    channel_id: str,
    author: str,
    text: str,
    *,
    send_at_us: int,
    now_us: int,
) -> ScheduledMessage:
    codec.check_text(text)
    sid = new_id("sched")
    row = tx.db.one(
        "INSERT INTO scheduled_messages (org, id, channel_id, author, text, send_at_us, state,"
        " created_at_us, updated_at_us) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
        f" RETURNING {_COLS}",
        (org, sid, channel_id, author, text, send_at_us, SCHEDULED, now_us, now_us),
    )
    assert row is not None
    jobs.schedule(tx, JOB_KIND, sid, org, run_at_us=send_at_us, payload={}, now_us=now_us)
    return _row(row)


def get(db: Db, org: str, sid: str) -> ScheduledMessage | None:
    row = db.one(f"SELECT {_COLS} FROM scheduled_messages WHERE org = ? AND id = ?", (org, sid))
    return None if row is None else _row(row)


def list_of(
    db: Db, org: str, author: str, *, channel_id: str | None, limit: int
) -> list[ScheduledMessage]:
    """The author's scheduled messages (all states), soonest first."""
    where, params = "org = ? AND author = ?", [org, author]
    if channel_id is not None:
        where += " AND channel_id = ?"
        params.append(channel_id)
    rows = db.all(
        f"SELECT {_COLS} FROM scheduled_messages WHERE {where} ORDER BY send_at_us, id LIMIT ?",
        (*params, codec.limit_of(limit)),
    )
    return [_row(r) for r in rows]


def _own_scheduled(tx: WriteTx, org: str, sid: str, author: str) -> ScheduledMessage:
    found = get(tx.db, org, sid)
    if found is None or found.author != author:
        raise NotFound("scheduled message")
    if found.state != SCHEDULED:
        raise Conflict(f"the scheduled message is {found.state}")
    return found


def update(
    tx: WriteTx,
    org: str,
    sid: str,
    author: str,
    *,
    text: str | None,
    send_at_us: int | None,
    now_us: int,
) -> ScheduledMessage:
    """Change a message that is not sent yet; Conflict once its job was claimed (it is
    being sent) or it is sent or cancelled."""
    codec.check_text(text)
    found = _own_scheduled(tx, org, sid, author)
    at = codec.to_us(found.send_at) if send_at_us is None else send_at_us
    if not jobs.reschedule(tx, JOB_KIND, sid, run_at_us=at, payload=None, now_us=now_us):
        raise Conflict("the scheduled message is being sent")
    row = tx.db.one(
        "UPDATE scheduled_messages SET text = ?, send_at_us = ?, updated_at_us = ?"
        f" WHERE org = ? AND id = ? RETURNING {_COLS}",
        (found.text if text is None else text, at, now_us, org, sid),
    )
    assert row is not None
    return _row(row)


def cancel(tx: WriteTx, org: str, sid: str, author: str, *, now_us: int) -> ScheduledMessage:
    _own_scheduled(tx, org, sid, author)
    if not jobs.cancel(tx, JOB_KIND, sid, now_us=now_us):
        raise Conflict("the scheduled message is being sent")
    return _settle(tx, org, sid, CANCELLED, now_us=now_us)


def _settle(
    tx: WriteTx,
    org: str,
    sid: str,
    state: str,
    *,
    now_us: int,
    message_id: str | None = None,
    error: str | None = None,
) -> ScheduledMessage:
    row = tx.db.one(
        "UPDATE scheduled_messages SET state = ?, message_id = ?, error = ?, updated_at_us = ?"
        f" WHERE org = ? AND id = ? RETURNING {_COLS}",
        (state, message_id, error, now_us, org, sid),
    )
    if row is None:
        raise NotFound("scheduled message")
    return _row(row)


def mark_sent(tx: WriteTx, org: str, sid: str, message_id: str, *, now_us: int) -> None:
    _settle(tx, org, sid, SENT, now_us=now_us, message_id=message_id)


def mark_failed(tx: WriteTx, org: str, sid: str, error: str, *, now_us: int) -> None:
    _settle(tx, org, sid, FAILED, now_us=now_us, error=error[: jobs.MAX_ERROR_CHARS])
