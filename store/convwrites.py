"""Write transactions of the conversation features, run by the group-commit writer.

Every log write takes the channel's next seq in its own transaction (``tx.next_seq``), so
the commit listener publishes it in seq order. Message text is edited in place in
``messages.text`` (full-text search indexes it there); earlier versions go to
``message_versions``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from parley.core.events import EventName
from parley.core.records import (
    Bookmark,
    ChannelEvent,
    Message,
    PostResult,
    Task,
    Team,
    snapshot,
    task_data,
)
from parley.store import codec
from parley.store.convmodels import TASK_COLS, _live_message, _message_row, _task, _thread_root_of
from parley.store.errors import Conflict, NotFound
from parley.store.ids import new_id
from parley.store.writes import append_event, find_repeat, insert_message
from parley.store.writetx import WriteTx

# -- writes -------------------------------------------------------------------------------


def post_message(
    tx: WriteTx,
    *,
    org: str,
    channel_id: str,
    author: str,
    text: str,
    idempotency_key: str | None,
    thread_root: str | None,
    also_in_channel: bool,
    shared: dict[str, Any] | None,
) -> PostResult:
    """A message with conversation metadata (thread reply and/or share): one
    ``message_posted`` event whose data adds ``thread_root``, ``also_in_channel`` and the
    share's snapshot (without its link: readers differ in what they may open)."""
    codec.check_text(text, idempotency_key)
    db = tx.db
    tx.last_seq(org, channel_id)  # NotFound; locks the channel
    if idempotency_key is not None:
        repeat = find_repeat(tx, org, channel_id, author, idempotency_key)
        if repeat is not None:
            return repeat
    if thread_root is not None:
        root = _live_message(db, org, channel_id, thread_root)
        thread_root = _thread_root_of(db, org, root.id) or root.id  # a reply's thread
    msg, now = insert_message(
        tx, org, channel_id, author=author, text=text, idempotency_key=idempotency_key
    )
    seq = msg.seq
    db.send(
        "INSERT INTO message_meta (org, message_id, channel_id, seq, thread_root,"
        " also_in_channel, shared) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            org,
            msg.id,
            channel_id,
            seq,
            thread_root,
            also_in_channel and thread_root is not None,
            None if shared is None else codec.dumps(shared),
        ),
    )
    data = codec.message_data(msg)
    data["thread_root"] = thread_root
    data["also_in_channel"] = also_in_channel and thread_root is not None
    data["shared"] = None if shared is None else snapshot(shared)
    event = append_event(
        tx, org, channel_id, seq, EventName.MESSAGE_POSTED, data, now, author, msg.created_at
    )
    return PostResult(message=msg, event=event, created=True)


def edit_message(
    tx: WriteTx, *, org: str, channel_id: str, message_id: str, text: str, actor: str
) -> tuple[Message, ChannelEvent]:
    codec.check_text(text)
    db = tx.db
    tx.last_seq(org, channel_id)
    msg = _live_message(db, org, channel_id, message_id)
    now = codec.now_us()
    row = db.one(
        "SELECT COALESCE(MAX(version), 0) FROM message_versions WHERE org = ? AND message_id = ?",
        (org, message_id),
    )
    version = (0 if row is None else int(row[0])) + 1
    written = msg.edited_at or msg.created_at
    db.send(
        "INSERT INTO message_versions (org, message_id, version, text, written_at_us,"
        " replaced_at_us) VALUES (?, ?, ?, ?, ?, ?)",
        (org, message_id, version, msg.text, codec.to_us(written), now),
    )
    db.send(
        "UPDATE messages SET text = ?, edited_at_us = ? WHERE org = ? AND id = ?",
        (text, now, org, message_id),
    )
    seq = tx.next_seq(org, channel_id, activity_us=None)
    edited = Message(
        id=msg.id,
        org=org,
        channel_id=channel_id,
        seq=msg.seq,
        author=msg.author,
        text=text,
        created_at=msg.created_at,
        edited_at=codec.from_us(now),
        idempotency_key=msg.idempotency_key,
    )
    data = codec.message_data(edited)
    data["version"] = version + 1
    event = append_event(tx, org, channel_id, seq, EventName.MESSAGE_EDITED, data, now, actor)
    return edited, event


