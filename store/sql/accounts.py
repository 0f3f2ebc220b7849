"""Accounts: the archive of what a user wrote (export), and erasing it (deletion).

A deletion is recorded first (:func:`mark_deleted`: tokens are refused from then on),
then erased in bounded steps (:func:`erase_step`), each its own write, so one big account
never holds the writer for long; :func:`finish` records that nothing is left. Messages are
tombstoned by :func:`parley.store.sql.edits.delete_message`, the one redaction (text,
versions, reactions, pins, mentions, previews, the channel log and share snapshots)."""

from __future__ import annotations

from typing import Any

from parley.core.times import rfc3339
from parley.store import codec
from parley.store.db import Db
from parley.store.sql.edits import delete_message
from parley.store.sql.files import ATTACHMENT_COLS, attachment_from_row
from parley.store.sql.members import remove_member
from parley.store.sql.reactions import set_reaction
from parley.store.writetx import WriteTx


def tombstone(tx: WriteTx, org: str, channel_id: str, message_id: str, *, actor: str) -> list[str]:
    """Delete a message as its author would, and its files; return their blob keys (to
    delete once the transaction has committed)."""
    delete_message(tx, org, channel_id, message_id, actor=actor)
    rows = tx.db.all(
        "DELETE FROM attachments WHERE org = ? AND message_id = ? RETURNING blob_key",
        (org, message_id),
    )
    return [r[0] for r in rows]


# -- deletion ------------------------------------------------------------------------------


def mark_deleted(tx: WriteTx, org: str, user_id: str, *, actor: str) -> bool:
    """Record the deletion (idempotent); whether it is new."""
    codec.check_text(user_id, actor)
    return (
        tx.db.run(
            "INSERT INTO deleted_accounts (org, user_id, actor, deleted_at_us, completed_at_us)"
            " VALUES (?, ?, ?, ?, NULL) ON CONFLICT DO NOTHING",
            (org, user_id, actor, codec.now_us()),
        )
        > 0
    )


def deleted_accounts(db: Db) -> set[tuple[str, str]]:
    """(org, user id) of every deleted account."""
    return {(r[0], r[1]) for r in db.all("SELECT org, user_id FROM deleted_accounts")}


def is_deleted(db: Db, org: str, user_id: str) -> bool:
    row = db.one("SELECT 1 FROM deleted_accounts WHERE org = ? AND user_id = ?", (org, user_id))
    return row is not None


def unfinished(db: Db) -> list[tuple[str, str, str]]:
    """(org, user id, actor) of deletions not yet completed (interrupted)."""
    rows = db.all(
        "SELECT org, user_id, actor FROM deleted_accounts WHERE completed_at_us IS NULL"
        " ORDER BY deleted_at_us"
    )
    return [(r[0], r[1], r[2]) for r in rows]


def erase_step(
    tx: WriteTx, org: str, user_id: str, *, actor: str, limit: int
) -> tuple[bool, dict[str, int], list[str]]:
    """Erase the next part of the account: up to ``limit`` messages (tombstoned), else
    reactions (each a ``reaction_removed`` event), else memberships (``member_removed``:
    the broker stops delivering at once), else the rest in one go (bookmarks, profile,
    read positions, mentions, team memberships, blocks, unposted uploads). Return whether
    it is all erased, what this step erased, and blob keys to delete after the commit."""
    db = tx.db
    rows = db.all(
        "SELECT channel_id, id FROM messages WHERE org = ? AND author = ? AND deleted = FALSE"
        " ORDER BY channel_id, seq LIMIT ?",
        (org, user_id, limit),
    )
    if rows:
        keys: list[str] = []
        for channel_id, message_id in rows:
            keys += tombstone(tx, org, channel_id, message_id, actor=actor)
        return False, {"messages": len(rows), "files": len(keys)}, keys
    rows = db.all(
        "SELECT channel_id, message_id, emoji FROM reactions WHERE org = ? AND user_id = ?"
        " ORDER BY channel_id, message_id, emoji LIMIT ?",
        (org, user_id, limit),
    )
    if rows:
        for channel_id, message_id, emoji in rows:
            set_reaction(tx, org, channel_id, message_id, user_id, emoji, on=False)
        return False, {"reactions": len(rows)}, []
    rows = db.all(
        "SELECT channel_id FROM members WHERE org = ? AND user_id = ? ORDER BY channel_id LIMIT ?",
        (org, user_id, limit),
    )
    if rows:
        for (channel_id,) in rows:
            remove_member(tx, org, channel_id, user_id, actor=actor)
        return False, {"channels": len(rows)}, []
    counts: dict[str, int] = {}
    for table, column, what in (
        ("bookmarks", "user_id", "bookmarks"),
        ("profiles", "user_id", "profile"),
        ("thread_reads", "user_id", "thread_reads"),
        ("mentions", "user_id", "mentions"),
        ("team_members", "user_id", "teams"),
        ("blocks", "blocker", "blocks"),
        # docs/automation.md: what waits to be sent or to fire (their jobs then do nothing)
        ("scheduled_messages", "author", "scheduled_messages"),
        ("reminders", "user_id", "reminders"),
        ("bots", "user_id", "bot"),
    ):
        counts[what] = db.run(f"DELETE FROM {table} WHERE org = ? AND {column} = ?", (org, user_id))
    files = db.all(
        "DELETE FROM attachments WHERE org = ? AND uploader = ? RETURNING blob_key",
        (org, user_id),
    )
    counts["files"] = len(files)
    return True, counts, [r[0] for r in files]


