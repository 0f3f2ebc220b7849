"""Records of the conversation features (docs/conversation.md) and row helpers shared by
:mod:`store.convwrites` and :mod:`store.convreads`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from parley.store import codec
from parley.store.db import Db
from parley.store.errors import NotFound
from parley.store.models import Message

# -- records ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MessageMeta:
    thread_root: str | None = None
    also_in_channel: bool = False
    #: A shared message's snapshot and link: channel_id, message_id, seq, author, text,
    #: created_at.
    shared: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class ThreadSummary:
    root_id: str
    reply_count: int
    last_reply_at: datetime | None
    participants: list[str]


@dataclass(frozen=True, slots=True)
class ReactionCount:
    emoji: str
    count: int
    me: bool


@dataclass(frozen=True, slots=True)
class Pin:
    message: Message
    pinned_by: str
    pinned_at: datetime


@dataclass(frozen=True, slots=True)
class Bookmark:
    message: Message
    note: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Version:
    version: int
    text: str
    written_at: datetime
    replaced_at: datetime


@dataclass(frozen=True, slots=True)
class Team:
    id: str
    org: str
    name: str
    created_by: str
    created_at: datetime
    members: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Task:
    id: str
    org: str
    channel_id: str
    message_id: str
    message_seq: int
    title: str
    assignee: str | None
    due_at: datetime | None
    created_by: str
    created_at: datetime
    completed_at: datetime | None = None
    completed_by: str | None = None


@dataclass(frozen=True, slots=True)
class Mention:
    channel_id: str
    seq: int
    message_id: str


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


def task_data(t: Task) -> dict[str, Any]:
    """The payload of task events (channel log and the tasks topic)."""
    return {
        "id": t.id,
        "channel_id": t.channel_id,
        "message_id": t.message_id,
        "message_seq": t.message_seq,
        "title": t.title,
        "assignee": t.assignee,
        "due_at": None if t.due_at is None else codec.rfc3339(t.due_at),
        "created_by": t.created_by,
        "created_at": codec.rfc3339(t.created_at),
        "completed_at": None if t.completed_at is None else codec.rfc3339(t.completed_at),
        "completed_by": t.completed_by,
    }


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


def snapshot(shared: dict[str, Any]) -> dict[str, Any]:
    """A share as every reader may see it: the text snapshot without the link."""
    return {k: shared.get(k) for k in ("author", "text", "created_at")}
