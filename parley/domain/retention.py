"""Retention: an org's or a channel's period after which messages are redacted, by a
background task (docs/privacy.md).

A channel's period is the shorter of the org's and its own: an org's period is a promise
to its users (and often a compliance rule) that a channel may tighten, never loosen.
Expired messages are tombstoned exactly as a delete does (text, versions, reactions, pins,
mentions, previews, the channel log and share snapshots; ``message_deleted`` events with
actor ``parley:retention``), and their files' bytes removed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import trio

from parley.core.claims import Claims
from parley.domain import access, rules
from parley.store import Store, sql
from parley.store.blobs import BlobStore
from parley.store.sql.retention import ORG_WIDE

log = logging.getLogger("parley.retention")

#: Shortest period (seconds): one hour. Longest: 100 years.
MIN_RETENTION_SECONDS = 3600
MAX_RETENTION_SECONDS = 100 * 365 * 86400


@dataclass(frozen=True, slots=True)
class RetentionConfig:
    #: Seconds between two sweeps of the background task (``PARLEY_RETENTION_INTERVAL_SECONDS``).
    interval_seconds: float = 300.0
    #: Messages redacted per write (a channel with more expired ones takes several).
    batch: int = 500


@dataclass(frozen=True, slots=True)
class Retention:
    """The periods in force for one channel (or for the org: ``channel`` is ``None``)."""

    org_seconds: int | None
    channel_seconds: int | None = None

    @property
    def effective_seconds(self) -> int | None:
        periods = [s for s in (self.org_seconds, self.channel_seconds) if s is not None]
        return min(periods) if periods else None


def check_period(seconds: object) -> int | None:
    if seconds is None:
        return None
    if not isinstance(seconds, int) or isinstance(seconds, bool):
        raise rules.bad("seconds must be an integer or null")
    if not MIN_RETENTION_SECONDS <= seconds <= MAX_RETENTION_SECONDS:
        raise rules.bad(
            f"seconds must be between {MIN_RETENTION_SECONDS} and {MAX_RETENTION_SECONDS}"
        )
    return seconds


class RetentionService:
    def __init__(
        self,
        store: Store,
        blobs: BlobStore,
        config: RetentionConfig | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.blobs = blobs
        self.config = config or RetentionConfig()
        #: Wall-clock seconds, the clock message times are stamped with (tests tie it to
        #: trio's clock).
        self.clock = clock

    # -- policies --------------------------------------------------------------------------

    async def org_retention(self, caller: Claims) -> Retention:
        """Anyone of the org may read it: users should know when their messages go."""
        org_s, _ = await self.store.read(sql.retention.retention_of, caller.org, ORG_WIDE)
        return Retention(org_s)

    async def set_org_retention(self, caller: Claims, seconds: object) -> Retention:
        """Service tokens only (the org's administration)."""
        period = check_period(seconds)
        if not caller.is_service:
            raise access.forbidden("only a service token sets the org's retention")
        await self.store.write(
            sql.retention.set_retention, caller.org, ORG_WIDE, period, actor=caller.sub
        )
        return await self.org_retention(caller)

    async def _channel(self, caller: Claims, channel_id: str, *, change: bool) -> None:
        """Members read a channel's retention; its owners and admins (or a service token)
        change it. Others: ``not_found`` like any channel they are not in."""
        if caller.is_service:
            channel = None
            if rules.is_clean(channel_id):
                channel = await self.store.read(sql.channels.get_channel, caller.org, channel_id)
            if channel is None:
                raise access.no_channel()
            return
        _, member = await access.membership(self.store, caller.org, caller.sub, channel_id)
        if change and not access.is_moderator(member):
            raise access.forbidden("only the channel's owners and admins set its retention")

    async def channel_retention(self, caller: Claims, channel_id: str) -> Retention:
        await self._channel(caller, channel_id, change=False)
        org_s, own = await self.store.read(sql.retention.retention_of, caller.org, channel_id)
        return Retention(org_s, own)

    async def set_channel_retention(
        self, caller: Claims, channel_id: str, seconds: object
    ) -> Retention:
        period = check_period(seconds)
        await self._channel(caller, channel_id, change=True)
        async with access.store_errors("channel"):
            await self.store.write(
                sql.retention.set_retention, caller.org, channel_id, period, actor=caller.sub
            )
        return await self.channel_retention(caller, channel_id)

    # -- the background job ----------------------------------------------------------------

    async def sweep(self) -> int:
        """Redact every message older than its channel's period; return how many."""
        now_us = int(self.clock() * 1_000_000)
        total = 0
        for org, channel_id, seconds in await self.store.read(sql.retention.channel_periods):
            while True:
                n, keys = await self.store.write(
                    sql.retention.redact_expired,
                    org,
                    channel_id,
                    before_us=now_us - seconds * 1_000_000,
                    limit=self.config.batch,
                )
                total += n
                with trio.CancelScope(shield=True):
                    for key in keys:
                        await self.blobs.delete(key)
                if n < self.config.batch:
                    break
        return total

    async def run(self) -> None:
        """The background task (started by the composition root): a sweep every
        ``interval_seconds``, on trio's clock."""
        while True:
            try:
                n = await self.sweep()
                if n:
                    log.info("retention: redacted %d messages", n)
            except Exception:  # the next sweep retries; never take the server down
                log.exception("retention: sweep failed")
            await trio.sleep(self.config.interval_seconds)
