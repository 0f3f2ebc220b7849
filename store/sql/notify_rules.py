"""Notification rules of an org (docs/notifications.md, Rules): their definitions and
their evaluation record (matches, errors, the last error)."""

from __future__ import annotations

from typing import Any

from parley.core.notifications import StoredRule
from parley.store import codec
from parley.store.db import Db
from parley.store.ids import new_id
from parley.store.writetx import WriteTx

_COLS = (
    "id, org, name, spec, enabled, created_by, created_at_us, updated_at_us, match_count,"
    " error_count, last_error, last_error_at_us"
)
#: Longest stored error text of a rule.
MAX_ERROR_CHARS = 500


def _rule(r: codec.Row) -> StoredRule:
    return StoredRule(
        id=r[0],
        org=r[1],
        name=r[2],
        spec=codec.loads(r[3]),
        enabled=bool(r[4]),
        created_by=r[5],
        created_at=codec.from_us(r[6]),
        updated_at=codec.from_us(r[7]),
        match_count=int(r[8]),
        error_count=int(r[9]),
        last_error=r[10],
        last_error_at=codec.opt_from_us(r[11]),
    )


def create_rule(
    tx: WriteTx,
    org: str,
    name: str,
    spec: dict[str, Any],
    *,
    enabled: bool,
    created_by: str,
    now_us: int,
) -> StoredRule:
    codec.check_text(name, codec.dumps(spec))
    rid = new_id("nrule")
    row = tx.db.one(
        f"INSERT INTO notification_rules ({_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, 0,"
        f" NULL, NULL) RETURNING {_COLS}",
        (rid, org, name, codec.dumps(spec), enabled, created_by, now_us, now_us),
    )
    assert row is not None
    return _rule(row)


def update_rule(
    tx: WriteTx,
    org: str,
    rule_id: str,
    name: str,
    spec: dict[str, Any],
    *,
    enabled: bool,
    now_us: int,
) -> StoredRule | None:
    codec.check_text(name, codec.dumps(spec))
    row = tx.db.one(
        "UPDATE notification_rules SET name = ?, spec = ?, enabled = ?, updated_at_us = ?"
        f" WHERE org = ? AND id = ? RETURNING {_COLS}",
        (name, codec.dumps(spec), enabled, now_us, org, rule_id),
    )
    return None if row is None else _rule(row)


def delete_rule(tx: WriteTx, org: str, rule_id: str) -> bool:
    return tx.db.run("DELETE FROM notification_rules WHERE org = ? AND id = ?", (org, rule_id)) > 0


def get_rule(db: Db, org: str, rule_id: str) -> StoredRule | None:
    row = db.one(f"SELECT {_COLS} FROM notification_rules WHERE org = ? AND id = ?", (org, rule_id))
    return None if row is None else _rule(row)


def list_rules(db: Db, org: str) -> list[StoredRule]:
    return [
        _rule(r)
        for r in db.all(f"SELECT {_COLS} FROM notification_rules WHERE org = ? ORDER BY id", (org,))
    ]


def count_rules(db: Db, org: str) -> int:
    row = db.one("SELECT COUNT(*) FROM notification_rules WHERE org = ?", (org,))
    return 0 if row is None else int(row[0])


def record_results(
    tx: WriteTx, results: dict[str, tuple[int, int, str | None]], *, now_us: int
) -> None:
    """Add to each rule's counters: ``{rule_id: (matches, errors, last error or None)}``."""
    for rule_id, (matches, errors, last_error) in results.items():
        if last_error is None:
            tx.db.send(
                "UPDATE notification_rules SET match_count = match_count + ?,"
                " error_count = error_count + ? WHERE id = ?",
                (matches, errors, rule_id),
            )
        else:
            tx.db.send(
                "UPDATE notification_rules SET match_count = match_count + ?,"
                " error_count = error_count + ?, last_error = ?, last_error_at_us = ?"
                " WHERE id = ?",
                (matches, errors, last_error[:MAX_ERROR_CHARS], now_us, rule_id),
            )