def finish(tx: WriteTx, org: str, user_id: str) -> None:
    tx.db.send(
        "UPDATE deleted_accounts SET completed_at_us = ? WHERE org = ? AND user_id = ?",
        (codec.now_us(), org, user_id),
    )


# -- export --------------------------------------------------------------------------------


def export(db: Db, org: str, user_id: str) -> dict[str, Any]:
    """Everything of the user's, as JSON-ready data (one read snapshot): profile,
    memberships, messages (live ones, with their thread), uploads (metadata), reactions,
    bookmarks, blocks, scheduled messages and reminders."""
    profile = db.one(
        f"SELECT {codec.PROFILE_COLS} FROM profiles p WHERE p.org = ? AND p.user_id = ?",
        (org, user_id),
    )
    p = None if profile is None else codec.profile(profile)
    channels = db.all(
        f"SELECT {codec.MEMBER_COLS}, c.kind, c.name FROM members m JOIN channels c"
        " ON c.org = m.org AND c.id = m.channel_id WHERE m.org = ? AND m.user_id = ?"
        " ORDER BY m.joined_at_us, m.channel_id",
        (org, user_id),
    )
    messages = db.all(
        f"SELECT {codec.MESSAGE_COLS}, x.thread_root FROM messages m LEFT JOIN message_meta x"
        " ON x.org = m.org AND x.message_id = m.id"
        " WHERE m.org = ? AND m.author = ? AND m.deleted = FALSE ORDER BY m.created_at_us, m.id",
        (org, user_id),
    )
    files = db.all(
        f"SELECT {ATTACHMENT_COLS} FROM attachments a WHERE a.org = ? AND a.uploader = ?"
        " ORDER BY a.created_at_us, a.id",
        (org, user_id),
    )
    reactions = db.all(
        "SELECT channel_id, message_id, emoji, created_at_us FROM reactions"
        " WHERE org = ? AND user_id = ? ORDER BY created_at_us, message_id, emoji",
        (org, user_id),
    )
    bookmarks = db.all(
        "SELECT channel_id, message_id, note, created_at_us FROM bookmarks"
        " WHERE org = ? AND user_id = ? ORDER BY created_at_us, message_id",
        (org, user_id),
    )
    blocks = db.all(
        "SELECT blocked, created_at_us FROM blocks WHERE org = ? AND blocker = ?"
        " ORDER BY created_at_us, blocked",
        (org, user_id),
    )
    scheduled = db.all(
        "SELECT id, channel_id, text, send_at_us, state, message_id FROM scheduled_messages"
        " WHERE org = ? AND author = ? ORDER BY send_at_us, id",
        (org, user_id),
    )
    reminders = db.all(
        "SELECT id, kind, channel_id, message_id, task_id, note, remind_at_us, state"
        " FROM reminders WHERE org = ? AND user_id = ? ORDER BY remind_at_us, id",
        (org, user_id),
    )

    def at(us: Any) -> str:
        return rfc3339(codec.from_us(int(us)))

    return {
        "org": org,
        "user_id": user_id,
        "profile": None
        if p is None
        else {"display_name": p.display_name, "avatar_url": p.avatar_url},
        "channels": [
            {
                "channel_id": r[0],
                "kind": r[5],
                "name": r[6],
                "role": r[2],
                "joined_at": at(r[3]),
            }
            for r in channels
        ],
        "messages": [
            {**codec.message_data(codec.message(r)), "thread_root": r[10]} for r in messages
        ],
        "files": [
            {**attachment_from_row(r).public(), "download": f"/v1/files/{r[0]}/content"}
            for r in files
        ],
        "reactions": [
            {"channel_id": r[0], "message_id": r[1], "emoji": r[2], "created_at": at(r[3])}
            for r in reactions
        ],
        "bookmarks": [
            {"channel_id": r[0], "message_id": r[1], "note": r[2], "created_at": at(r[3])}
            for r in bookmarks
        ],
        "blocks": [{"user_id": r[0], "blocked_at": at(r[1])} for r in blocks],
        "scheduled_messages": [
            {
                "id": r[0],
                "channel_id": r[1],
                "text": r[2],
                "send_at": at(r[3]),
                "state": r[4],
                "message_id": r[5],
            }
            for r in scheduled
        ],
        "reminders": [
            {
                "id": r[0],
                "kind": r[1],
                "channel_id": r[2],
                "message_id": r[3],
                "task_id": r[4],
                "note": r[5],
                "remind_at": at(r[6]),
                "state": r[7],
            }
            for r in reminders
        ],
    }
