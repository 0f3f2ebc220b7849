"""Federation (docs/federation.md): linked channels, the outbox cursor of each link, the
remote event id <-> message id map (idempotency both ways), remote members and the
Matrix transactions already applied."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from parley.core.records import FederationLink, Network, RemoteMember
from parley.store import codec
from parley.store.db import Db
from parley.store.errors import Conflict, NotFound
from parley.store.ids import new_id
from parley.store.writetx import WriteTx

_LINK_COLS = (
    "id, org, channel_id, network, remote, room_id, created_by, created_at_us, relayed_seq, dropped"
)
_MEMBER_COLS = (
    "link_id, channel_id, user_id, remote_user, display_name, origin, last_seen_us, network"
)


def _link(row: Sequence[Any]) -> FederationLink:
    return FederationLink(
        id=row[0],
        org=row[1],
        channel_id=row[2],
        network=Network(row[3]),
        remote=row[4],
        room_id=row[5],
        created_by=row[6],
        created_at=codec.from_us(int(row[7])),
        relayed_seq=int(row[8]),
        dropped=int(row[9]),
    )


def _member(row: Sequence[Any]) -> RemoteMember:
    return RemoteMember(
        link_id=row[0],
        channel_id=row[1],
        user_id=row[2],
        network=Network(row[7]),
        remote_user=row[3],
        display_name=row[4],
        origin=row[5],
        last_seen=codec.from_us(int(row[6])),
    )


# -- links ------------------------------------------------------------------------------


def create_link(
    tx: WriteTx,
    org: str,
    channel_id: str,
    network: Network,
    remote: str,
    *,
    room_id: str | None,
    actor: str,
) -> FederationLink:
    """Link the org's channel (NotFound if it has none by that id) to ``remote``; the
    outbox starts at the channel's current seq (history is not relayed). Conflict if the
    channel already has a link on that network or the remote room is linked anywhere."""
    codec.check_text(remote, room_id)
    seq = tx.last_seq(org, channel_id)  # NotFound: not this org's channel
    db = tx.db
    taken = db.one(
        "SELECT org, channel_id FROM federation_links WHERE network = ?"
        " AND (remote = ? OR room_id = ? OR (org = ? AND channel_id = ?))",
        (network.value, remote, room_id or remote, org, channel_id),
    )
    if taken is not None:
        if (taken[0], taken[1]) == (org, channel_id):
            raise Conflict(f"the channel is already linked to a {network.value} room")
        raise Conflict("that remote room is already linked to a channel")
    now = codec.now_us()
    link = FederationLink(
        id=new_id("fl"),
        org=org,
        channel_id=channel_id,
        network=network,
        remote=remote,
        room_id=room_id,
        created_by=actor,
        created_at=codec.from_us(now),
        relayed_seq=seq,
    )
    db.send(
        f"INSERT INTO federation_links ({_LINK_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
        (link.id, org, channel_id, network.value, remote, room_id, actor, now, seq),
    )
    return link


def channel_links(db: Db, org: str, channel_id: str) -> list[FederationLink]:
    rows = db.all(
        f"SELECT {_LINK_COLS} FROM federation_links WHERE org = ? AND channel_id = ?"
        " ORDER BY network",
        (org, channel_id),
    )
    return [_link(r) for r in rows]


def all_links(db: Db) -> list[FederationLink]:
    rows = db.all(f"SELECT {_LINK_COLS} FROM federation_links ORDER BY created_at_us, id")
    return [_link(r) for r in rows]


def get_link(db: Db, link_id: str) -> FederationLink | None:
    row = db.one(f"SELECT {_LINK_COLS} FROM federation_links WHERE id = ?", (link_id,))
    return None if row is None else _link(row)


def link_for_room(db: Db, network: Network, room: str) -> FederationLink | None:
    """The link of a remote room, by its room id or the remote as linked."""
    row = db.one(
        f"SELECT {_LINK_COLS} FROM federation_links WHERE network = ?"
        " AND (room_id = ? OR remote = ?) ORDER BY id LIMIT 1",
        (network.value, room, room),
    )
    return None if row is None else _link(row)


def delete_link(tx: WriteTx, org: str, channel_id: str, network: Network | None) -> int:
    """Unlink (one network, or all); the link's maps and remote members go with it."""
    db = tx.db
    where = "org = ? AND channel_id = ?"
    params: tuple[Any, ...] = (org, channel_id)
    if network is not None:
        where += " AND network = ?"
        params = (*params, network.value)
    ids = [r[0] for r in db.all(f"SELECT id FROM federation_links WHERE {where}", params)]
    for link_id in ids:
        for table in ("federation_events", "federation_members"):
            db.send(f"DELETE FROM {table} WHERE link_id = ?", (link_id,))
        db.send("DELETE FROM federation_links WHERE id = ?", (link_id,))
    return len(ids)


def set_room_id(tx: WriteTx, link_id: str, room_id: str) -> None:
    codec.check_text(room_id)
    tx.db.send("UPDATE federation_links SET room_id = ? WHERE id = ?", (room_id, link_id))


def advance(tx: WriteTx, link_id: str, seq: int, *, dropped: int = 0) -> None:
    """Move the outbox cursor forward to ``seq`` (never back)."""
    tx.db.send(
        "UPDATE federation_links SET relayed_seq = ?, dropped = dropped + ?"
        " WHERE id = ? AND relayed_seq < ?",
        (codec.i64(seq), dropped, link_id, codec.i64(seq)),
    )


# -- the remote id <-> message id map ---------------------------------------------------


