"""What decides who is notified of what: a user's notification preferences (global level,
per-channel levels, keywords), the threads they follow, their email address and Web Push
subscriptions (docs/notifications.md)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from parley.core.notifications import PushSubscription
from parley.store import codec
from parley.store.db import Db
from parley.store.ids import new_id
from parley.store.writetx import WriteTx

#: The level of a user with no stored preferences.
DEFAULT_LEVEL = "mentions_and_dms"


@dataclass(frozen=True, slots=True)
class StoredPrefs:
    level: str = DEFAULT_LEVEL
    #: ``delivery``, ``dnd``, ``email`` (the JSON document, validated by the domain).
    doc: dict[str, Any] = field(default_factory=dict)
    email_unsubscribed: bool = False
    #: channel id -> all | mentions | mute
    channels: dict[str, str] = field(default_factory=dict)
    keywords: tuple[str, ...] = ()
    updated_at_us: int | None = None


def get_prefs(db: Db, org: str, user_id: str) -> StoredPrefs:
    return prefs_of(db, org, [user_id]).get(user_id, StoredPrefs())


def prefs_of(
    db: Db, org: str, users: Sequence[str], *, channel_id: str | None = None
) -> dict[str, StoredPrefs]:
    """The stored preferences of ``users`` (those who have any); with ``channel_id`` only
    that channel's level is loaded."""
    out: dict[str, StoredPrefs] = {}
    for i in range(0, len(users), 500):
        chunk = list(users[i : i + 500])
        marks = codec.placeholders(len(chunk))
        rows = db.all(
            "SELECT user_id, level, prefs, email_unsubscribed, updated_at_us"
            f" FROM notification_prefs WHERE org = ? AND user_id IN ({marks})",
            (org, *chunk),
        )
        base = {r[0]: (r[1], codec.loads(r[2]), bool(r[3]), int(r[4])) for r in rows}
        chan_sql = (
            "SELECT user_id, channel_id, level FROM notification_channel_prefs"
            f" WHERE org = ? AND user_id IN ({marks})"
        )
        chan_params: tuple[object, ...] = (org, *chunk)
        if channel_id is not None:
            chan_sql += " AND channel_id = ?"
            chan_params += (channel_id,)
        channels: dict[str, dict[str, str]] = {}
        for u, c, lv in db.all(chan_sql, chan_params):
            channels.setdefault(u, {})[c] = lv
        keywords: dict[str, list[str]] = {}
        for u, k in db.all(
            f"SELECT user_id, keyword FROM notification_keywords WHERE org = ? AND user_id IN"
            f" ({marks}) ORDER BY keyword",
            (org, *chunk),
        ):
            keywords.setdefault(u, []).append(k)
        for u in set(base) | set(channels) | set(keywords):
            level, doc, unsub, at = base.get(u, (DEFAULT_LEVEL, {}, False, None))
            out[u] = StoredPrefs(
                level, doc, unsub, channels.get(u, {}), tuple(keywords.get(u, ())), at
            )
    return out


def set_prefs(
    tx: WriteTx,
    org: str,
    user_id: str,
    *,
    level: str,
    doc: dict[str, Any],
    keywords: Sequence[str] | None,
    channels: dict[str, str] | None,
    now_us: int,
) -> None:
    """Store the whole document; ``keywords`` / ``channels`` (``default`` removes a
    channel's entry), when given, replace or update those parts."""
    codec.check_text(level, codec.dumps(doc))
    tx.db.run(
        "INSERT INTO notification_prefs (org, user_id, level, prefs, email_unsubscribed,"
        " updated_at_us) VALUES (?, ?, ?, ?, FALSE, ?) ON CONFLICT (org, user_id) DO UPDATE"
        " SET level = excluded.level, prefs = excluded.prefs,"
        " updated_at_us = excluded.updated_at_us",
        (org, user_id, level, codec.dumps(doc), now_us),
    )
    if keywords is not None:
        tx.db.run("DELETE FROM notification_keywords WHERE org = ? AND user_id = ?", (org, user_id))
        for k in dict.fromkeys(keywords):
            codec.check_text(k)
            tx.db.send(
                "INSERT INTO notification_keywords (org, user_id, keyword) VALUES (?, ?, ?)",
                (org, user_id, k),
            )
    for channel_id, lv in (channels or {}).items():
        codec.check_text(channel_id)
        if lv == "default":
            tx.db.send(
                "DELETE FROM notification_channel_prefs WHERE org = ? AND user_id = ?"
                " AND channel_id = ?",
                (org, user_id, channel_id),
            )
        else:
            tx.db.send(
                "INSERT INTO notification_channel_prefs (org, user_id, channel_id, level)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (org, user_id, channel_id)"
                " DO UPDATE SET level = excluded.level",
                (org, user_id, channel_id, lv),
            )


