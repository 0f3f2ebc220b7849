"""User profiles."""

from __future__ import annotations

from collections.abc import Sequence

from parley.core.records import (
    Profile,
)
from parley.store import codec
from parley.store.db import Db
from parley.store.writetx import WriteTx


def get_profile(db: Db, org: str, user_id: str) -> Profile | None:
    row = db.one(
        f"SELECT {codec.PROFILE_COLS} FROM profiles p WHERE p.org = ? AND p.user_id = ?",
        (org, user_id),
    )
    return None if row is None else codec.profile(row)


def get_profiles(db: Db, org: str, user_ids: Sequence[str]) -> dict[str, Profile]:
    """The stored profiles among ``user_ids`` (one query), by user id."""
    if not user_ids:
        return {}
    rows = db.all(
        f"SELECT {codec.PROFILE_COLS} FROM profiles p WHERE p.org = ?"
        f" AND p.user_id IN ({codec.placeholders(len(user_ids))})",
        (org, *user_ids),
    )
    return {p.user_id: p for p in map(codec.profile, rows)}


def set_profile(
    tx: WriteTx, org: str, user_id: str, *, display_name: str | None, avatar_url: str | None
) -> Profile:
    codec.check_text(display_name, avatar_url)
    now = codec.now_us()
    tx.db.send(
        "INSERT INTO profiles (org, user_id, display_name, avatar_url, updated_at_us)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT (org, user_id) DO UPDATE SET"
        " display_name = excluded.display_name, avatar_url = excluded.avatar_url,"
        " updated_at_us = excluded.updated_at_us",
        (org, user_id, display_name, avatar_url, now),
    )
    return Profile(org, user_id, display_name, avatar_url, codec.from_us(now))
