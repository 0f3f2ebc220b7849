"""Link previews fetched for messages."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from parley.store import codec
from parley.store.db import Db
from parley.store.writetx import WriteTx


def save_previews(
    tx: WriteTx, org: str, message_id: str, previews: Sequence[dict[str, Any]]
) -> None:
    now = codec.now_us()
    for p in previews:
        codec.check_text(p["url"], p.get("title"), p.get("description"), p.get("image"))
        tx.db.send(
            "INSERT INTO link_previews (org, message_id, url, title, description, image,"
            " fetched_at_us) VALUES (?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (org, message_id, url) DO UPDATE SET title = excluded.title,"
            " description = excluded.description, image = excluded.image,"
            " fetched_at_us = excluded.fetched_at_us",
            (org, message_id, p["url"], p.get("title"), p.get("description"), p.get("image"), now),
        )


def get_previews(db: Db, org: str, message_id: str) -> list[dict[str, Any]]:
    rows = db.all(
        "SELECT url, title, description, image FROM link_previews"
        " WHERE org = ? AND message_id = ? ORDER BY url",
        (org, message_id),
    )
    return [{"url": r[0], "title": r[1], "description": r[2], "image": r[3]} for r in rows]
