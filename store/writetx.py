"""The state one write batch shares: the writer's connection, the events it wrote, and
the head (``last_seq``) of every channel it touched.

Seqs are taken in memory: the first time a batch touches a channel it reads and locks
the channel row (``SELECT … FOR UPDATE`` on PostgreSQL; SQLite has one writer), each log
write then takes ``last_seq + 1``, and :meth:`WriteTx.write_heads` stores every moved
head with one ``UPDATE`` per channel just before the batch commits. That is one
statement less per post than ``UPDATE … RETURNING`` per write, with the same guarantee:
seqs are taken in the transaction that writes the events, strictly +1, no gaps. A request
rolled back to its savepoint also gets its seqs and events undone here.
"""

from __future__ import annotations

from dataclasses import dataclass

from parley.core.records import ChannelEvent
from parley.store.db import Db
from parley.store.errors import NotFound

_Key = tuple[str, str]  # (org, channel_id)


@dataclass(slots=True)
class _Head:
    stored_seq: int  # last_seq in the database (as of this transaction)
    last_seq: int
    activity_us: int | None = None  # new last_activity_us to store, if any


class WriteTx:
    """What a write function gets (``tx.db``, ``tx.events``, the seq helpers)."""

    __slots__ = ("_events_mark", "_heads", "_undo", "db", "events")

    def __init__(self, db: Db) -> None:
        self.db = db
        self.events: list[ChannelEvent] = []
        self._heads: dict[_Key, _Head] = {}
        self._undo: list[tuple[_Key, _Head | None]] = []
        self._events_mark = 0

    # -- used by the write functions ---------------------------------------------------

    def last_seq(self, org: str, channel_id: str) -> int:
        """The channel's last seq in this transaction; locks the channel row. NotFound if
        there is no such channel in the org."""
        return self._head(org, channel_id).last_seq

    def next_seq(self, org: str, channel_id: str, *, activity_us: int | None) -> int:
        """Take the channel's next seq. ``activity_us`` moves its last activity."""
        key = (org, channel_id)
        head = self._head(org, channel_id)
        self._undo.append((key, _Head(head.stored_seq, head.last_seq, head.activity_us)))
        head.last_seq += 1
        if activity_us is not None:
            head.activity_us = activity_us
        return head.last_seq

    def created_channel(self, org: str, channel_id: str) -> None:
        """Record the head of a channel this transaction just inserted (last_seq 0)."""
        key = (org, channel_id)
        self._undo.append((key, self._heads.get(key)))
        self._heads[key] = _Head(stored_seq=0, last_seq=0)

    def _head(self, org: str, channel_id: str) -> _Head:
        key = (org, channel_id)
        head = self._heads.get(key)
        if head is None:
            row = self.db.one(
                f"SELECT last_seq FROM channels WHERE org = ? AND id = ?{self.db.for_update}",
                key,
            )
            if row is None:
                raise NotFound(f"channel {channel_id}")
            head = _Head(stored_seq=int(row[0]), last_seq=int(row[0]))
            self._undo.append((key, None))
            self._heads[key] = head
        return head

    # -- used by the writer ------------------------------------------------------------

    def start_request(self) -> None:
        self._undo.clear()
        self._events_mark = len(self.events)

    def undo_request(self) -> None:
        """Forget what the current request did (its savepoint was rolled back)."""
        for key, previous in reversed(self._undo):
            if previous is None:
                del self._heads[key]
            else:
                self._heads[key] = previous
        self._undo.clear()
        del self.events[self._events_mark :]

    def write_heads(self) -> None:
        """Store every moved channel head (before COMMIT)."""
        for (org, channel_id), head in self._heads.items():
            if head.last_seq != head.stored_seq or head.activity_us is not None:
                self.db.send(
                    "UPDATE channels SET last_seq = ?,"
                    " last_activity_us = COALESCE(?, last_activity_us)"
                    " WHERE org = ? AND id = ?",
                    (head.last_seq, head.activity_us, org, channel_id),
                )
                head.stored_seq = head.last_seq
                head.activity_us = None
