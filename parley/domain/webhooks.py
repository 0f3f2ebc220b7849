"""Outgoing webhooks for integrations (docs/automation.md).

An org's administration (a service token) registers endpoints: a URL, a secret and topic
patterns in the topic grammar (``events.acme.tasks.task.completed.*``,
``events.acme.conversations.>``). Every event published in the org (channel events as
they commit, service events, task events; not the users' private topics, nor ephemeral
stream chunks) whose topic matches goes to each matching endpoint as a signed POST
(:mod:`parley.domain.outbound`).

Publishing never waits for any of it: :class:`WebhookTap` wraps the event sink and offers
each event to :meth:`WebhookService.offer`, which only matches it against the org's
patterns held in memory and puts it on a bounded queue (``send_nowait``; when full the
event is dropped for webhooks and counted). One task (:meth:`WebhookService.run`)
writes a delivery row and its job per matching endpoint; the job scheduler sends them,
retries with exponential backoff, and each endpoint is disabled after
``max_failures`` consecutive failed attempts. The delivery log is readable over REST.
"""

from __future__ import annotations

import logging
import math
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import orjson
import trio

from parley.core.claims import Claims
from parley.core.ports import EventSink
from parley.core.records import ChannelEvent
from parley.core.times import rfc3339, utc_now
from parley.core.topics import (
    check_org,
    matches,
    parse_pattern,
    user_topic_owner,
)
from parley.domain import access, outbound, rules
from parley.domain.jobs import JobScheduler, Retry
from parley.store import Store, sql
from parley.store.sql.jobs import Job
from parley.store.sql.webhooks import DELIVERED, FAILED, JOB_KIND, PENDING
from parley.store.sql.webhooks import Delivery as Delivery  # the records
from parley.store.sql.webhooks import Webhook as Webhook

log = logging.getLogger("parley.webhooks")

MAX_PATTERNS = 20
MAX_WEBHOOKS_PER_ORG = 50
MIN_SECRET_CHARS = 16
MAX_SECRET_CHARS = 200


@dataclass(frozen=True, slots=True)
class WebhookConfig:
    #: POST to private, loopback and link-local addresses too (``PARLEY_WEBHOOK_ALLOW_PRIVATE``;
    #: for receivers on the same host or network only).
    allow_private: bool = False
    #: Seconds one POST may take (``PARLEY_WEBHOOK_TIMEOUT``).
    timeout: float = 10.0
    #: Consecutive failed attempts that disable an endpoint (``PARLEY_WEBHOOK_MAX_FAILURES``).
    max_failures: int = 20
    #: Attempts per delivery, then it is ``failed`` (``PARLEY_WEBHOOK_MAX_ATTEMPTS``).
    max_attempts: int = 8
    #: First retry after this many seconds, doubling, at most ``backoff_max``.
    backoff_first: float = 10.0
    backoff_max: float = 3600.0
    #: Events waiting to be matched into deliveries; beyond, they are dropped (counted).
    queue: int = 10_000
    #: Seconds between two reloads of the endpoints (changes made on other nodes).
    refresh_interval: float = 30.0
    #: Settled deliveries (and bots' deliveries) stay in the log this long (seconds; 7 days).
    keep_deliveries: float = 7 * 86400.0


@dataclass(frozen=True, slots=True)
class _Route:
    hook_id: str
    patterns: tuple[tuple[str, ...], ...]


def check_patterns(org: str, patterns: object) -> list[str]:
    if not isinstance(patterns, list) or not patterns or len(patterns) > MAX_PATTERNS:
        raise rules.bad(f"patterns must be a list of 1 to {MAX_PATTERNS} topic patterns")
    out = []
    for p in patterns:
        parts = parse_pattern(p)  # invalid_topic
        check_org(parts, org)  # forbidden: another org's topics
        if len(parts) > 2 and parts[2] == "users":
            raise rules.bad("users' private topics cannot go to a webhook")
        out.append(".".join(parts))
    return out


def event_body(delivery_kind: str, topic: str, data: Any, ts: datetime) -> dict[str, Any]:
    return {"type": delivery_kind, "topic": topic, "ts": rfc3339(ts), "data": data}


