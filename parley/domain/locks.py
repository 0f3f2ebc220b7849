"""Entity locks: an advisory lock on any entity id of an org (a note, a task, a message
being edited, or an id a service names such as ``case:4711``), taken with a TTL, renewed
by heartbeat, released explicitly, on expiry, or when the holder's last connection on this
node closes. A second taker gets ``conflict`` naming the holder and the expiry. Changes are
pushed on ``events.{org}.locks.lock.{acquired|renewed|released}.{entity_segment}``, which
everyone in the org reads.

Locks live in the store (table ``entity_locks``): every node of a deployment sharing the
database sees the same holder, and a restart keeps a lock only until its expiry (which the
sweeper then announces). Time is the service's one ``clock`` (seconds since the epoch; tests
give a virtual one); the sweeper sleeps on trio's clock for the same durations.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

import trio

from parley.core.codes import ErrorCode
from parley.core.errors import ClientError, Unavailable
from parley.core.ports import ConnectionWatch, EventSink
from parley.core.records import EntityLock, lock_data
from parley.core.times import rfc3339
from parley.core.topics import lock_topic, user_lock_topic
from parley.domain import access, rules
from parley.store import Store, sql

log = logging.getLogger("parley.locks")

#: TTL of a lock when none is asked for, and the bounds of one asked for (seconds).
DEFAULT_TTL = 30.0
MIN_TTL = 1.0
MAX_TTL = 3600.0
#: Longest entity id, and its characters (a Parley id, ``case:4711``, ``doc/7#p2``...).
MAX_ENTITY_CHARS = 200
_ENTITY = re.compile(r"[A-Za-z0-9._:/#@+=-]+")
#: The sweeper looks at the store at least this often (locks taken on other nodes).
SWEEP_SECONDS = 5.0


def check_entity(entity: object) -> str:
    if not isinstance(entity, str) or not 1 <= len(entity) <= MAX_ENTITY_CHARS:
        raise rules.bad(f"entity must be 1 to {MAX_ENTITY_CHARS} characters")
    if _ENTITY.fullmatch(entity) is None:
        raise rules.bad("entity must be letters, digits and ._:/#@+=-")
    return entity


def check_ttl(ttl: object) -> float:
    if ttl is None:
        return DEFAULT_TTL
    if not isinstance(ttl, (int, float)) or isinstance(ttl, bool) or not MIN_TTL <= ttl <= MAX_TTL:
        raise rules.bad(f"ttl must be a number of seconds from {MIN_TTL:g} to {MAX_TTL:g}")
    return float(ttl)


@dataclass(frozen=True, slots=True)
class Audience:
    """Who may see a lock on a Parley record: its channel's members, or its owner."""

    channel_id: str | None = None
    owner: str | None = None


#: Id prefixes of the Parley records whose locks keep to the record's audience.
RECORD_PREFIXES = ("note_", "task_")


def held_by_other(lock: EntityLock) -> ClientError:
    return ClientError(
        ErrorCode.CONFLICT,
        f"{lock.entity} is locked by {lock.holder} until {rfc3339(lock.expires_at)}",
        details={"lock": lock_data(lock)},
    )


