"""Read queries of the conversation features, run on a read connection."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from parley.core.records import (
    Bookmark,
    Mention,
    Message,
    MessageMeta,
    Pin,
    ReactionCount,
    Task,
    Team,
    ThreadSummary,
    Version,
)
from parley.store import codec
from parley.store.convmodels import TASK_COLS, _in, _task
from parley.store.db import Db

# -- reads --------------------------------------------------------------------------------


def metas(db: Db, org: str, message_ids: Sequence[str]) -> dict[str, MessageMeta]:
    if not message_ids:
        return {}
    rows = db.all(
        "SELECT message_id, thread_root, also_in_channel, shared FROM message_meta"
        f" WHERE org = ? AND message_id IN ({_in(len(message_ids))})",
        (org, *message_ids),
    )
    return {
        r[0]: MessageMeta(r[1], bool(r[2]), None if r[3] is None else codec.loads(r[3]))
        for r in rows
    }


def thread_summaries(db: Db, org: str, root_ids: Sequence[str]) -> dict[str, ThreadSummary]:
    if not root_ids:
        return {}
    where = f"x.org = ? AND x.thread_root IN ({_in(len(root_ids))}) AND m.deleted = FALSE"
    join = "message_meta x JOIN messages m ON m.org = x.org AND m.id = x.message_id"
    rows = db.all(
        f"SELECT x.thread_root, COUNT(*), MAX(m.created_at_us) FROM {join} WHERE {where}"
        " GROUP BY x.thread_root",
        (org, *root_ids),
    )
    people = db.all(
        f"SELECT DISTINCT x.thread_root, m.author FROM {join} WHERE {where}",
        (org, *root_ids),
    )
    who: dict[str, list[str]] = {}
    for root, author in people:
        who.setdefault(root, []).append(author)
    return {
        r[0]: ThreadSummary(r[0], int(r[1]), codec.opt_from_us(r[2]), sorted(who.get(r[0], [])))
        for r in rows
    }


def reactions(
    db: Db, org: str, message_ids: Sequence[str], user_id: str
) -> dict[str, list[ReactionCount]]:
    if not message_ids:
        return {}
    rows = db.all(
        "SELECT message_id, emoji, COUNT(*),"
        " SUM(CASE WHEN user_id = ? THEN 1 ELSE 0 END), MIN(created_at_us) FROM reactions"
        f" WHERE org = ? AND message_id IN ({_in(len(message_ids))})"
        " GROUP BY message_id, emoji ORDER BY MIN(created_at_us), emoji",
        (user_id, org, *message_ids),
    )
    out: dict[str, list[ReactionCount]] = {}
    for mid, emoji, count, mine, _ in rows:
        out.setdefault(mid, []).append(ReactionCount(emoji, int(count), int(mine) > 0))
    return out


def pinned_ids(db: Db, org: str, channel_id: str, message_ids: Sequence[str]) -> set[str]:
    if not message_ids:
        return set()
    rows = db.all(
        "SELECT message_id FROM pins WHERE org = ? AND channel_id = ?"
        f" AND message_id IN ({_in(len(message_ids))})",
        (org, channel_id, *message_ids),
    )
    return {r[0] for r in rows}


def timeline(db: Db, org: str, channel_id: str, *, before: int | None, limit: int) -> list[Message]:
    """The channel view: thread roots, plain messages and replies also sent to the
    channel, newest first below ``before``."""
    where = "m.org = ? AND m.channel_id = ? AND (x.thread_root IS NULL OR x.also_in_channel)"
    params: list[Any] = [org, channel_id]
    if before is not None:
        where += " AND m.seq < ?"
        params.append(codec.i64(before))
    rows = db.all(
        f"SELECT {codec.MESSAGE_COLS} FROM messages m LEFT JOIN message_meta x"
        f" ON x.org = m.org AND x.message_id = m.id WHERE {where} ORDER BY m.seq DESC LIMIT ?",
        (*params, codec.limit_of(limit)),
    )
    return [codec.message(r) for r in rows]


def thread_replies(
    db: Db, org: str, channel_id: str, root_id: str, *, after: int, limit: int
) -> list[Message]:
    rows = db.all(
        f"SELECT {codec.MESSAGE_COLS} FROM message_meta x JOIN messages m"
        " ON m.org = x.org AND m.id = x.message_id"
        " WHERE x.org = ? AND x.thread_root = ? AND m.channel_id = ? AND m.seq > ?"
        " ORDER BY m.seq LIMIT ?",
        (org, root_id, channel_id, codec.i64(after), codec.limit_of(limit)),
    )
    return [codec.message(r) for r in rows]


def thread_unread(db: Db, org: str, root_ids: Sequence[str], user_id: str) -> dict[str, int]:
    """Replies (not deleted, not mine) after the user's thread read position."""
    if not root_ids:
        return {}
    rows = db.all(
        "SELECT x.thread_root, COUNT(*) FROM message_meta x JOIN messages m"
        " ON m.org = x.org AND m.id = x.message_id"
        " LEFT JOIN thread_reads r ON r.org = x.org AND r.root_id = x.thread_root"
        " AND r.user_id = ?"
        f" WHERE x.org = ? AND x.thread_root IN ({_in(len(root_ids))}) AND m.deleted = FALSE"
        " AND m.author <> ? AND m.seq > COALESCE(r.read_seq, 0) GROUP BY x.thread_root",
        (user_id, org, *root_ids, user_id),
    )
    return {r[0]: int(r[1]) for r in rows}


