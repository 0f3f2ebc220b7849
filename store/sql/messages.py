"""Messages: :func:`post`, the one way a message gets into the store (every kind of post),
and reading them back."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from outcome import Error, Outcome, Value

from parley.core.events import EventName
from parley.core.limits import MAX_FILES_PER_MESSAGE
from parley.core.records import (
    Attachment,
    ChannelKind,
    Draft,
    Message,
    MessageMeta,
    PostResult,
    Role,
    snapshot,
)
from parley.store import codec
from parley.store.db import Db
from parley.store.errors import Conflict, NotFound
from parley.store.ids import new_id
from parley.store.sql.files import ATTACHMENT_COLS, attachment_from_row
from parley.store.sql.log import append_event
from parley.store.writetx import WriteTx


def message_row(db: Db, org: str, channel_id: str, message_id: str) -> Message | None:
    row = db.one(
        f"SELECT {codec.MESSAGE_COLS} FROM messages m"
        " WHERE m.org = ? AND m.id = ? AND m.channel_id = ?",
        (org, message_id, channel_id),
    )
    return None if row is None else codec.message(row)


def live_message(db: Db, org: str, channel_id: str, message_id: str) -> Message:
    msg = message_row(db, org, channel_id, message_id)
    if msg is None or msg.deleted:
        raise NotFound("no such message")
    return msg


def thread_root_of(db: Db, org: str, message_id: str) -> str | None:
    row = db.one(
        "SELECT thread_root FROM message_meta WHERE org = ? AND message_id = ?", (org, message_id)
    )
    return None if row is None else row[0]


def find_repeat(
    tx: WriteTx, org: str, channel_id: str, author: str, idempotency_key: str
) -> PostResult | None:
    """The message an earlier post with this key stored, as an idempotent repeat (call
    with the channel row locked)."""
    row = tx.db.one(
        f"SELECT {codec.MESSAGE_COLS} FROM messages m WHERE m.org = ?"
        " AND m.channel_id = ? AND m.author = ? AND m.idempotency_key = ?",
        (org, channel_id, author, idempotency_key),
    )
    return None if row is None else PostResult(codec.message(row), event=None, created=False)


def _insert_message(
    tx: WriteTx,
    org: str,
    channel_id: str,
    *,
    author: str,
    text: str,
    idempotency_key: str | None = None,
    files_text: str = "",
) -> tuple[Message, int]:
    """Take the channel's next seq and write the message row (every kind of post goes
    through here); return the message and its time in microseconds."""
    now = codec.now_us()
    seq = tx.next_seq(org, channel_id, activity_us=now)
    msg = Message(
        id=new_id("msg"),
        org=org,
        channel_id=channel_id,
        seq=seq,
        author=author,
        text=text,
        created_at=codec.from_us(now),
        idempotency_key=idempotency_key,
    )
    tx.db.defer(
        "INSERT INTO messages (org, channel_id, seq, id, author, text, created_at_us,"
        " idempotency_key, files_text) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (org, channel_id, seq, msg.id, author, text, now, idempotency_key, files_text),
    )
    return msg, now


def get_message(db: Db, org: str, channel_id: str, message_id: str) -> Message | None:
    row = db.one(
        f"SELECT {codec.MESSAGE_COLS} FROM messages m"
        " WHERE m.org = ? AND m.id = ? AND m.channel_id = ?",
        (org, message_id, channel_id),
    )
    return None if row is None else codec.message(row)


def list_messages(
    db: Db,
    org: str,
    channel_id: str,
    *,
    before: int | None = None,
    after: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 50,
) -> list[Message]:
    """Messages by seq. With ``after``: ascending from after+1. Otherwise descending
    (newest first) below ``before``. ``since``/``until`` bound created_at (inclusive)."""
    if limit <= 0:
        return []
    where = "m.org = ? AND m.channel_id = ?"
    params: list[Any] = [org, channel_id]
    if after is not None:
        where += " AND m.seq > ?"
        params.append(codec.i64(after))
    if before is not None:
        where += " AND m.seq < ?"
        params.append(codec.i64(before))
    if since is not None:
        where += " AND m.created_at_us >= ?"
        params.append(codec.to_us(since))
    if until is not None:
        where += " AND m.created_at_us <= ?"
        params.append(codec.to_us(until))
    order = "ASC" if after is not None else "DESC"
    rows = db.all(
        f"SELECT {codec.MESSAGE_COLS} FROM messages m WHERE {where} ORDER BY m.seq {order} LIMIT ?",
        (*params, codec.limit_of(limit)),
    )
    return [codec.message(row) for row in rows]


def message_metas(db: Db, org: str, message_ids: Sequence[str]) -> dict[str, MessageMeta]:
    if not message_ids:
        return {}
    rows = db.all(
        "SELECT message_id, thread_root, also_in_channel, shared FROM message_meta"
        f" WHERE org = ? AND message_id IN ({codec.placeholders(len(message_ids))})",
        (org, *message_ids),
    )
    return {
        r[0]: MessageMeta(r[1], bool(r[2]), None if r[3] is None else codec.loads(r[3]))
        for r in rows
    }


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


#: Called inside the post's write transaction with the channel's kind and the author's
#: role there (``None``: not a member); raises (any exception, passed to the caller as
#: is) to refuse the post. The domain's access policy decides; the store only asks.
Authorize = Callable[[ChannelKind, Role | None], None]

#: The channel's kind, the author's role (NULL: not a member) and, with the idempotency
#: key as first parameter, the message an earlier post with that key stored: one statement.
_ACCESS_SQL = (
    "SELECT c.kind, mb.role FROM channels c"
    " LEFT JOIN members mb ON mb.org = c.org AND mb.channel_id = c.id AND mb.user_id = ?"
    " WHERE c.org = ? AND c.id = ?"
)
_ACCESS_AND_KEY_SQL = (
    f"SELECT c.kind, mb.role, {codec.MESSAGE_COLS} FROM channels c"
    " LEFT JOIN members mb ON mb.org = c.org AND mb.channel_id = c.id AND mb.user_id = ?"
    " LEFT JOIN messages m ON m.org = c.org AND m.channel_id = c.id"
    " AND m.author = ? AND m.idempotency_key = ?"
    " WHERE c.org = ? AND c.id = ?"
)


def post(tx: WriteTx, draft: Draft, *, authorize: Authorize) -> PostResult:
    """Post ``draft``, checked in the same transaction: NotFound if there is no such
    channel in the org; then ``authorize(kind, role)`` (which raises to refuse); then an
    idempotent repeat returns the original (``created=False``); then a reply's thread
    root must be a live message of the channel (NotFound) and the files the author's
    unposted uploads to this channel (NotFound / Conflict). One ``message_posted``
    event, whose data adds ``thread_root``, ``also_in_channel`` and the share's snapshot
    (without its link: readers differ in what they may open) for replies and shares, and
    the attachments for file messages."""
    org, channel_id, author, key = draft.org, draft.channel_id, draft.author, draft.idempotency_key
    codec.check_text(draft.text, key)
    db = tx.db
    # Lock the channel row first (once per batch): membership changes lock it too, so the
    # membership read next holds until this transaction commits, on any node.
    tx.last_seq(org, channel_id)
    if key is None:
        row = db.one(_ACCESS_SQL, (author, org, channel_id))
    else:
        row = db.one(_ACCESS_AND_KEY_SQL, (author, author, key, org, channel_id))
    if row is None:
        raise NotFound(f"channel {channel_id}")
    authorize(ChannelKind(row[0]), None if row[1] is None else Role(row[1]))
    if key is not None and row[2] is not None:
        return PostResult(message=codec.message(row[2:]), event=None, created=False)
    thread_root = draft.thread_root
    if thread_root is not None:
        root = live_message(db, org, channel_id, thread_root)
        thread_root = thread_root_of(db, org, root.id) or root.id  # a reply's thread
    files = _unposted_files(tx, draft) if draft.file_ids else []
    msg, now = _insert_message(
        tx,
        org,
        channel_id,
        author=author,
        text=draft.text,
        idempotency_key=key,
        files_text=" ".join(f.name for f in files),
    )
    data = codec.message_data(msg)
    also = draft.also_in_channel and thread_root is not None
    if thread_root is not None or draft.shared is not None:
        db.send(
            "INSERT INTO message_meta (org, message_id, channel_id, seq, thread_root,"
            " also_in_channel, shared, shared_message_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                org,
                msg.id,
                channel_id,
                msg.seq,
                thread_root,
                also,
                None if draft.shared is None else codec.dumps(draft.shared),
                None if draft.shared is None else draft.shared.get("message_id"),
            ),
        )
        data["thread_root"] = thread_root
        data["also_in_channel"] = also
        data["shared"] = None if draft.shared is None else snapshot(draft.shared)
    posted: list[Attachment] = []
    for f in files:
        db.send(
            "UPDATE attachments SET message_id = ? WHERE org = ? AND id = ?",
            (msg.id, org, f.id),
        )
        posted.append(replace(f, message_id=msg.id))
    if files:
        data["attachments"] = [f.public() for f in posted]
    event = append_event(
        tx,
        org,
        channel_id,
        msg.seq,
        EventName.MESSAGE_POSTED,
        data,
        now,
        author,
        msg.created_at,
        message_id=msg.id,
    )
    return PostResult(message=msg, event=event, created=True, attachments=tuple(posted))


def post_plain_many(
    tx: WriteTx, drafts: Sequence[Draft], *, authorize: Authorize
) -> list[Outcome[PostResult]]:
    """:func:`post_plain` with one policy for every draft (a connection's pipelined posts)."""
    return post_plain(tx, [(d, authorize) for d in drafts])


def post_plain(tx: WriteTx, items: Sequence[tuple[Draft, Authorize]]) -> list[Outcome[PostResult]]:
    """Plain posts (no thread, files or share; any orgs and authors), in order, each with
    exactly :func:`post`'s checks and answer, but read and written in bulk: per org one
    access read and one idempotency read for all of them, and each table's rows inserted
    with one statement (``defer``). A refused draft is an ``Error`` outcome and writes
    nothing; the others go on. Raises (failing them all) only for a database error. The
    group-commit writer runs neighbouring plain posts of a batch through this."""
    if any(d.thread_root or d.file_ids or d.shared is not None for d, _ in items):
        raise ValueError("post_plain takes plain posts only")
    db = tx.db
    access: dict[tuple[str, str], ChannelKind] = {}  # (org, channel) -> kind
    roles: dict[tuple[str, str, str], Role] = {}  # (org, channel, user) -> role
    repeats: dict[tuple[str, str, str, str], Message] = {}  # (org, channel, author, key)
    by_org: dict[str, list[Draft]] = {}
    for d, _ in items:
        by_org.setdefault(d.org, []).append(d)
    for org, drafts in by_org.items():
        present: list[str] = []
        for channel_id in dict.fromkeys(d.channel_id for d in drafts):
            try:
                tx.last_seq(org, channel_id)  # lock the channel row (once per batch)
                present.append(channel_id)
            except NotFound:
                pass
        if not present:
            continue
        authors = list(dict.fromkeys(d.author for d in drafts))
        chans = ", ".join("?" * len(present))
        users = ", ".join("?" * len(authors))
        for channel_id, kind, user_id, role in db.all(
            "SELECT c.id, c.kind, mb.user_id, mb.role FROM channels c"
            " LEFT JOIN members mb ON mb.org = c.org AND mb.channel_id = c.id"
            f" AND mb.user_id IN ({users}) WHERE c.org = ? AND c.id IN ({chans})",
            (*authors, org, *present),
        ):
            access[(org, channel_id)] = ChannelKind(kind)
            if user_id is not None:
                roles[(org, channel_id, user_id)] = Role(role)
        keys = list(dict.fromkeys(d.idempotency_key for d in drafts if d.idempotency_key))
        if keys:
            for row in db.all(
                f"SELECT {codec.MESSAGE_COLS} FROM messages m WHERE m.org = ?"
                f" AND m.channel_id IN ({chans}) AND m.author IN ({users})"
                f" AND m.idempotency_key IN ({', '.join('?' * len(keys))})",
                (org, *present, *authors, *keys),
            ):
                found = codec.message(row)
                assert found.idempotency_key is not None
                repeats[(org, found.channel_id, found.author, found.idempotency_key)] = found
    results: list[Outcome[PostResult]] = []
    for draft, authorize in items:
        org, channel_id, author, key = (
            draft.org,
            draft.channel_id,
            draft.author,
            draft.idempotency_key,
        )
        try:
            codec.check_text(draft.text, key)
            kind = access.get((org, channel_id))
            if kind is None:
                raise NotFound(f"channel {channel_id}")
            authorize(kind, roles.get((org, channel_id, author)))
        except Exception as exc:
            results.append(Error(exc))
            continue
        earlier = None if key is None else repeats.get((org, channel_id, author, key))
        if earlier is not None:
            results.append(Value(PostResult(message=earlier, event=None, created=False)))
            continue
        msg, now = _insert_message(
            tx, org, channel_id, author=author, text=draft.text, idempotency_key=key
        )
        if key is not None:
            repeats[(org, channel_id, author, key)] = msg
        event = append_event(
            tx,
            org,
            channel_id,
            msg.seq,
            EventName.MESSAGE_POSTED,
            codec.message_data(msg),
            now,
            author,
            msg.created_at,
            message_id=msg.id,
        )
        results.append(Value(PostResult(message=msg, event=event, created=True)))
    return results


def _unposted_files(tx: WriteTx, draft: Draft) -> list[Attachment]:
    ids = list(dict.fromkeys(draft.file_ids))
    if not 0 < len(ids) <= MAX_FILES_PER_MESSAGE:
        raise ValueError(f"a message carries 1 to {MAX_FILES_PER_MESSAGE} files")
    db = tx.db
    files: list[Attachment] = []
    for fid in ids:
        row = db.one(
            f"SELECT {ATTACHMENT_COLS} FROM attachments a WHERE a.org = ? AND a.id = ?"
            f" AND a.channel_id = ? AND a.uploader = ?{db.for_update}",
            (draft.org, fid, draft.channel_id, draft.author),
        )
        if row is None:
            raise NotFound(f"file {fid}")
        att = attachment_from_row(row)
        if att.message_id is not None:
            raise Conflict(f"file {fid} is already posted")
        files.append(att)
    return files
