"""Notifications per recipient: the inbox, its read/seen/archived state, and the delivery
steps' claims (docs/notifications.md). Times are passed in (``now_us``) so the domain's
clock decides them, as it decides the email delay."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from parley.core.notifications import (
    STEP_NONE,
    STEP_PENDING,
    STEP_SENDING,
    STEP_SKIPPED,
    NewNotification,
    Notification,
    ScheduledNotification,
)
from parley.store import codec
from parley.store.db import Db
from parley.store.ids import new_id
from parley.store.writetx import WriteTx

COLS = (
    "n.id, n.org, n.recipient, n.type, n.priority, n.title, n.body, n.link, n.actor, n.source,"
    " n.created_at_us, n.seen_at_us, n.read_at_us, n.archived_at_us, n.push_state, n.email_state"
)
#: The state columns a mark sets (``read`` sets ``seen`` too).
MARKS = {"seen": "seen_at_us", "read": "read_at_us", "archived": "archived_at_us"}


def _row(row: codec.Row) -> Notification:
    return Notification(
        id=row[0],
        org=row[1],
        recipient=row[2],
        type=row[3],
        priority=row[4],
        title=row[5],
        body=row[6],
        link={k: str(v) for k, v in codec.loads(row[7]).items()},
        actor=row[8],
        source=codec.loads(row[9]),
        created_at=codec.from_us(row[10]),
        seen_at=codec.opt_from_us(row[11]),
        read_at=codec.opt_from_us(row[12]),
        archived_at=codec.opt_from_us(row[13]),
        push_state=row[14],
        email_state=row[15],
    )


_INSERT_COLS = (
    "id, org, recipient, type, priority, title, body, link, channel_id, actor, source,"
    " created_at_us, push_state, email_state, email_due_us, dedupe_key"
)
_ROW_MARKS = "(" + ", ".join("?" * 16) + ")"
#: Rows per multi-row INSERT (16 parameters each; well under both backends' limits).
INSERT_CHUNK = 200


def insert(
    tx: WriteTx, items: Sequence[NewNotification], *, now_us: int, email_delay_us: int
) -> list[Notification]:
    """Store one row per item (ids in creation order), with multi-row INSERTs; the email
    step is due ``email_delay_us`` after ``now_us`` for the items that ask for email.
    An item with a ``dedupe_key`` the recipient already has is not stored (insert or
    ignore, on the unique index): only the rows stored are returned."""
    out: list[Notification] = []
    keyed: list[tuple[tuple[object, ...], Notification]] = []
    created = codec.from_us(now_us)
    rows: list[tuple[object, ...]] = []
    # Items usually share their link and source dicts (alive all along: ids are unique).
    encoded: dict[tuple[int, int], tuple[str, str]] = {}
    for it in items:
        codec.check_text(it.title, it.body, it.type, it.recipient)
        nid = new_id("ntf")
        push_state = STEP_PENDING if it.push else STEP_NONE
        email_state = STEP_PENDING if it.email else STEP_NONE
        key = (id(it.link), id(it.source))
        enc = encoded.get(key)
        if enc is None:
            enc = encoded[key] = (codec.dumps(dict(it.link)), codec.dumps(it.source))
        row: tuple[object, ...] = (
            nid,
            it.org,
            it.recipient,
            it.type,
            it.priority,
            it.title,
            it.body,
            enc[0],
            it.link.get("channel"),
            it.actor,
            enc[1],
            now_us,
            push_state,
            email_state,
            now_us + email_delay_us if it.email else None,
            it.dedupe_key,
        )
        n = Notification(
            nid,
            it.org,
            it.recipient,
            it.type,
            it.priority,
            it.title,
            it.body,
            it.link,
            it.actor,
            it.source,
            created,
            None,
            None,
            None,
            push_state,
            email_state,
        )
        if it.dedupe_key is None:
            rows.append(row)
            out.append(n)
        else:
            keyed.append((row, n))
    for i in range(0, len(rows), INSERT_CHUNK):
        chunk = rows[i : i + INSERT_CHUNK]
        tx.db.send(
            f"INSERT INTO notifications ({_INSERT_COLS}) VALUES"
            + ", ".join([_ROW_MARKS] * len(chunk)),
            [v for row in chunk for v in row],
        )
    for keyed_row, n in keyed:
        stored = tx.db.one(
            f"INSERT INTO notifications ({_INSERT_COLS}) VALUES {_ROW_MARKS}"
            " ON CONFLICT DO NOTHING RETURNING id",
            keyed_row,
        )
        if stored is not None:
            out.append(n)
    return out


@dataclass(frozen=True, slots=True)
class InboxFilter:
    unread: bool = False
    archived: bool | None = False  # None: both
    type: str | None = None
    priority: str | None = None
    channel_id: str | None = None
    since_us: int | None = None
    until_us: int | None = None


def inbox(
    db: Db, org: str, user_id: str, f: InboxFilter, *, limit: int, before: str | None
) -> list[Notification]:
    """Newest first; ``before``: only ids older than this one (the cursor). Returns up to
    ``limit + 1`` rows (one more tells the caller there is a next page)."""
    where = ["n.org = ?", "n.recipient = ?"]
    params: list[object] = [org, user_id]
    if before is not None:
        where.append("n.id < ?")
        params.append(before)
    if f.unread:
        where.append("n.read_at_us IS NULL")
    if f.archived is True:
        where.append("n.archived_at_us IS NOT NULL")
    elif f.archived is False:
        where.append("n.archived_at_us IS NULL")
    for col, value in (("type", f.type), ("priority", f.priority), ("channel_id", f.channel_id)):
        if value is not None:
            where.append(f"n.{col} = ?")
            params.append(value)
    if f.since_us is not None:
        where.append("n.created_at_us >= ?")
        params.append(f.since_us)
    if f.until_us is not None:
        where.append("n.created_at_us < ?")
        params.append(f.until_us)
    params.append(codec.limit_of(limit) + 1)
    rows = db.all(
        f"SELECT {COLS} FROM notifications n WHERE {' AND '.join(where)}"
        " ORDER BY n.id DESC LIMIT ?",
        params,
    )
    return [_row(r) for r in rows]


def get(db: Db, org: str, user_id: str, notification_id: str) -> Notification | None:
    row = db.one(
        f"SELECT {COLS} FROM notifications n WHERE n.org = ? AND n.recipient = ? AND n.id = ?",
        (org, user_id, notification_id),
    )
    return None if row is None else _row(row)


def unread_count(db: Db, org: str, user_id: str) -> int:
    row = db.one(
        "SELECT COUNT(*) FROM notifications WHERE org = ? AND recipient = ?"
        " AND read_at_us IS NULL AND archived_at_us IS NULL",
        (org, user_id),
    )
    return 0 if row is None else int(row[0])


def mark(
    tx: WriteTx,
    org: str,
    user_id: str,
    state: str,
    *,
    ids: Sequence[str] = (),
    up_to: str | None = None,
    now_us: int,
) -> list[str]:
    """Set ``state`` (seen, read, archived) on the recipient's notifications ``ids``, or
    on all of them up to and including the id ``up_to``; return the ids that changed."""
    col = MARKS[state]
    sets = f"{col} = ?" + (", seen_at_us = COALESCE(seen_at_us, ?)" if state == "read" else "")
    params: list[object] = [now_us, now_us] if state == "read" else [now_us]
    where = f"org = ? AND recipient = ? AND {col} IS NULL"
    params += [org, user_id]
    if up_to is not None:
        where += " AND id <= ?"
        params.append(up_to)
    else:
        if not ids:
            return []
        where += f" AND id IN ({codec.placeholders(len(ids))})"
        params += list(ids)
    rows = tx.db.all(f"UPDATE notifications SET {sets} WHERE {where} RETURNING id", params)
    return sorted((str(r[0]) for r in rows), reverse=True)


def unmark(tx: WriteTx, org: str, user_id: str, state: str, ids: Sequence[str]) -> list[str]:
    """Clear ``state`` (``read`` also clears nothing else; ``archived``: back in the inbox)."""
    if not ids:
        return []
    col = MARKS[state]
    rows = tx.db.all(
        f"UPDATE notifications SET {col} = NULL WHERE org = ? AND recipient = ?"
        f" AND {col} IS NOT NULL AND id IN ({codec.placeholders(len(ids))}) RETURNING id",
        (org, user_id, *ids),
    )
    return [str(r[0]) for r in rows]


# -- delivery steps -----------------------------------------------------------------------


def set_push_state(tx: WriteTx, ids: Sequence[str], state: str) -> None:
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        marks = codec.placeholders(len(chunk))
        tx.db.send(
            f"UPDATE notifications SET push_state = ? WHERE id IN ({marks})", (state, *chunk)
        )


def claim_email(tx: WriteTx, *, now_us: int, limit: int) -> list[Notification]:
    """Claim the email step of notifications due by ``now_us``: those read or archived
    meanwhile are skipped, the others move to ``sending`` and are returned (oldest first).
    One statement per step; on PostgreSQL the rows are locked (``SKIP LOCKED``), so two
    nodes never claim the same row; on SQLite the one writer does the same."""
    # 'pending' is spelled out (not a parameter) so that the partial index applies.
    tx.db.run(
        "UPDATE notifications SET email_state = ? WHERE email_state = 'pending'"
        " AND email_due_us <= ? AND (read_at_us IS NOT NULL OR archived_at_us IS NOT NULL)",
        (STEP_SKIPPED, now_us),
    )
    lock = tx.db.for_update + (" SKIP LOCKED" if tx.db.for_update else "")
    rows = tx.db.all(
        f"UPDATE notifications SET email_state = ? WHERE id IN (SELECT id FROM notifications"
        f" WHERE email_state = 'pending' AND email_due_us <= ? ORDER BY email_due_us"
        f" LIMIT ?{lock}) RETURNING id",
        (STEP_SENDING, now_us, codec.limit_of(limit)),
    )
    ids = [str(r[0]) for r in rows]
    if not ids:
        return []
    got = tx.db.all(
        f"SELECT {COLS} FROM notifications n WHERE n.id IN ({codec.placeholders(len(ids))})"
        " ORDER BY n.id",
        ids,
    )
    return [_row(r) for r in got]


def finish_email(tx: WriteTx, ids: Sequence[str], state: str, *, retry_at_us: int | None) -> None:
    """After a digest: ``sent``/``skipped``/``failed``; with ``retry_at_us``, back to
    ``pending`` (the send failed and will be tried again then)."""
    if not ids:
        return
    if retry_at_us is not None:
        tx.db.run(
            f"UPDATE notifications SET email_state = ?, email_due_us = ?"
            f" WHERE id IN ({codec.placeholders(len(ids))})",
            (STEP_PENDING, retry_at_us, *ids),
        )
        return
    tx.db.run(
        f"UPDATE notifications SET email_state = ? WHERE id IN ({codec.placeholders(len(ids))})",
        (state, *ids),
    )


# -- scheduled (send_at) ------------------------------------------------------------------

SCHEDULED = "scheduled"
SENT = "sent"
CANCELLED = "cancelled"


_SCHED_COLS = "id, org, created_by, request, send_at_us, state, created_at_us, sent_count"


Scheduled = ScheduledNotification


def _sched(row: codec.Row) -> Scheduled:
    return Scheduled(
        row[0],
        row[1],
        row[2],
        codec.loads(row[3]),
        codec.from_us(row[4]),
        row[5],
        codec.from_us(row[6]),
        None if row[7] is None else int(row[7]),
    )


def add_scheduled(
    tx: WriteTx,
    org: str,
    created_by: str,
    request: dict[str, object],
    *,
    send_at_us: int,
    now_us: int,
) -> Scheduled:
    sid = new_id("nsch")
    tx.db.run(
        f"INSERT INTO scheduled_notifications ({_SCHED_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, NULL)",
        (sid, org, created_by, codec.dumps(request), send_at_us, SCHEDULED, now_us),
    )
    return Scheduled(
        sid,
        org,
        created_by,
        request,
        codec.from_us(send_at_us),
        SCHEDULED,
        codec.from_us(now_us),
        None,
    )


def get_scheduled(db: Db, org: str, sid: str) -> Scheduled | None:
    row = db.one(
        f"SELECT {_SCHED_COLS} FROM scheduled_notifications WHERE org = ? AND id = ?", (org, sid)
    )
    return None if row is None else _sched(row)


def cancel_scheduled(tx: WriteTx, org: str, sid: str) -> bool:
    n = tx.db.run(
        "UPDATE scheduled_notifications SET state = ? WHERE org = ? AND id = ? AND state = ?",
        (CANCELLED, org, sid, SCHEDULED),
    )
    return n > 0


def claim_due_scheduled(tx: WriteTx, *, now_us: int, limit: int) -> list[Scheduled]:
    """Claim scheduled notifications due by ``now_us`` (state ``sent``, exactly once:
    locked rows are skipped on PostgreSQL, SQLite has one writer)."""
    lock = tx.db.for_update + (" SKIP LOCKED" if tx.db.for_update else "")
    rows = tx.db.all(
        f"UPDATE scheduled_notifications SET state = ? WHERE id IN (SELECT id FROM"
        f" scheduled_notifications WHERE state = 'scheduled' AND send_at_us <= ?"
        f" ORDER BY send_at_us LIMIT ?{lock}) RETURNING {_SCHED_COLS}",
        (SENT, now_us, codec.limit_of(limit)),
    )
    return sorted((_sched(r) for r in rows), key=lambda s: (s.send_at, s.id))


def set_sent_count(tx: WriteTx, sid: str, count: int) -> None:
    tx.db.run("UPDATE scheduled_notifications SET sent_count = ? WHERE id = ?", (count, sid))