def channel_threads(db: Db, org: str, channel_id: str, *, limit: int) -> list[str]:
    """Root ids of the channel's threads, latest reply first."""
    rows = db.all(
        "SELECT x.thread_root, MAX(x.seq) FROM message_meta x"
        " WHERE x.org = ? AND x.channel_id = ? AND x.thread_root IS NOT NULL"
        " GROUP BY x.thread_root ORDER BY MAX(x.seq) DESC LIMIT ?",
        (org, channel_id, codec.limit_of(limit)),
    )
    return [r[0] for r in rows]


def list_pins(db: Db, org: str, channel_id: str) -> list[Pin]:
    rows = db.all(
        f"SELECT {codec.MESSAGE_COLS}, p.pinned_by, p.pinned_at_us FROM pins p JOIN messages m"
        " ON m.org = p.org AND m.id = p.message_id"
        " WHERE p.org = ? AND p.channel_id = ? AND m.deleted = FALSE"
        " ORDER BY p.pinned_at_us DESC, m.seq DESC",
        (org, channel_id),
    )
    return [Pin(codec.message(r), r[10], codec.from_us(r[11])) for r in rows]


def list_bookmarks(
    db: Db, org: str, user_id: str, *, limit: int, cursor: str | None
) -> tuple[list[Bookmark], str | None]:
    """Newest first; only messages of channels the user is a member of now, not deleted."""
    where = "b.org = ? AND b.user_id = ? AND m.deleted = FALSE"
    params: list[Any] = [org, user_id]
    if cursor is not None:
        at, after_id = codec.decode_cursor(cursor, int, str)
        where += " AND (b.created_at_us < ? OR (b.created_at_us = ? AND b.message_id < ?))"
        params += [at, at, after_id]
    rows = db.all(
        f"SELECT {codec.MESSAGE_COLS}, b.note, b.created_at_us FROM bookmarks b"
        " JOIN messages m ON m.org = b.org AND m.id = b.message_id"
        " JOIN members c ON c.org = b.org AND c.channel_id = m.channel_id AND c.user_id = b.user_id"
        f" WHERE {where} ORDER BY b.created_at_us DESC, b.message_id DESC LIMIT ?",
        (*params, codec.limit_of(limit) + 1),
    )
    items = [Bookmark(codec.message(r), r[10], codec.from_us(r[11])) for r in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = codec.encode_cursor(int(last[11]), last[0])
    return items, next_cursor


def versions(db: Db, org: str, message_id: str) -> list[Version]:
    rows = db.all(
        "SELECT version, text, written_at_us, replaced_at_us FROM message_versions"
        " WHERE org = ? AND message_id = ? ORDER BY version",
        (org, message_id),
    )
    return [Version(int(r[0]), r[1], codec.from_us(r[2]), codec.from_us(r[3])) for r in rows]


def mentions(db: Db, org: str, channel_id: str, user_id: str) -> tuple[int, list[Mention]]:
    """(unread mentions after the member's read position, the latest 50 mentions)."""
    row = db.one(
        "SELECT COUNT(*) FROM mentions x JOIN members r ON r.org = x.org"
        " AND r.channel_id = x.channel_id AND r.user_id = x.user_id"
        " WHERE x.org = ? AND x.channel_id = ? AND x.user_id = ? AND x.seq > r.read_seq",
        (org, channel_id, user_id),
    )
    rows = db.all(
        "SELECT channel_id, seq, message_id FROM mentions"
        " WHERE org = ? AND channel_id = ? AND user_id = ? ORDER BY seq DESC LIMIT 50",
        (org, channel_id, user_id),
    )
    return (0 if row is None else int(row[0])), [Mention(r[0], int(r[1]), r[2]) for r in rows]


def _team_members(db: Db, org: str, team_id: str) -> list[str]:
    rows = db.all(
        "SELECT user_id FROM team_members WHERE org = ? AND team_id = ? ORDER BY user_id",
        (org, team_id),
    )
    return [r[0] for r in rows]


def get_team(db: Db, org: str, team_id: str) -> Team | None:
    row = db.one(
        "SELECT id, org, name, created_by, created_at_us FROM teams WHERE org = ? AND id = ?",
        (org, team_id),
    )
    if row is None:
        return None
    return Team(
        row[0], row[1], row[2], row[3], codec.from_us(row[4]), _team_members(db, org, row[0])
    )


def list_teams(db: Db, org: str) -> list[Team]:
    rows = db.all(
        "SELECT id, org, name, created_by, created_at_us FROM teams WHERE org = ? ORDER BY name",
        (org,),
    )
    return [
        Team(r[0], r[1], r[2], r[3], codec.from_us(r[4]), _team_members(db, org, r[0]))
        for r in rows
    ]


def team_members_by_name(db: Db, org: str, names: Sequence[str]) -> dict[str, list[str]]:
    if not names:
        return {}
    rows = db.all(
        "SELECT t.name, tm.user_id FROM teams t LEFT JOIN team_members tm"
        " ON tm.org = t.org AND tm.team_id = t.id"
        f" WHERE t.org = ? AND t.name IN ({_in(len(names))})",
        (org, *names),
    )
    out: dict[str, list[str]] = {}
    for name, user in rows:
        users = out.setdefault(name, [])
        if user is not None:
            users.append(user)
    return out


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