def delete_message(
    tx: WriteTx, *, org: str, channel_id: str, message_id: str, actor: str
) -> ChannelEvent | None:
    """Tombstone: no text, no history, no reactions or pins. ``None`` if already deleted."""
    db = tx.db
    tx.last_seq(org, channel_id)
    msg = _message_row(db, org, channel_id, message_id)
    if msg is None:
        raise NotFound("no such message")
    if msg.deleted:
        return None
    now = codec.now_us()
    db.send(
        "UPDATE messages SET text = '', deleted = TRUE WHERE org = ? AND id = ?",
        (org, message_id),
    )
    for table in ("message_versions", "reactions", "pins", "mentions"):
        db.send(f"DELETE FROM {table} WHERE org = ? AND message_id = ?", (org, message_id))
    seq = tx.next_seq(org, channel_id, activity_us=None)
    data = {"id": msg.id, "channel_id": channel_id, "seq": msg.seq, "actor": actor}
    return append_event(tx, org, channel_id, seq, EventName.MESSAGE_DELETED, data, now, actor)


def set_reaction(
    tx: WriteTx,
    *,
    org: str,
    channel_id: str,
    message_id: str,
    user_id: str,
    emoji: str,
    on: bool,
) -> ChannelEvent | None:
    """Add (``on``) or remove one user's reaction; ``None`` when nothing changed."""
    codec.check_text(emoji)
    db = tx.db
    tx.last_seq(org, channel_id)
    msg = _live_message(db, org, channel_id, message_id)
    now = codec.now_us()
    if on:
        changed = db.run(
            "INSERT INTO reactions (org, channel_id, message_id, emoji, user_id, created_at_us)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (org, channel_id, message_id, emoji, user_id, now),
        )
    else:
        changed = db.run(
            "DELETE FROM reactions WHERE org = ? AND message_id = ? AND emoji = ? AND user_id = ?",
            (org, message_id, emoji, user_id),
        )
    if changed == 0:
        return None
    row = db.one(
        "SELECT COUNT(*) FROM reactions WHERE org = ? AND message_id = ? AND emoji = ?",
        (org, message_id, emoji),
    )
    seq = tx.next_seq(org, channel_id, activity_us=None)
    name = EventName.REACTION_ADDED if on else EventName.REACTION_REMOVED
    data = {
        "message_id": message_id,
        "message_seq": msg.seq,
        "emoji": emoji,
        "user_id": user_id,
        "count": 0 if row is None else int(row[0]),
    }
    return append_event(tx, org, channel_id, seq, name, data, now, user_id)


def set_pin(
    tx: WriteTx, *, org: str, channel_id: str, message_id: str, user_id: str, on: bool
) -> ChannelEvent | None:
    db = tx.db
    tx.last_seq(org, channel_id)
    msg = _live_message(db, org, channel_id, message_id)
    now = codec.now_us()
    if on:
        changed = db.run(
            "INSERT INTO pins (org, channel_id, message_id, pinned_by, pinned_at_us)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (org, channel_id, message_id, user_id, now),
        )
    else:
        changed = db.run(
            "DELETE FROM pins WHERE org = ? AND channel_id = ? AND message_id = ?",
            (org, channel_id, message_id),
        )
    if changed == 0:
        return None
    seq = tx.next_seq(org, channel_id, activity_us=None)
    name = EventName.MESSAGE_PINNED if on else EventName.MESSAGE_UNPINNED
    data = {"message_id": message_id, "message_seq": msg.seq, "user_id": user_id}
    return append_event(tx, org, channel_id, seq, name, data, now, user_id)


