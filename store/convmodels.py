"""Row helpers shared by :mod:`store.convwrites` and :mod:`store.convreads`."""

from __future__ import annotations

from parley.core.records import Message, Task
from parley.store import codec
from parley.store.db import Db
from parley.store.errors import NotFound

# -- helpers ------------------------------------------------------------------------------

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




def _message_row(db: Db, org: str, channel_id: str, message_id: str) -> Message | None:
    row = db.one(
        f"SELECT {codec.MESSAGE_COLS} FROM messages m"
        " WHERE m.org = ? AND m.id = ? AND m.channel_id = ?",
        (org, message_id, channel_id),
    )
    return None if row is None else codec.message(row)


def _live_message(db: Db, org: str, channel_id: str, message_id: str) -> Message:
    msg = _message_row(db, org, channel_id, message_id)
    if msg is None or msg.deleted:
        raise NotFound("no such message")
    return msg


def _thread_root_of(db: Db, org: str, message_id: str) -> str | None:
    row = db.one(
        "SELECT thread_root FROM message_meta WHERE org = ? AND message_id = ?", (org, message_id)
    )
    return None if row is None else row[0]


def _in(n: int) -> str:
    return ", ".join("?" * n)


