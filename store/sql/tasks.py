"""Tasks attached to messages."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from parley.core.events import EventName
from parley.core.records import (
    ChannelEvent,
    Task,
    task_data,
)
from parley.store import codec
from parley.store.db import Db
from parley.store.errors import NotFound
from parley.store.ids import new_id
from parley.store.sql.log import append_event
from parley.store.sql.messages import live_message
from parley.store.writetx import WriteTx

TASK_COLS = (
    "t.id, t.org, t.channel_id, t.message_id, t.message_seq, t.title, t.assignee, t.due_at_us,"
    " t.created_by, t.created_at_us, t.completed_at_us, t.completed_by"
)


def _task(row: codec.Row) -> Task:
    return Task(
        id=row[0],
        org=row[1],
        channel_id=row[2],
        message_id=row[3],
        message_seq=int(row[4]),
        title=row[5],
        assignee=row[6],
        due_at=codec.opt_from_us(row[7]),
        created_by=row[8],
        created_at=codec.from_us(row[9]),
        completed_at=codec.opt_from_us(row[10]),
        completed_by=row[11],
    )


def create_task(
    tx: WriteTx,
    org: str,
    channel_id: str,
    message_id: str,
    *,
    title: str,
    assignee: str | None,
    due_at: datetime | None,
    created_by: str,
) -> tuple[Task, ChannelEvent]:
    codec.check_text(title, assignee)
    tx.last_seq(org, channel_id)
    msg = live_message(tx.db, org, channel_id, message_id)
    now = codec.now_us()
    task = Task(
        id=new_id("task"),
        org=org,
        channel_id=channel_id,
        message_id=message_id,
        message_seq=msg.seq,
        title=title,
        assignee=assignee,
        due_at=due_at,
        created_by=created_by,
        created_at=codec.from_us(now),
    )
    tx.db.send(
        "INSERT INTO tasks (org, id, channel_id, message_id, message_seq, title, assignee,"
        " due_at_us, created_by, created_at_us) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            org,
            task.id,
            channel_id,
            message_id,
            msg.seq,
            title,
            assignee,
            None if due_at is None else codec.to_us(due_at),
            created_by,
            now,
        ),
    )
    seq = tx.next_seq(org, channel_id, activity_us=None)
    event = append_event(
        tx, org, channel_id, seq, EventName.TASK_CREATED, task_data(task), now, created_by
    )
    return task, event


def complete_task(
    tx: WriteTx, org: str, task_id: str, user_id: str
) -> tuple[Task, ChannelEvent | None]:
    """Complete once; a second call returns the task unchanged and no event."""
    db = tx.db
    row = db.one(f"SELECT {TASK_COLS} FROM tasks t WHERE t.org = ? AND t.id = ?", (org, task_id))
    if row is None:
        raise NotFound("no such task")
    task = _task(row)
    if task.completed_at is not None:
        return task, None
    tx.last_seq(org, task.channel_id)
    now = codec.now_us()
    db.send(
        "UPDATE tasks SET completed_at_us = ?, completed_by = ? WHERE org = ? AND id = ?",
        (now, user_id, org, task_id),
    )
    done = replace(task, completed_at=codec.from_us(now), completed_by=user_id)
    seq = tx.next_seq(org, task.channel_id, activity_us=None)
    event = append_event(
        tx, org, task.channel_id, seq, EventName.TASK_COMPLETED, task_data(done), now, user_id
    )
    return done, event


def get_task(db: Db, org: str, task_id: str) -> Task | None:
    row = db.one(f"SELECT {TASK_COLS} FROM tasks t WHERE t.org = ? AND t.id = ?", (org, task_id))
    return None if row is None else _task(row)


def list_tasks(db: Db, org: str, user_id: str, *, limit: int) -> list[Task]:
    """Tasks assigned to or created by the user in channels they are a member of."""
    rows = db.all(
        f"SELECT {TASK_COLS} FROM tasks t JOIN members c ON c.org = t.org"
        " AND c.channel_id = t.channel_id AND c.user_id = ?"
        " WHERE t.org = ? AND (t.assignee = ? OR t.created_by = ?)"
        " ORDER BY t.created_at_us DESC, t.id DESC LIMIT ?",
        (user_id, org, user_id, user_id, codec.limit_of(limit)),
    )
    return [_task(r) for r in rows]
