"""Bots: users with ``bot: true``, their auto-respond setting and their webhook
(docs/automation.md)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from parley.store import codec
from parley.store.db import Db
from parley.store.errors import NotFound
from parley.store.writetx import WriteTx

#: The job kind that sends a message to a bot; the job key is the delivery's id.
JOB_KIND = "bot_delivery"

ON_MENTION = "on_mention"
ON_DM = "on_dm"
OFF = "off"
AUTO_RESPOND = (ON_MENTION, ON_DM, OFF)


@dataclass(frozen=True, slots=True)
class Bot:
    org: str
    user_id: str
    webhook_url: str
    secret: str
    auto_respond: str
    created_by: str
    created_at: datetime
    updated_at: datetime


_COLS = "org, user_id, webhook_url, secret, auto_respond, created_by, created_at_us, updated_at_us"


def _bot(r: codec.Row) -> Bot:
    return Bot(
        org=r[0],
        user_id=r[1],
        webhook_url=r[2],
        secret=r[3],
        auto_respond=r[4],
        created_by=r[5],
        created_at=codec.from_us(int(r[6])),
        updated_at=codec.from_us(int(r[7])),
    )


def set_bot(
    tx: WriteTx,
    org: str,
    user_id: str,
    *,
    webhook_url: str,
    secret: str,
    auto_respond: str,
    created_by: str,
    now_us: int,
) -> tuple[Bot, bool]:
    """Make ``user_id`` a bot, or change it; returns it and whether it is new."""
    codec.check_text(user_id, webhook_url, secret, created_by)
    new = get_bot(tx.db, org, user_id) is None
    row = tx.db.one(
        "INSERT INTO bots (org, user_id, webhook_url, secret, auto_respond, created_by,"
        " created_at_us, updated_at_us) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (org, user_id) DO UPDATE SET webhook_url = excluded.webhook_url,"
        " secret = excluded.secret, auto_respond = excluded.auto_respond,"
        f" updated_at_us = excluded.updated_at_us RETURNING {_COLS}",
        (org, user_id, webhook_url, secret, auto_respond, created_by, now_us, now_us),
    )
    assert row is not None
    return _bot(row), new


def get_bot(db: Db, org: str, user_id: str) -> Bot | None:
    row = db.one(f"SELECT {_COLS} FROM bots WHERE org = ? AND user_id = ?", (org, user_id))
    return None if row is None else _bot(row)


def list_bots(db: Db, org: str | None = None) -> list[Bot]:
    """An org's bots, or (``None``) every org's."""
    if org is None:
        rows = db.all(f"SELECT {_COLS} FROM bots ORDER BY org, user_id")
    else:
        rows = db.all(f"SELECT {_COLS} FROM bots WHERE org = ? ORDER BY user_id", (org,))
    return [_bot(r) for r in rows]


def delete_bot(tx: WriteTx, org: str, user_id: str) -> None:
    if not tx.db.run("DELETE FROM bots WHERE org = ? AND user_id = ?", (org, user_id)):
        raise NotFound("bot")
