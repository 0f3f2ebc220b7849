"""Entity locks: one holder per (org, entity) until an expiry instant. A row whose expiry
has passed is free: taking it over returns the expired holder, so the caller can announce
the release. The caller passes ``now_us`` (its clock), so that every node and every test
decides expiry by one clock."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from parley.core.records import EntityLock
from parley.store import codec
from parley.store.db import Db
from parley.store.writetx import WriteTx

LOCK_COLS = "l.org, l.entity, l.holder, l.acquired_at_us, l.expires_at_us"
#: The same columns in a ``RETURNING`` clause.
RETURNING = " RETURNING org, entity, holder, acquired_at_us, expires_at_us"


def _lock(row: codec.Row) -> EntityLock:
    return EntityLock(row[0], row[1], row[2], codec.from_us(row[3]), codec.from_us(row[4]))


@dataclass(frozen=True, slots=True)
class Taken:
    """The lock as it is after a take: ``held`` is False when someone else holds it
    (``lock`` is theirs); ``expired`` is a lapsed lock of another holder taken over."""

    lock: EntityLock
    held: bool
    renewed: bool = False
    expired: EntityLock | None = None


def take(tx: WriteTx, org: str, entity: str, holder: str, *, now_us: int, ttl_us: int) -> Taken:
    """Take the lock for ``ttl_us``; the holder taking it again renews it."""
    db = tx.db
    codec.check_text(entity, holder)
    row = db.one(
        f"SELECT {LOCK_COLS} FROM entity_locks l WHERE l.org = ? AND l.entity = ?{db.for_update}",
        (org, entity),
    )
    current = None if row is None else _lock(row)
    expires = now_us + ttl_us
    if current is not None and codec.to_us(current.expires_at) > now_us:
        if current.holder != holder:
            return Taken(current, held=False)
        db.send(
            "UPDATE entity_locks SET expires_at_us = ? WHERE org = ? AND entity = ?",
            (expires, org, entity),
        )
        lock = EntityLock(org, entity, holder, current.acquired_at, codec.from_us(expires))
        return Taken(lock, held=True, renewed=True)
    if current is None:
        db.send(
            "INSERT INTO entity_locks (org, entity, holder, acquired_at_us, expires_at_us)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (org, entity) DO UPDATE SET"
            " holder = excluded.holder, acquired_at_us = excluded.acquired_at_us,"
            " expires_at_us = excluded.expires_at_us",
            (org, entity, holder, now_us, expires),
        )
    else:
        db.send(
            "UPDATE entity_locks SET holder = ?, acquired_at_us = ?, expires_at_us = ?"
            " WHERE org = ? AND entity = ?",
            (holder, now_us, expires, org, entity),
        )
    lock = EntityLock(org, entity, holder, codec.from_us(now_us), codec.from_us(expires))
    return Taken(lock, held=True, expired=current)


def renew(
    tx: WriteTx, org: str, entity: str, holder: str, *, now_us: int, ttl_us: int
) -> EntityLock | None:
    """Extend a lock the holder still holds (not lapsed); None otherwise."""
    row = tx.db.one(
        "UPDATE entity_locks SET expires_at_us = ? WHERE org = ? AND entity = ? AND holder = ?"
        " AND expires_at_us > ?" + RETURNING,
        (now_us + ttl_us, org, entity, holder, now_us),
    )
    return None if row is None else _lock(row)


def release(tx: WriteTx, org: str, entity: str, holder: str) -> EntityLock | None:
    """Release the holder's lock (lapsed or not: the row goes); None if not theirs. A
    lapsed lock comes back too: its release was not announced yet."""
    row = tx.db.one(
        "DELETE FROM entity_locks WHERE org = ? AND entity = ? AND holder = ?" + RETURNING,
        (org, entity, holder),
    )
    return None if row is None else _lock(row)


def release_holder(tx: WriteTx, org: str, holder: str) -> list[EntityLock]:
    """Release every lock the user holds in the org (their last connection closed)."""
    rows = tx.db.all(
        "DELETE FROM entity_locks WHERE org = ? AND holder = ?" + RETURNING,
        (org, holder),
    )
    return sorted((_lock(r) for r in rows), key=lambda lk: lk.entity)


def expire(tx: WriteTx, *, now_us: int, limit: int = 1000) -> list[EntityLock]:
    """Delete (up to ``limit``) lapsed locks of every org; return them, soonest first."""
    rows = tx.db.all(
        f"SELECT {LOCK_COLS} FROM entity_locks l WHERE l.expires_at_us <= ?"
        f" ORDER BY l.expires_at_us, l.org, l.entity LIMIT ?{tx.db.for_update}",
        (now_us, limit),
    )
    for r in rows:
        tx.db.send(
            "DELETE FROM entity_locks WHERE org = ? AND entity = ? AND expires_at_us <= ?",
            (r[0], r[1], now_us),
        )
    return [_lock(r) for r in rows]


def next_expiry_us(db: Db) -> int | None:
    row = db.one("SELECT MIN(expires_at_us) FROM entity_locks")
    return None if row is None or row[0] is None else int(row[0])


def get_locks(db: Db, org: str, entities: Sequence[str], *, now_us: int) -> list[EntityLock]:
    """The live locks among ``entities`` (any order)."""
    if not entities:
        return []
    rows = db.all(
        f"SELECT {LOCK_COLS} FROM entity_locks l WHERE l.org = ? AND l.expires_at_us > ?"
        f" AND l.entity IN ({codec.placeholders(len(entities))})",
        (org, now_us, *entities),
    )
    return [_lock(r) for r in rows]


def org_locks(db: Db, org: str, *, now_us: int, limit: int) -> list[EntityLock]:
    """The org's live locks, by entity."""
    rows = db.all(
        f"SELECT {LOCK_COLS} FROM entity_locks l WHERE l.org = ? AND l.expires_at_us > ?"
        " ORDER BY l.entity LIMIT ?",
        (org, now_us, codec.limit_of(limit)),
    )
    return [_lock(r) for r in rows]