def set_bookmark(
    tx: WriteTx, *, org: str, user_id: str, channel_id: str, message_id: str, note: str | None
) -> Bookmark:
    codec.check_text(note)
    db = tx.db
    msg = _live_message(db, org, channel_id, message_id)
    now = codec.now_us()
    db.send(
        "INSERT INTO bookmarks (org, user_id, message_id, channel_id, note, created_at_us)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (org, user_id, message_id) DO UPDATE SET"
        " note = excluded.note",
        (org, user_id, message_id, channel_id, note, now),
    )
    row = db.one(
        "SELECT note, created_at_us FROM bookmarks WHERE org = ? AND user_id = ?"
        " AND message_id = ?",
        (org, user_id, message_id),
    )
    assert row is not None
    return Bookmark(message=msg, note=row[0], created_at=codec.from_us(row[1]))


def delete_bookmark(tx: WriteTx, *, org: str, user_id: str, message_id: str) -> bool:
    return (
        tx.db.run(
            "DELETE FROM bookmarks WHERE org = ? AND user_id = ? AND message_id = ?",
            (org, user_id, message_id),
        )
        > 0
    )


def mark_thread_read(
    tx: WriteTx, *, org: str, channel_id: str, root_id: str, user_id: str, seq: int
) -> int:
    """Forward only; returns the position in force."""
    db = tx.db
    _live_message(db, org, channel_id, root_id)
    seq = min(codec.i64(seq), tx.last_seq(org, channel_id))
    db.send(
        "INSERT INTO thread_reads (org, root_id, user_id, read_seq) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (org, root_id, user_id) DO UPDATE SET read_seq = excluded.read_seq"
        " WHERE thread_reads.read_seq < excluded.read_seq",
        (org, root_id, user_id, codec.i64(seq)),
    )
    row = db.one(
        "SELECT read_seq FROM thread_reads WHERE org = ? AND root_id = ? AND user_id = ?",
        (org, root_id, user_id),
    )
    return 0 if row is None else int(row[0])


def add_mentions(
    tx: WriteTx, *, org: str, channel_id: str, seq: int, message_id: str, users: Sequence[str]
) -> None:
    for user in users:
        tx.db.send(
            "INSERT INTO mentions (org, channel_id, seq, user_id, message_id)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (org, channel_id, seq, user, message_id),
        )


def create_team(
    tx: WriteTx, *, org: str, name: str, created_by: str, members: Sequence[str]
) -> Team:
    codec.check_text(name, *members)
    now = codec.now_us()
    team_id = new_id("team")
    inserted = tx.db.run(
        "INSERT INTO teams (org, id, name, created_by, created_at_us) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT DO NOTHING",
        (org, team_id, name, created_by, now),
    )
    if inserted == 0:
        raise Conflict(f"a team named {name!r} exists already")
    users = list(dict.fromkeys(members))
    for user in users:
        tx.db.send(
            "INSERT INTO team_members (org, team_id, user_id, added_at_us) VALUES (?, ?, ?, ?)",
            (org, team_id, user, now),
        )
    return Team(team_id, org, name, created_by, codec.from_us(now), sorted(users))


def set_team_member(tx: WriteTx, *, org: str, team_id: str, user_id: str, on: bool) -> bool:
    codec.check_text(user_id)
    if tx.db.one("SELECT 1 FROM teams WHERE org = ? AND id = ?", (org, team_id)) is None:
        raise NotFound("no such team")
    if on:
        n = tx.db.run(
            "INSERT INTO team_members (org, team_id, user_id, added_at_us) VALUES (?, ?, ?, ?)"
            " ON CONFLICT DO NOTHING",
            (org, team_id, user_id, codec.now_us()),
        )
    else:
        n = tx.db.run(
            "DELETE FROM team_members WHERE org = ? AND team_id = ? AND user_id = ?",
            (org, team_id, user_id),
        )
    return n > 0


def create_task(
    tx: WriteTx,
    *,
    org: str,
    channel_id: str,
    message_id: str,
    title: str,
    assignee: str | None,
    due_at: datetime | None,
    created_by: str,
) -> tuple[Task, ChannelEvent]:
    codec.check_text(title, assignee)
    tx.last_seq(org, channel_id)
    msg = _live_message(tx.db, org, channel_id, message_id)
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
    tx: WriteTx, *, org: str, task_id: str, user_id: str
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
