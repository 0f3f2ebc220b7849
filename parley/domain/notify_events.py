"""Platform events as a source of notifications: the org's rules, and the built-in event
sources (a task assigned, a reaction to my message).

:class:`EventTap` wraps the :class:`EventSink` the domain publishes through: every
event published in an org (``POST /v1/events`` and ``:batch``, task events, committed
channel events; client ``publish`` ops arrive through :meth:`EventNotifier.offer` from
the hub) is handed to a bounded queue with ``send_nowait`` after its fan-out. Publishing
never waits for rules: a full queue drops the event and counts it (``dropped``).
:class:`EventNotifier` is the one task that consumes the queue; a rule that cannot be
evaluated is recorded on the rule (``error_count``, ``last_error``) and the pipeline goes
on. Events on user topics (``events.{org}.users.…``, notifications themselves included)
are never evaluated.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import trio

from parley.core.claims import Claims
from parley.core.errors import Unavailable
from parley.core.events import EventName
from parley.core.notifications import REACTION, TASK_ASSIGNED, StoredRule
from parley.core.ports import EventSink
from parley.core.records import ChannelEvent
from parley.core.topics import TASK_SOURCE, USER_SOURCE
from parley.domain import access, rules
from parley.domain.notifications import NotificationService
from parley.domain.notify_rules import Rule, RuleError, check_spec, compile_rule, evaluate
from parley.store import Store, sql

log = logging.getLogger("parley.notifications.rules")

#: Seconds a node keeps an org's rules before reading them again (changes made on this
#: node apply at once).
RULES_TTL = 5.0
#: Rules one org may hold.
MAX_RULES = 200


@dataclass(frozen=True, slots=True)
class Published:
    org: str
    topic: str
    #: The event as rules see it: topic, org, data, channel (docs/notifications.md).
    doc: dict[str, Any]
    #: The channel whose members alone may be told (channel and task events).
    channel_id: str | None


def _published(topic: str, data: Any, members_of: str | None) -> Published | None:
    parts = topic.split(".")
    if len(parts) < 3 or parts[0] != "events" or parts[2] == USER_SOURCE:
        return None
    channel = members_of
    if channel is None and parts[2] == TASK_SOURCE and isinstance(data, dict):
        cid = data.get("channel_id")
        channel = cid if isinstance(cid, str) else None
    doc = {"topic": topic, "org": parts[1], "data": data, "channel": channel}
    return Published(parts[1], topic, doc, channel)


def _channel_event(ev: ChannelEvent) -> Published:
    doc = {
        "topic": ev.topic,
        "org": ev.org,
        "channel": ev.channel_id,
        "event": str(ev.event),
        "seq": ev.seq,
        "data": ev.data,
    }
    return Published(ev.org, ev.topic, doc, ev.channel_id)


class EventNotifier:
    """The queue and its consumer task; also the rules' CRUD (admins and services)."""

    def __init__(
        self, store: Store, notifications: NotificationService, *, queue: int = 10_000
    ) -> None:
        self.store = store
        self.notifications = notifications
        self._send, self._receive = trio.open_memory_channel[Published](queue)
        self._rules: dict[str, tuple[float, list[Rule]]] = {}
        self.received = 0
        self.dropped = 0
        self.evaluated = 0
        #: Events not evaluated because the store was unavailable.
        self.lost = 0
        #: Channel events not queued: nothing could come of them (no rules in the org).
        self.skipped = 0

    # -- the producer side (never awaits) -----------------------------------------------

    def offer_published(self, topic: str, data: Any, members_of: str | None = None) -> None:
        ev = _published(topic, data, members_of)
        if ev is not None:
            self._offer(ev)

    def offer_channel_events(self, events: Sequence[ChannelEvent]) -> None:
        for ev in events:
            if ev.event is not EventName.REACTION_ADDED and self._known_without_rules(ev.org):
                # What handle() would do with it: the built-in sources only read reactions
                # from the channel log, and the org has no rules (the cache is fresh).
                self.skipped += 1
                continue
            self._offer(_channel_event(ev))

    def _known_without_rules(self, org: str) -> bool:
        cached = self._rules.get(org)
        return cached is not None and not cached[1] and trio.current_time() - cached[0] < RULES_TTL

    def _offer(self, ev: Published) -> None:
        try:
            self._send.send_nowait(ev)
            self.received += 1
        except trio.WouldBlock:
            self.dropped += 1

    # -- the consumer task ---------------------------------------------------------------

    async def run(self) -> None:
        async for ev in self._receive:
            try:
                await self.handle(ev)
            except Unavailable:
                self.lost += 1  # the store logs the outage once
            except Exception:  # one bad event never stops the pipeline
                log.exception("notification event %s failed", ev.topic)

    async def drain(self) -> int:
        """Handle every queued event now (tests and the bench); return how many."""
        n = 0
        while True:
            try:
                ev = self._receive.receive_nowait()
            except trio.WouldBlock:
                return n
            await self.handle(ev)
            n += 1

    async def handle(self, ev: Published) -> None:
        await self._builtin(ev)
        rules_ = await self._org_rules(ev.org)
        if not rules_:
            return
        parts = ev.topic.split(".")
        results: dict[str, tuple[int, int, str | None]] = {}
        for rule in rules_:
            if not rule.matches(parts):
                continue
            self.evaluated += 1
            try:
                rendered = evaluate(rule, ev.doc)
                if rendered is None:
                    continue
                await self._send_rule(
                    rule, ev, rendered.title, rendered.body, rendered.link, rendered.field_users
                )
                results[rule.id] = (1, 0, None)
            except RuleError as exc:
                results[rule.id] = (0, 1, str(exc))
            except Exception as exc:  # a rule must never crash the pipeline
                log.exception("rule %s failed", rule.id)
                results[rule.id] = (0, 1, f"internal error: {type(exc).__name__}")
        if results:
            await self.store.write(
                sql.notify_rules.record_results, results, now_us=self.notifications.now_us()
            )

    async def _send_rule(
        self,
        rule: Rule,
        ev: Published,
        title: str,
        body: str,
        link: dict[str, str],
        field_users: tuple[str, ...],
    ) -> None:
        users: dict[str, None] = dict.fromkeys(rule.users)
        if rule.team is not None:
            teams = await self.store.read(sql.teams.team_members_by_name, ev.org, [rule.team])
            if rule.team not in teams:
                raise RuleError(f"no team named {rule.team!r}")
            users.update(dict.fromkeys(teams[rule.team]))
        users.update(dict.fromkeys(field_users))
        recipients = list(users)
        if ev.channel_id is not None:  # nothing reaches a user who could not read it
            members = await self.store.read(
                sql.notify_prefs.members_among, ev.org, ev.channel_id, recipients
            )
            recipients = [u for u in recipients if u in members]
            link = {"channel": ev.channel_id, **link}
        await self.notifications.send(
            ev.org,
            recipients,
            type_=rule.type,
            priority=rule.priority,
            title=title or rule.type,
            body=body,
            link=link,
            actor=None,
            source={"kind": "rule", "id": rule.id, "topic": ev.topic},
        )

    async def _builtin(self, ev: Published) -> None:
        parts = ev.topic.split(".")
        data = ev.doc.get("data")
        if not isinstance(data, dict):
            return
        if len(parts) == 6 and parts[2:5] == [TASK_SOURCE, "task", "created"]:
            assignee, creator = data.get("assignee"), data.get("created_by")
            channel = data.get("channel_id")
            if isinstance(assignee, str) and assignee != creator and isinstance(channel, str):
                await self.notifications.send(
                    ev.org,
                    [assignee],
                    type_=TASK_ASSIGNED,
                    priority="normal",
                    title=f"{creator} assigned you a task",
                    body=str(data.get("title", "")),
                    link={"channel": channel, "message": str(data.get("message_id", ""))},
                    actor=creator if isinstance(creator, str) else None,
                    source={"kind": "task", "id": parts[5]},
                )
        elif ev.doc.get("event") == EventName.REACTION_ADDED and ev.channel_id is not None:
            reactor, message_id = data.get("user_id"), data.get("message_id")
            if not isinstance(message_id, str):
                return
            msg = await self.store.read(sql.messages.get_message, ev.org, ev.channel_id, message_id)
            if msg is None or msg.deleted or msg.author == reactor:
                return
            blockers = await self.store.read(
                sql.blocks.blockers_of, ev.org, str(reactor), [msg.author]
            )
            if blockers:
                return
            await self.notifications.send(
                ev.org,
                [msg.author],
                type_=REACTION,
                priority="low",
                title=f"{reactor} reacted {data.get('emoji', '')} to your message",
                body=msg.text[:300],
                link={"channel": ev.channel_id, "message": msg.id},
                actor=reactor if isinstance(reactor, str) else None,
                source={"kind": "reaction", "message": msg.id},
            )

    async def _org_rules(self, org: str) -> list[Rule]:
        now = trio.current_time()
        cached = self._rules.get(org)
        if cached is not None and now - cached[0] < RULES_TTL:
            return cached[1]
        stored = await self.store.read(sql.notify_rules.list_rules, org)
        compiled: list[Rule] = []
        for r in stored:
            if not r.enabled:
                continue
            try:
                compiled.append(compile_rule(r.id, r.org, r.spec))
            except (KeyError, TypeError, ValueError):
                log.warning("rule %s has a bad stored definition", r.id)
        self._rules[org] = (now, compiled)
        return compiled

    # -- rules CRUD ----------------------------------------------------------------------

    @staticmethod
    def _may_manage(caller: Claims) -> None:
        if not (caller.is_service or caller.is_org_admin):
            raise access.forbidden("only the org's admins and services manage notification rules")

    async def create_rule(self, caller: Claims, body: object) -> StoredRule:
        self._may_manage(caller)
        if not isinstance(body, dict):
            raise rules.bad("the body must be a JSON object")
        name, spec, enabled = check_spec(caller.org, body)
        if await self.store.read(sql.notify_rules.count_rules, caller.org) >= MAX_RULES:
            raise rules.bad(f"at most {MAX_RULES} rules per org")
        rule = await self.store.write(
            sql.notify_rules.create_rule,
            caller.org,
            name,
            spec,
            enabled=enabled,
            created_by=caller.sub,
            now_us=self.notifications.now_us(),
        )
        self._rules.pop(caller.org, None)
        return rule

    async def rule(self, caller: Claims, rule_id: str) -> StoredRule:
        self._may_manage(caller)
        r = None
        if rules.is_clean(rule_id):
            r = await self.store.read(sql.notify_rules.get_rule, caller.org, rule_id)
        if r is None:
            raise access.not_found("rule")
        return r

    async def list_rules(self, caller: Claims) -> list[StoredRule]:
        self._may_manage(caller)
        return await self.store.read(sql.notify_rules.list_rules, caller.org)

    async def update_rule(self, caller: Claims, rule_id: str, body: object) -> StoredRule:
        """Replace the definition (the whole body, as for create)."""
        await self.rule(caller, rule_id)
        if not isinstance(body, dict):
            raise rules.bad("the body must be a JSON object")
        name, spec, enabled = check_spec(caller.org, body)
        r = await self.store.write(
            sql.notify_rules.update_rule,
            caller.org,
            rule_id,
            name,
            spec,
            enabled=enabled,
            now_us=self.notifications.now_us(),
        )
        if r is None:
            raise access.not_found("rule")
        self._rules.pop(caller.org, None)
        return r

    async def delete_rule(self, caller: Claims, rule_id: str) -> None:
        await self.rule(caller, rule_id)
        await self.store.write(sql.notify_rules.delete_rule, caller.org, rule_id)
        self._rules.pop(caller.org, None)


class EventTap:
    """An :class:`EventSink` that fans out through ``inner`` and then offers each event
    to the notifier (never awaits)."""

    def __init__(self, inner: EventSink, notifier: EventNotifier) -> None:
        self._inner = inner
        self._notifier = notifier

    def publish(
        self, topic: str, data: Any, *, ts: datetime | None = None, members_of: str | None = None
    ) -> int:
        n = self._inner.publish(topic, data, ts=ts, members_of=members_of)
        self._notifier.offer_published(topic, data, members_of)
        return n

    def publish_channel_events(self, events: Sequence[ChannelEvent]) -> None:
        self._inner.publish_channel_events(events)
        self._notifier.offer_channel_events(events)

    def publish_channel_ephemeral(self, org: str, channel_id: str, event: str, data: Any) -> int:
        return self._inner.publish_channel_ephemeral(org, channel_id, event, data)