def count_channel_prefs(db: Db, org: str, user_id: str) -> int:
    row = db.one(
        "SELECT COUNT(*) FROM notification_channel_prefs WHERE org = ? AND user_id = ?",
        (org, user_id),
    )
    return 0 if row is None else int(row[0])


def set_email_unsubscribed(tx: WriteTx, org: str, user_id: str, on: bool, *, now_us: int) -> None:
    tx.db.run(
        "INSERT INTO notification_prefs (org, user_id, level, prefs, email_unsubscribed,"
        " updated_at_us) VALUES (?, ?, ?, '{}', ?, ?) ON CONFLICT (org, user_id) DO UPDATE"
        " SET email_unsubscribed = excluded.email_unsubscribed,"
        " updated_at_us = excluded.updated_at_us",
        (org, user_id, DEFAULT_LEVEL, on, now_us),
    )


def channel_listeners(db: Db, org: str, channel_id: str) -> tuple[list[str], list[tuple[str, str]]]:
    """Members of the channel who asked for every message (channel level ``all``, or
    global ``all`` without a channel level), and ``(member, keyword)`` of members with
    keywords."""
    everything = db.all(
        "SELECT m.user_id FROM members m"
        " LEFT JOIN notification_channel_prefs c ON c.org = m.org AND c.user_id = m.user_id"
        " AND c.channel_id = m.channel_id"
        " LEFT JOIN notification_prefs p ON p.org = m.org AND p.user_id = m.user_id"
        " WHERE m.org = ? AND m.channel_id = ?"
        " AND (c.level = 'all' OR (c.level IS NULL AND p.level = 'all'))",
        (org, channel_id),
    )
    keywords = db.all(
        "SELECT k.user_id, k.keyword FROM notification_keywords k JOIN members m"
        " ON m.org = k.org AND m.user_id = k.user_id WHERE m.org = ? AND m.channel_id = ?",
        (org, channel_id),
    )
    return [str(r[0]) for r in everything], [(str(u), str(k)) for u, k in keywords]


def channel_member_ids(db: Db, org: str, channel_id: str) -> list[str]:
    return [
        str(r[0])
        for r in db.all(
            "SELECT user_id FROM members WHERE org = ? AND channel_id = ? ORDER BY user_id",
            (org, channel_id),
        )
    ]


def members_among(db: Db, org: str, channel_id: str, users: Sequence[str]) -> set[str]:
    out: set[str] = set()
    for i in range(0, len(users), 500):
        chunk = list(users[i : i + 500])
        out.update(
            str(r[0])
            for r in db.all(
                "SELECT user_id FROM members WHERE org = ? AND channel_id = ?"
                f" AND user_id IN ({codec.placeholders(len(chunk))})",
                (org, channel_id, *chunk),
            )
        )
    return out


# -- threads ----------------------------------------------------------------------------


def follow(
    tx: WriteTx, org: str, root_id: str, user_id: str, following: bool, *, keep: bool = False
) -> None:
    """Follow or unfollow a thread; with ``keep``, an earlier choice stays (auto-follow)."""
    action = "NOTHING" if keep else "UPDATE SET following = excluded.following"
    tx.db.send(
        "INSERT INTO thread_follows (org, root_id, user_id, following) VALUES (?, ?, ?, ?)"
        f" ON CONFLICT (org, root_id, user_id) DO {action}",
        (org, root_id, user_id, following),
    )


def followers(db: Db, org: str, root_id: str) -> list[str]:
    rows = db.all(
        "SELECT user_id FROM thread_follows WHERE org = ? AND root_id = ? AND following"
        " ORDER BY user_id",
        (org, root_id),
    )
    return [str(r[0]) for r in rows]


def is_following(db: Db, org: str, root_id: str, user_id: str) -> bool | None:
    row = db.one(
        "SELECT following FROM thread_follows WHERE org = ? AND root_id = ? AND user_id = ?",
        (org, root_id, user_id),
    )
    return None if row is None else bool(row[0])


# -- email addresses ----------------------------------------------------------------------


