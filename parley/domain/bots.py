"""Bots that answer (docs/automation.md): a bot is a user of the org with ``bot: true``, a
webhook URL and an auto-respond setting:

* ``on_mention``: a message that @mentions it, in a channel it is a member of;
* ``on_dm``: that, and every message in a direct channel with it;
* ``off``: never.

A post that triggers a bot (hooked into :class:`~parley.domain.hooks.PostHooks`, so every
way of posting counts) becomes a delivery on the job queue: the message is POSTed to the
bot's webhook, signed as outgoing webhooks are (:mod:`parley.domain.outbound`), retried
with backoff. The bot answers through the REST API with its own token (a JWT whose ``sub``
is the bot's user id): ``POST /v1/channels/{id}/messages``, or token by token through the
streams API with a service token. A bot's own posts never trigger bots (no loops).
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

import httpx
import orjson
import trio

from parley.core.claims import Claims
from parley.core.records import ChannelKind, PostResult
from parley.core.times import rfc3339
from parley.domain import access, content, outbound, rules
from parley.domain.jobs import JobScheduler, Retry
from parley.domain.webhooks import (
    MAX_SECRET_CHARS,
    MIN_SECRET_CHARS,
    WebhookConfig,
    mark_delivery,
)
from parley.store import Store, sql
from parley.store.sql.bots import AUTO_RESPOND, JOB_KIND, OFF, ON_DM
from parley.store.sql.bots import Bot as Bot  # the record
from parley.store.sql.jobs import Job
from parley.store.sql.webhooks import DELIVERED, FAILED, PENDING, Delivery

log = logging.getLogger("parley.bots")

#: The delivery log names a bot's deliveries ``bot:{user_id}``.
LOG_PREFIX = "bot:"


def log_id(user_id: str) -> str:
    return LOG_PREFIX + user_id


def trigger_topic(org: str, user_id: str) -> str:
    return f"events.{org}.bots.bot.triggered.{user_id}"


class BotService:
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
        #: org -> user_id -> bot (the post hook's table; reloaded on change and now and then).
        self._bots: dict[str, dict[str, Bot]] = {}
        self._loads = 0
        self._installed = 0
        jobs.register(
            JOB_KIND,
            self.deliver,
            max_attempts=self.config.max_attempts,
            backoff_first=self.config.backoff_first,
            backoff_max=self.config.backoff_max,
        )

    # -- administration ------------------------------------------------------------------

    @staticmethod
    def _admin(caller: Claims) -> None:
        if not caller.is_service:
            raise access.forbidden("only a service token manages the org's bots")

    async def register(
        self,
        caller: Claims,
        user_id: str,
        *,
        webhook_url: object,
        auto_respond: object,
        secret: object = None,
    ) -> tuple[Bot, bool]:
        """Make the user a bot (or change it); returns it and whether it is new."""
        self._admin(caller)
        rules.check_user_id(user_id)
        url = outbound.check_url(webhook_url)
        if auto_respond not in AUTO_RESPOND:
            raise rules.bad("auto_respond must be one of: " + ", ".join(AUTO_RESPOND))
        if secret is None:
            secret = secrets.token_urlsafe(32)
        if not isinstance(secret, str) or not MIN_SECRET_CHARS <= len(secret) <= MAX_SECRET_CHARS:
            raise rules.bad(f"secret must be {MIN_SECRET_CHARS} to {MAX_SECRET_CHARS} characters")
        rules.check_clean(secret, "secret")
        await outbound.check_reachable(url, allow_private=self.config.allow_private)
        bot, new = await self.store.write(
            sql.bots.set_bot,
            caller.org,
            user_id,
            webhook_url=url,
            secret=secret,
            auto_respond=str(auto_respond),
            created_by=caller.sub,
            now_us=self.jobs.now_us(),
        )
        await self.load()
        return bot, new

    async def get(self, caller: Claims, user_id: str) -> Bot:
        """Anyone of the org may ask whether a user is a bot (the REST layer shows the
        webhook and secret to service tokens only)."""
        bot = None
        if rules.is_clean(user_id):
            bot = await self.store.read(sql.bots.get_bot, caller.org, user_id)
        if bot is None:
            raise access.not_found("bot")
        return bot

    async def bots(self, caller: Claims) -> list[Bot]:
        self._admin(caller)
        return await self.store.read(sql.bots.list_bots, caller.org)

    async def delete(self, caller: Claims, user_id: str) -> None:
        self._admin(caller)
        await self.get(caller, user_id)
        async with access.store_errors("bot"):
            await self.store.write(sql.bots.delete_bot, caller.org, user_id)
        await self.load()

    async def load(self) -> None:
        """(Re)load the bots table. Of loads that overlap, the one started last wins (it
        read after every change made before it started)."""
        self._loads += 1
        mine = self._loads
        table: dict[str, dict[str, Bot]] = {}
        for bot in await self.store.read(sql.bots.list_bots, None):
            table.setdefault(bot.org, {})[bot.user_id] = bot
        if mine > self._installed:
            self._installed = mine
            self._bots = table

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Keep the bots table current (changes made on other nodes)."""
        task_status.started()
        while True:
            try:
                await self.load()
            except Exception as exc:
                log.warning("bots: loading the bots failed: %s", exc)
            await trio.sleep(self.config.refresh_interval)

    # -- the post hook -------------------------------------------------------------------

    async def after_post(self, result: PostResult) -> None:
        """The post hook. The post has committed: a failure here is logged, never the
        poster's error."""
        try:
            await self._trigger(result)
        except Exception:
            log.exception("bots: the trigger of message %s failed", result.message.id)

    async def _trigger(self, result: PostResult) -> None:
        if not result.created:
            return
        m = result.message
        org_bots = self._bots.get(m.org)
        if not org_bots or m.author in org_bots:
            return  # no bots here (the common case), or a bot's own post
        why: dict[str, str] = {}
        if "@" in m.text:
            for handle in content.parse_mentions(m.text).handles:
                bot = org_bots.get(handle)
                if bot is not None and bot.auto_respond != OFF:
                    why.setdefault(handle, "mention")
        dm_bots = [b for b in org_bots.values() if b.auto_respond == ON_DM and b.user_id not in why]
        if dm_bots:
            channel = await self.store.read(sql.channels.get_channel, m.org, m.channel_id)
            if channel is not None and channel.kind is ChannelKind.DIRECT:
                for b in dm_bots:
                    why[b.user_id] = "dm"
        targets = [
            (user, reason)
            for user, reason in why.items()
            if await access.is_member(self.store, m.org, m.channel_id, user)
        ]
        if not targets:
            return
        thread_root = None if result.event is None else result.event.data.get("thread_root")
        message = {
            "id": m.id,
            "channel": m.channel_id,
            "seq": m.seq,
            "author": m.author,
            "text": m.text,
            "thread_root": thread_root,
            "created_at": rfc3339(m.created_at),
        }
        items = []
        for user, reason in targets:
            body: dict[str, Any] = {
                "type": "bot_message",
                "org": m.org,
                "bot": user,
                "trigger": reason,
                "message": message,
            }
            items.append(
                (m.org, log_id(user), trigger_topic(m.org, user), orjson.dumps(body).decode())
            )
        await self.store.write(
            sql.webhooks.add_deliveries, items, now_us=self.jobs.now_us(), kind=JOB_KIND
        )
        self.jobs.wake(self.jobs.clock())

    async def deliveries(
        self, caller: Claims, user_id: str, *, before: str | None, limit: int | None
    ) -> list[Delivery]:
        self._admin(caller)
        await self.get(caller, user_id)
        n = rules.check_limit(limit, cap=rules.MAX_PAGE_LIMIT)
        if before is not None and not rules.is_clean(before):
            raise rules.bad("bad before")
        return await self.store.read(
            sql.webhooks.list_deliveries, caller.org, log_id(user_id), before=before, limit=n
        )

    # -- the job -------------------------------------------------------------------------

    async def deliver(self, job: Job) -> None:
        d = await self.store.read(sql.webhooks.get_delivery, job.org, job.key)
        if d is None or d.state != PENDING:
            return
        user = d.webhook_id.removeprefix(LOG_PREFIX)
        bot = await self.store.read(sql.bots.get_bot, d.org, user)
        now_us = self.jobs.now_us()
        if bot is None or bot.auto_respond == OFF:
            await mark_delivery(
                self.store, d, FAILED, job.attempts, None, "no longer an answering bot", now_us
            )
            return
        outcome = await outbound.post_signed(
            self.client,
            bot.webhook_url,
            bot.secret,
            d.body.encode(),
            delivery_id=d.id,
            topic=d.topic,
            now=self.jobs.clock(),
            allow_private=self.config.allow_private,
            seconds=self.config.timeout,
        )
        if outcome.ok:
            await mark_delivery(
                self.store, d, DELIVERED, job.attempts, outcome.status, None, now_us
            )
            return
        last = job.attempts >= self.config.max_attempts
        await mark_delivery(
            self.store,
            d,
            FAILED if last else PENDING,
            job.attempts,
            outcome.status,
            outcome.error,
            now_us,
        )
        if not last:
            raise Retry(outcome.error or "failed")