def record_event(
    tx: WriteTx,
    link_id: str,
    org: str,
    remote_id: str,
    message_id: str,
    *,
    direction: str,
    kind: str = "message",
    actor: str | None = None,
    emoji: str | None = None,
) -> bool:
    """Map ``remote_id`` to ``message_id``; False if it was mapped already."""
    codec.check_text(remote_id, actor, emoji)
    changed = tx.db.run(
        "INSERT INTO federation_events (link_id, remote_id, org, message_id, direction, kind,"
        " actor, emoji, created_at_us) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        (link_id, remote_id, org, message_id, direction, kind, actor, emoji, codec.now_us()),
    )
    return changed > 0


def forget_event(tx: WriteTx, link_id: str, remote_id: str) -> None:
    tx.db.send(
        "DELETE FROM federation_events WHERE link_id = ? AND remote_id = ?", (link_id, remote_id)
    )


def remote_event(db: Db, link_id: str, remote_id: str) -> dict[str, Any] | None:
    """What a remote id maps to: message_id, direction, kind, actor, emoji."""
    row = db.one(
        "SELECT message_id, direction, kind, actor, emoji FROM federation_events"
        " WHERE link_id = ? AND remote_id = ?",
        (link_id, remote_id),
    )
    if row is None:
        return None
    return {
        "message_id": row[0],
        "direction": row[1],
        "kind": row[2],
        "actor": row[3],
        "emoji": row[4],
    }


def remote_id_of(
    db: Db,
    link_id: str,
    message_id: str,
    *,
    kind: str = "message",
    actor: str | None = None,
    emoji: str | None = None,
) -> str | None:
    """The remote id of a message (or of one reaction to it) on this link."""
    sql = (
        "SELECT remote_id FROM federation_events WHERE link_id = ? AND message_id = ? AND kind = ?"
    )
    params: tuple[Any, ...] = (link_id, message_id, kind)
    if actor is not None:
        sql += " AND actor = ? AND emoji = ?"
        params = (*params, actor, emoji)
    row = db.one(sql + " ORDER BY created_at_us LIMIT 1", params)
    return None if row is None else str(row[0])


def remote_reactions(db: Db, link_id: str, message_id: str, actor: str) -> dict[str, str]:
    """A remote participant's reactions to a message that came in: emoji -> remote id."""
    rows = db.all(
        "SELECT emoji, remote_id FROM federation_events WHERE link_id = ? AND message_id = ?"
        " AND kind = 'reaction' AND actor = ? AND direction = 'in'",
        (link_id, message_id, actor),
    )
    return {str(r[0]): str(r[1]) for r in rows}


# -- remote members ---------------------------------------------------------------------


def upsert_member(
    tx: WriteTx,
    link: FederationLink,
    user_id: str,
    remote_user: str,
    display_name: str,
    origin: str,
) -> None:
    codec.check_text(user_id, remote_user, display_name, origin)
    now = codec.now_us()
    tx.db.send(
        "INSERT INTO federation_members (link_id, user_id, org, channel_id, network,"
        " remote_user, display_name, origin, last_seen_us) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (link_id, user_id) DO UPDATE SET display_name = excluded.display_name,"
        " last_seen_us = excluded.last_seen_us",
        (
            link.id,
            user_id,
            link.org,
            link.channel_id,
            link.network.value,
            remote_user,
            display_name,
            origin,
            now,
        ),
    )


def remove_member(tx: WriteTx, link_id: str, user_id: str) -> None:
    tx.db.send(
        "DELETE FROM federation_members WHERE link_id = ? AND user_id = ?", (link_id, user_id)
    )


def remote_members(db: Db, org: str, channel_id: str) -> list[RemoteMember]:
    rows = db.all(
        f"SELECT {_MEMBER_COLS} FROM federation_members WHERE org = ? AND channel_id = ?"
        " ORDER BY user_id",
        (org, channel_id),
    )
    return [_member(r) for r in rows]


def remote_authors(
    db: Db, org: str, channel_id: str, authors: Sequence[str]
) -> dict[str, RemoteMember]:
    """The remote members among ``authors`` (user ids) of a channel."""
    if not authors:
        return {}
    rows = db.all(
        f"SELECT {_MEMBER_COLS} FROM federation_members WHERE org = ? AND channel_id = ?"
        f" AND user_id IN ({codec.placeholders(len(authors))})",
        (org, channel_id, *authors),
    )
    return {r[2]: _member(r) for r in rows}


# -- Matrix transactions ----------------------------------------------------------------


def claim_transaction(tx: WriteTx, network: Network, txn_id: str) -> bool:
    """True the first time ``txn_id`` is seen (then it is applied), False on redelivery."""
    codec.check_text(txn_id)
    return (
        tx.db.run(
            "INSERT INTO federation_transactions (network, txn_id, received_at_us)"
            " VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
            (network.value, txn_id, codec.now_us()),
        )
        > 0
    )


def transaction_seen(db: Db, network: Network, txn_id: str) -> bool:
    return (
        db.one(
            "SELECT 1 FROM federation_transactions WHERE network = ? AND txn_id = ?",
            (network.value, txn_id),
        )
        is not None
    )


def unclaim_transaction(tx: WriteTx, network: Network, txn_id: str) -> None:
    tx.db.send(
        "DELETE FROM federation_transactions WHERE network = ? AND txn_id = ?",
        (network.value, txn_id),
    )


def require_channel(db: Db, org: str, channel_id: str) -> None:
    if db.one("SELECT 1 FROM channels WHERE org = ? AND id = ?", (org, channel_id)) is None:
        raise NotFound("channel")