def set_token_email(tx: WriteTx, org: str, user_id: str, email: str, *, now_us: int) -> None:
    codec.check_text(email)
    tx.db.run(
        "INSERT INTO user_emails (org, user_id, email, updated_at_us) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (org, user_id) DO UPDATE SET email = excluded.email,"
        " updated_at_us = excluded.updated_at_us",
        (org, user_id, email, now_us),
    )


def token_emails(db: Db, org: str, users: Sequence[str]) -> dict[str, str]:
    if not users:
        return {}
    rows = db.all(
        "SELECT user_id, email FROM user_emails WHERE org = ?"
        f" AND user_id IN ({codec.placeholders(len(users))})",
        (org, *users),
    )
    return {str(u): str(e) for u, e in rows}


# -- Web Push subscriptions -----------------------------------------------------------------

_SUB_COLS = "id, org, user_id, endpoint, p256dh, auth, created_at_us"


def _sub(r: codec.Row) -> PushSubscription:
    return PushSubscription(r[0], r[1], r[2], r[3], r[4], r[5], codec.from_us(r[6]))


def add_subscription(
    tx: WriteTx, org: str, user_id: str, endpoint: str, p256dh: str, auth: str, *, now_us: int
) -> PushSubscription:
    """One per (user, endpoint): the same endpoint again replaces its keys."""
    codec.check_text(endpoint, p256dh, auth)
    sid = new_id("psub")
    row = tx.db.one(
        f"INSERT INTO push_subscriptions ({_SUB_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (org, user_id, endpoint) DO UPDATE SET p256dh = excluded.p256dh,"
        f" auth = excluded.auth RETURNING {_SUB_COLS}",
        (sid, org, user_id, endpoint, p256dh, auth, now_us),
    )
    assert row is not None
    return _sub(row)


def subscriptions(db: Db, org: str, users: Sequence[str]) -> list[PushSubscription]:
    out: list[PushSubscription] = []
    for i in range(0, len(users), 500):
        chunk = list(users[i : i + 500])
        out += [
            _sub(r)
            for r in db.all(
                f"SELECT {_SUB_COLS} FROM push_subscriptions WHERE org = ?"
                f" AND user_id IN ({codec.placeholders(len(chunk))}) ORDER BY id",
                (org, *chunk),
            )
        ]
    return out


def delete_subscription(tx: WriteTx, org: str, user_id: str | None, sid: str) -> bool:
    """Delete a subscription (of ``user_id``, unless None: the push service said gone)."""
    if user_id is None:
        return tx.db.run("DELETE FROM push_subscriptions WHERE org = ? AND id = ?", (org, sid)) > 0
    n = tx.db.run(
        "DELETE FROM push_subscriptions WHERE org = ? AND user_id = ? AND id = ?",
        (org, user_id, sid),
    )
    return n > 0


@dataclass(frozen=True, slots=True)
class PostContext:
    """What the notification hook of a post needs, read in one snapshot."""

    kind: str | None
    name: str
    #: Members other than those below who get every message of the channel.
    everything: list[str]
    #: (member, keyword) pairs of members with keywords.
    keywords: list[tuple[str, str]]
    #: The members of a direct channel (empty for other kinds).
    direct_members: list[str]


def post_context(db: Db, org: str, channel_id: str) -> PostContext:
    row = db.one("SELECT kind, name FROM channels WHERE org = ? AND id = ?", (org, channel_id))
    if row is None:
        return PostContext(None, "", [], [], [])
    everything, keywords = channel_listeners(db, org, channel_id)
    kind = str(row[0])
    direct = channel_member_ids(db, org, channel_id) if kind == "direct" else []
    return PostContext(kind, str(row[1] or ""), everything, keywords, direct)


def org_has_listeners(db: Db, org: str) -> bool:
    """Whether anyone in the org has keywords or asked for every message (the post hook
    can skip its reads for plain messages otherwise)."""
    row = db.one(
        "SELECT EXISTS (SELECT 1 FROM notification_keywords WHERE org = ?)"
        " OR EXISTS (SELECT 1 FROM notification_prefs WHERE org = ? AND level = 'all')"
        " OR EXISTS (SELECT 1 FROM notification_channel_prefs WHERE org = ? AND level = 'all')",
        (org, org, org),
    )
    return row is not None and bool(row[0])


def channel_kind(db: Db, org: str, channel_id: str) -> str | None:
    row = db.one("SELECT kind FROM channels WHERE org = ? AND id = ?", (org, channel_id))
    return None if row is None else str(row[0])