class LockService:
    def __init__(
        self,
        store: Store,
        sink: EventSink,
        *,
        clock: Callable[[], float] = time.time,
        connections: ConnectionWatch | None = None,
    ) -> None:
        self.store = store
        self.sink = sink
        self.clock = clock
        self.connections = connections
        #: Users whose last connection closed, for the sweeper to release.
        self._gone: set[tuple[str, str]] = set()
        self._wake = trio.Event()
        #: When the sweeper wakes next (clock seconds); an earlier expiry wakes it.
        self._deadline = float("inf")
        if connections is not None:
            connections.on_user_gone(self.holder_gone)

    def _now_us(self) -> int:
        return int(self.clock() * 1_000_000)

    async def acquire(
        self, org: str, user_id: str, entity: str, *, ttl: float | None = None
    ) -> EntityLock:
        """Take (or, already holding it, renew) the lock; ``conflict`` if another holds it."""
        entity = check_entity(entity)
        seconds = check_ttl(ttl)
        audience = await self._reader(org, user_id, entity)
        taken = await self.store.write(
            sql.locks.take,
            org,
            entity,
            user_id,
            now_us=self._now_us(),
            ttl_us=int(seconds * 1_000_000),
        )
        if not taken.held:
            raise held_by_other(taken.lock)
        if taken.expired is not None:
            self._publish("released", taken.expired, audience, reason="expired")
        self._publish("renewed" if taken.renewed else "acquired", taken.lock, audience)
        if taken.lock.expires_at.timestamp() < self._deadline:
            self._wake.set()
        return taken.lock

    async def renew(
        self, org: str, user_id: str, entity: str, *, ttl: float | None = None
    ) -> EntityLock:
        """The heartbeat: extend a lock the caller holds; ``conflict`` if another holds it,
        ``not_found`` if nobody does (it lapsed or was released)."""
        entity = check_entity(entity)
        seconds = check_ttl(ttl)
        audience = await self._reader(org, user_id, entity)
        lock = await self.store.write(
            sql.locks.renew,
            org,
            entity,
            user_id,
            now_us=self._now_us(),
            ttl_us=int(seconds * 1_000_000),
        )
        if lock is None:
            other = await self.lock(org, user_id, entity)
            if other is not None:
                raise held_by_other(other)
            raise access.not_found("lock")
        self._publish("renewed", lock, audience)
        return lock

    async def release(self, org: str, user_id: str, entity: str) -> EntityLock:
        """Release the caller's lock; ``not_found`` if they do not hold it."""
        entity = check_entity(entity)
        audience = await self._reader(org, user_id, entity)
        lock = await self.store.write(sql.locks.release, org, entity, user_id)
        if lock is None:
            other = await self.lock(org, user_id, entity)
            if other is not None:
                raise held_by_other(other)
            raise access.not_found("lock")
        self._publish("released", lock, audience, reason="released")
        return lock

    async def lock(self, org: str, user_id: str, entity: str) -> EntityLock | None:
        """Who holds the entity now, or None (``not_found`` for a Parley record the caller
        cannot read)."""
        entity = check_entity(entity)
        await self._reader(org, user_id, entity)
        found = await self.store.read(sql.locks.get_locks, org, [entity], now_us=self._now_us())
        return found[0] if found else None

    async def locks(
        self,
        org: str,
        user_id: str,
        entities: list[str] | None = None,
        *,
        limit: int | None = None,
    ) -> list[EntityLock]:
        """The live locks among ``entities`` (in that order), or all of the org's; locks
        of Parley records the caller cannot read are left out."""
        now = self._now_us()
        if entities is None:
            n = rules.check_limit(limit, cap=rules.MAX_PAGE_LIMIT)
            found = await self.store.read(sql.locks.org_locks, org, now_us=now, limit=n)
        else:
            if len(entities) > rules.MAX_PAGE_LIMIT:
                raise rules.bad(f"at most {rules.MAX_PAGE_LIMIT} entities")
            wanted = [check_entity(e) for e in entities]
            by_entity = {
                lk.entity: lk
                for lk in await self.store.read(sql.locks.get_locks, org, wanted, now_us=now)
            }
            found = [by_entity[e] for e in dict.fromkeys(wanted) if e in by_entity]
        return [lk for lk in found if await self._may_read(org, user_id, lk.entity)]

    # -- who sees a lock --------------------------------------------------------------------
    async def audience(self, org: str, entity: str) -> Audience | None:
        """The audience of a Parley record's id (``note_…``, ``task_…``); None for any other
        id (an org-wide lock) and for an id of no record."""
        if not entity.startswith(RECORD_PREFIXES):
            return None
        if entity.startswith("note_"):
            note = await self.store.read(sql.notes.get_note, org, entity)
            return None if note is None else Audience(note.channel_id, note.owner)
        task = await self.store.read(sql.tasks.get_task, org, entity)
        return None if task is None else Audience(task.channel_id)

    async def _may_read(self, org: str, user_id: str, entity: str) -> bool:
        audience = await self.audience(org, entity)
        if audience is None:
            return True
        if audience.owner is not None:
            return audience.owner == user_id
        assert audience.channel_id is not None
        return await access.is_member(self.store, org, audience.channel_id, user_id)

    async def _reader(self, org: str, user_id: str, entity: str) -> Audience | None:
        """The entity's audience, or ``not_found`` ("no such lock", as for any record
        the caller cannot read) when the caller is not in it."""
        if not await self._may_read(org, user_id, entity):
            raise access.not_found("lock")
        return await self.audience(org, entity)

    # -- release on disconnect and on expiry ----------------------------------------------
    def holder_gone(self, org: str, user_id: str) -> None:
        """The user's last connection on this node closed (ConnectionWatch callback,
        synchronous): the sweeper releases their locks unless they reconnected."""
        self._gone.add((org, user_id))
        self._wake.set()

    async def sweep(self) -> list[EntityLock]:
        """Release the locks of holders that are gone and the lapsed ones; announce each.
        Idle, it costs one read (is anything due?)."""
        done: list[EntityLock] = []
        for org, user_id in sorted(self._gone):
            if self.connections is None or not self.connections.connections_of(org, user_id):
                for lock in await self.store.write(sql.locks.release_holder, org, user_id):
                    audience = await self.audience(org, lock.entity)
                    self._publish("released", lock, audience, reason="disconnected")
                    done.append(lock)
            self._gone.discard((org, user_id))  # done (a failed write keeps it for later)
        now = self._now_us()
        due = await self.store.read(sql.locks.next_expiry_us)
        if due is not None and due <= now:
            for lock in await self.store.write(sql.locks.expire, now_us=now):
                audience = await self.audience(lock.org, lock.entity)
                self._publish("released", lock, audience, reason="expired")
                done.append(lock)
        return done

    async def run(self) -> None:
        """The sweeper (a background task): sleeps until the next expiry (at most
        :data:`SWEEP_SECONDS`) or until woken by a new lock or a holder gone."""
        while True:
            self._wake = trio.Event()
            delay = SWEEP_SECONDS
            try:
                await self.sweep()
                due = await self.store.read(sql.locks.next_expiry_us)
            except Unavailable:  # an outage, logged where detected: retry after the pause
                due = None
            except Exception:  # the next sweep retries; never take the server down
                log.exception("entity locks: sweep failed")
                due = None
            if due is not None:
                delay = min(delay, max(0.0, due / 1_000_000 - self.clock()))
            self._deadline = self.clock() + delay
            with trio.move_on_after(delay):
                await self._wake.wait()

    def _publish(
        self,
        event: str,
        lock: EntityLock,
        audience: Audience | None,
        *,
        reason: str | None = None,
    ) -> None:
        """On the org's lock topic; a Parley record's lock to its channel's members only,
        or, a user's own note, on its owner's user topic."""
        data = lock_data(lock)
        if reason is not None:
            data["reason"] = reason
        if audience is not None and audience.owner is not None:
            self.sink.publish(user_lock_topic(lock.org, event, audience.owner), data)
            return
        members_of = None if audience is None else audience.channel_id
        self.sink.publish(lock_topic(lock.org, event, lock.entity), data, members_of=members_of)
