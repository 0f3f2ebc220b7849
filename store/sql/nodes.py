"""The node registry: which Parley nodes run on this database, and whether they share a
bus (docs/cluster.md)."""

from __future__ import annotations

from dataclasses import dataclass

from parley.store import codec
from parley.store.db import Db
from parley.store.writetx import WriteTx


@dataclass(frozen=True, slots=True)
class Node:
    node_id: str
    host: str
    bus: bool
    heartbeat_at_us: int


def register(
    tx: WriteTx, node_id: str, identity: str, host: str, *, bus: bool, forget_before_us: int
) -> None:
    """Add this node, replacing an earlier run with the same ``identity`` (killed before it
    could remove itself), and forget nodes dead since before ``forget_before_us``."""
    now = codec.now_us()
    tx.db.run(
        "DELETE FROM nodes WHERE heartbeat_at_us < ? OR identity = ?",
        (forget_before_us, identity),
    )
    tx.db.run(
        "INSERT INTO nodes (node_id, identity, host, bus, started_at_us, heartbeat_at_us)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (node_id, identity, host, int(bus), now, now),
    )


def heartbeat(tx: WriteTx, node_id: str) -> None:
    tx.db.run("UPDATE nodes SET heartbeat_at_us = ? WHERE node_id = ?", (codec.now_us(), node_id))


def deregister(tx: WriteTx, node_id: str) -> None:
    tx.db.run("DELETE FROM nodes WHERE node_id = ?", (node_id,))


def live_nodes(db: Db, *, since_us: int, other_than: str = "") -> list[Node]:
    """Nodes whose last heartbeat is at or after ``since_us``, but for an earlier run of
    the node with identity ``other_than``."""
    rows = db.all(
        "SELECT node_id, host, bus, heartbeat_at_us FROM nodes"
        " WHERE heartbeat_at_us >= ? AND identity <> ? ORDER BY node_id",
        (since_us, other_than),
    )
    return [Node(str(r[0]), str(r[1]), bool(r[2]), int(r[3])) for r in rows]
