"""The notification system as one bundle: the service, the event notifier (rules and
event sources), the chat post hook, the scheduler of ``send_at`` and the delivery steps
(Web Push, email), with the background tasks they run (docs/notifications.md)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import trio

from parley.core.ports import EventSink, PresenceLookup
from parley.domain.notifications import NotificationService
from parley.domain.notify_config import NotifyConfig
from parley.domain.notify_email import Mailer
from parley.domain.notify_events import EventNotifier, EventTap
from parley.domain.notify_push import Pusher, VapidKey
from parley.domain.notify_schedule import SendLater, TableScheduler
from parley.domain.notify_sources import ChatSources
from parley.store import Store


@dataclass(frozen=True)
class Notifications:
    service: NotificationService
    events: EventNotifier
    chat: ChatSources
    #: ``send_at`` requests: the built-in table poller until a jobs service replaces it.
    later: SendLater
    #: Web Push (None without a VAPID key) and email (None without ``PARLEY_SMTP_URL``).
    push: Pusher | None
    email: Mailer | None
    unsubscribe_key: bytes

    async def run(self) -> None:
        """The background tasks: rule evaluation, the scheduled-notification poller (when
        it is the built-in one), the push and email steps."""
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self.events.run)
            if isinstance(self.later, TableScheduler):
                nursery.start_soon(self.later.run)
            if self.push is not None:
                nursery.start_soon(self.push.run)
            if self.email is not None:
                nursery.start_soon(self.email.run)


def build_notifications(
    store: Store,
    sink: EventSink,
    config: NotifyConfig,
    *,
    unsubscribe_key: bytes,
    clock: Callable[[], float] = time.time,
    later: Callable[[NotificationService], SendLater] | None = None,
    presence: PresenceLookup | None = None,
) -> tuple[Notifications, EventSink]:
    """The bundle, and the sink the rest of the domain must publish through (it hands
    every published event to the rules after its fan-out). ``later`` makes the scheduler
    of ``send_at`` requests from the service (its job handler calls
    ``service.send_request``); by default the built-in :class:`TableScheduler`.
    ``presence`` (the broker's) lets ``@here`` reach only the members online."""
    service = NotificationService(store, sink, config, clock=clock)
    events = EventNotifier(store, service, queue=config.event_queue)
    push = None
    if config.vapid_private_key:
        push = Pusher(store, VapidKey(config.vapid_private_key), config, clock=clock)
        service.push = push
    email = Mailer(store, config, unsubscribe_key, clock=clock) if config.smtp_url else None
    bundle = Notifications(
        service=service,
        events=events,
        chat=ChatSources(store, service, presence),
        later=(
            TableScheduler(store, service, interval=config.scheduled_interval)
            if later is None
            else later(service)
        ),
        push=push,
        email=email,
        unsubscribe_key=unsubscribe_key,
    )
    return bundle, EventTap(sink, events)
