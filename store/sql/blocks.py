"""Blocks: who blocked whom in an org (private to the blocker, docs/privacy.md)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from parley.store import codec
from parley.store.db import Db
from parley.store.writetx import WriteTx


def set_block(tx: WriteTx, org: str, blocker: str, blocked: str, *, on: bool) -> bool:
    """Block (``on``) or unblock; whether anything changed."""
    codec.check_text(blocker, blocked)
    if on:
        return (
            tx.db.run(
                "INSERT INTO blocks (org, blocker, blocked, created_at_us) VALUES (?, ?, ?, ?)"
                " ON CONFLICT DO NOTHING",
                (org, blocker, blocked, codec.now_us()),
            )
            > 0
        )
    return (
        tx.db.run(
            "DELETE FROM blocks WHERE org = ? AND blocker = ? AND blocked = ?",
            (org, blocker, blocked),
        )
        > 0
    )


def blocks_of(db: Db, org: str, blocker: str) -> list[tuple[str, datetime]]:
    """Who ``blocker`` blocked, and since when, in the order they were blocked."""
    rows = db.all(
        "SELECT blocked, created_at_us FROM blocks WHERE org = ? AND blocker = ?"
        " ORDER BY created_at_us, blocked",
        (org, blocker),
    )
    return [(r[0], codec.from_us(int(r[1]))) for r in rows]


def blocked_ids(db: Db, org: str, blocker: str) -> set[str]:
    rows = db.all("SELECT blocked FROM blocks WHERE org = ? AND blocker = ?", (org, blocker))
    return {r[0] for r in rows}


def blockers_of(db: Db, org: str, blocked: str, among: Sequence[str]) -> set[str]:
    """Which of ``among`` blocked ``blocked``."""
    if not among:
        return set()
    rows = db.all(
        "SELECT blocker FROM blocks WHERE org = ? AND blocked = ?"
        f" AND blocker IN ({codec.placeholders(len(among))})",
        (org, blocked, *among),
    )
    return {r[0] for r in rows}