class WebhookService:
    def __init__(
        self,
        store: Store,
        jobs: JobScheduler,
        config: WebhookConfig | None = None,
        *,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.store = store
        self.jobs = jobs
        self.config = config or WebhookConfig()
        self.client = client or httpx.AsyncClient(follow_redirects=False)
        self._routes: dict[str, list[_Route]] = {}
        self._loads = 0
        self._installed = 0
        self._send, self._recv = trio.open_memory_channel[tuple[str, str, bytes]](self.config.queue)
        self._last_purge = -math.inf
        #: Events dropped because the queue was full (metrics).
        self.dropped = 0
        self.offered = 0
        jobs.register(
            JOB_KIND,
            self.deliver,
            max_attempts=self.config.max_attempts,
            backoff_first=self.config.backoff_first,
            backoff_max=self.config.backoff_max,
        )

    # -- administration (service tokens) -------------------------------------------------

    @staticmethod
    def _admin(caller: Claims) -> None:
        if not caller.is_service:
            raise access.forbidden("only a service token manages the org's webhooks")

    async def create(
        self, caller: Claims, *, url: object, patterns: object, secret: object = None
    ) -> Webhook:
        self._admin(caller)
        checked_url = outbound.check_url(url)
        checked = check_patterns(caller.org, patterns)
        if secret is None:
            secret = secrets.token_urlsafe(32)
        if not isinstance(secret, str) or not MIN_SECRET_CHARS <= len(secret) <= MAX_SECRET_CHARS:
            raise rules.bad(f"secret must be {MIN_SECRET_CHARS} to {MAX_SECRET_CHARS} characters")
        rules.check_clean(secret, "secret")
        await outbound.check_reachable(checked_url, allow_private=self.config.allow_private)
        if (
            len(await self.store.read(sql.webhooks.list_webhooks, caller.org))
            >= MAX_WEBHOOKS_PER_ORG
        ):
            raise rules.bad(f"an org has at most {MAX_WEBHOOKS_PER_ORG} webhooks")
        hook = await self.store.write(
            sql.webhooks.create_webhook,
            caller.org,
            url=checked_url,
            secret=secret,
            patterns=checked,
            created_by=caller.sub,
            now_us=self.jobs.now_us(),
        )
        await self.load()
        return hook

    async def get(self, caller: Claims, hook_id: str) -> Webhook:
        self._admin(caller)
        hook = None
        if rules.is_clean(hook_id):
            hook = await self.store.read(sql.webhooks.get_webhook, caller.org, hook_id)
        if hook is None:
            raise access.not_found("webhook")
        return hook

    async def webhooks(self, caller: Claims) -> list[Webhook]:
        self._admin(caller)
        return await self.store.read(sql.webhooks.list_webhooks, caller.org)

    async def update(
        self,
        caller: Claims,
        hook_id: str,
        *,
        url: object = None,
        patterns: object = None,
        enabled: object = None,
    ) -> Webhook:
        await self.get(caller, hook_id)
        checked_url = None if url is None else outbound.check_url(url)
        checked = None if patterns is None else check_patterns(caller.org, patterns)
        if enabled is not None and not isinstance(enabled, bool):
            raise rules.bad("enabled must be a boolean")
        if checked_url is not None:
            await outbound.check_reachable(checked_url, allow_private=self.config.allow_private)
        async with access.store_errors("webhook"):
            hook = await self.store.write(
                sql.webhooks.update_webhook,
                caller.org,
                hook_id,
                url=checked_url,
                patterns=checked,
                enabled=enabled,
                now_us=self.jobs.now_us(),
            )
        await self.load()
        return hook

    async def delete(self, caller: Claims, hook_id: str) -> None:
        await self.get(caller, hook_id)
        async with access.store_errors("webhook"):
            await self.store.write(sql.webhooks.delete_webhook, caller.org, hook_id)
        await self.load()

    async def deliveries(
        self, caller: Claims, hook_id: str, *, before: str | None, limit: int | None
    ) -> list[Delivery]:
        await self.get(caller, hook_id)
        n = rules.check_limit(limit, cap=rules.MAX_PAGE_LIMIT)
        if before is not None and not rules.is_clean(before):
            raise rules.bad("bad before")
        return await self.store.read(
            sql.webhooks.list_deliveries, caller.org, hook_id, before=before, limit=n
        )

    # -- intake: never awaits ------------------------------------------------------------

    @property
    def has_routes(self) -> bool:
        """Whether any enabled webhook exists (in any org)."""
        return bool(self._routes)

    def offer(self, topic: str, data: Any, ts: datetime | None = None) -> None:
        """An event was published: queue it if an endpoint of its org may want it."""
        if not self._routes:
            return  # no webhook anywhere: the publish path pays one check
        parts = topic.split(".")
        if len(parts) < 3 or parts[1] not in self._routes or user_topic_owner(topic):
            return
        if not any(matches(list(p), parts) for r in self._routes[parts[1]] for p in r.patterns):
            return
        body = orjson.dumps(event_body("event", topic, data, ts or utc_now()))
        try:
            self._send.send_nowait((parts[1], topic, body))
            self.offered += 1
        except trio.WouldBlock:
            self.dropped += 1

    async def load(self) -> None:
        """(Re)load the enabled endpoints into the matcher. Of loads that overlap, the one
        started last wins (it read after every change made before it started)."""
        self._loads += 1
        mine = self._loads
        routes: dict[str, list[_Route]] = {}
        for hook in await self.store.read(sql.webhooks.enabled_webhooks):
            pats = tuple(tuple(p.split(".")) for p in hook.patterns)
            routes.setdefault(hook.org, []).append(_Route(hook.id, pats))
        if mine > self._installed:
            self._installed = mine
            self._routes = routes

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Turn queued events into deliveries (and reload the endpoints now and then)."""
        try:
            await self.load()
        except Exception as exc:  # the periodic reload below tries again
            log.warning("webhooks: loading the endpoints failed: %s", exc)
        task_status.started()
        while True:
            with trio.move_on_after(self.config.refresh_interval):
                first = await self._recv.receive()
                await self._write([first, *self._queued()])
                continue
            try:
                await self.load()
                await self._purge()
            except Exception as exc:
                log.warning("webhooks: reload failed: %s", exc)

    async def _purge(self) -> None:
        now = self.jobs.clock()
        if now - self._last_purge < 3600:
            return
        self._last_purge = now
        before = int((now - self.config.keep_deliveries) * 1_000_000)
        gone = await self.store.write(sql.webhooks.purge_deliveries, before_us=before)
        if gone:
            log.info("webhooks: purged %d old deliveries", gone)

    def _queued(self) -> list[tuple[str, str, bytes]]:
        more: list[tuple[str, str, bytes]] = []
        while len(more) < 500:
            try:
                more.append(self._recv.receive_nowait())
            except trio.WouldBlock:
                break
        return more

    async def pump(self) -> int:
        """Write deliveries for everything queued now; return how many (tests)."""
        return await self._write(self._queued())

    async def _write(self, events: Sequence[tuple[str, str, bytes]]) -> int:
        items = []
        for org, topic, body in events:
            parts = topic.split(".")
            for route in self._routes.get(org, ()):
                if any(matches(list(p), parts) for p in route.patterns):
                    items.append((org, route.hook_id, topic, body.decode()))
        if not items:
            return 0
        try:
            await self.store.write(sql.webhooks.add_deliveries, items, now_us=self.jobs.now_us())
        except Exception as exc:  # the database is down: these events are lost for webhooks
            log.warning("webhooks: %d deliveries not recorded: %s", len(items), exc)
            return 0
        self.jobs.wake(self.jobs.clock())
        return len(items)

    # -- the job -------------------------------------------------------------------------

    async def deliver(self, job: Job) -> None:
        d = await self.store.read(sql.webhooks.get_delivery, job.org, job.key)
        if d is None or d.state != PENDING:
            return
        hook = await self.store.read(sql.webhooks.get_webhook, d.org, d.webhook_id)
        now_us = self.jobs.now_us()
        if hook is None or not hook.enabled:
            why = "webhook deleted" if hook is None else f"webhook disabled: {hook.disabled_reason}"
            await mark_delivery(self.store, d, FAILED, job.attempts, None, why, now_us)
            return
        outcome = await outbound.post_signed(
            self.client,
            hook.url,
            hook.secret,
            d.body.encode(),
            delivery_id=d.id,
            topic=d.topic,
            now=self.jobs.clock(),
            allow_private=self.config.allow_private,
            seconds=self.config.timeout,
        )
        after = await self.store.write(
            sql.webhooks.record_attempt,
            d.org,
            hook.id,
            ok=outcome.ok,
            max_failures=self.config.max_failures,
            now_us=now_us,
        )
        if outcome.ok:
            await mark_delivery(
                self.store, d, DELIVERED, job.attempts, outcome.status, None, now_us
            )
            return
        if after is not None and not after.enabled:
            log.warning("webhook %s disabled: %s", hook.id, after.disabled_reason)
            await self.load()
        last = job.attempts >= self.config.max_attempts or after is None or not after.enabled
        state = FAILED if last else PENDING
        await mark_delivery(
            self.store, d, state, job.attempts, outcome.status, outcome.error, now_us
        )
        if not last:
            raise Retry(outcome.error or "failed")


class WebhookTap:
    """An :class:`EventSink` that hands every event to ``inner`` and offers it to the
    webhooks too (never awaiting either)."""

    def __init__(self, inner: EventSink, webhooks: WebhookService) -> None:
        self.inner = inner
        self.webhooks = webhooks

    def publish(
        self, topic: str, data: Any, *, ts: datetime | None = None, members_of: str | None = None
    ) -> int:
        n = self.inner.publish(topic, data, ts=ts, members_of=members_of)
        self.webhooks.offer(topic, data, ts)
        return n

    def publish_channel_events(self, events: Sequence[ChannelEvent]) -> None:
        self.inner.publish_channel_events(events)
        if not self.webhooks.has_routes:
            return  # no webhook anywhere: nothing to build
        for ev in events:
            data = {"channel": ev.channel_id, "seq": ev.seq, "actor": ev.actor, **ev.data}
            self.webhooks.offer(ev.topic, data, ev.ts)

    def publish_channel_ephemeral(self, org: str, channel_id: str, event: str, data: Any) -> int:
        return self.inner.publish_channel_ephemeral(org, channel_id, event, data)


async def mark_delivery(
    store: Store,
    d: Delivery,
    state: str,
    attempts: int,
    status: int | None,
    error: str | None,
    now_us: int,
) -> None:
    """Record a delivery attempt's outcome (webhooks' and bots' deliveries share the log)."""
    await store.write(
        sql.webhooks.mark_delivery,
        d.org,
        d.id,
        state=state,
        attempts=attempts,
        status_code=status,
        error=error,
        now_us=now_us,
    )
