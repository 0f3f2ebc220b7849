"""The notification settings the composition root hands the notification services
(``PARLEY_SMTP_*``, ``PARLEY_EMAIL_*``, ``PARLEY_VAPID_*``, ``PARLEY_PUBLIC_URL``...)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class NotifyConfig:
    #: Seconds a notification must stay unread before it goes out by email.
    email_delay: float = 600.0
    #: Seconds between two sweeps of the email step (digests).
    email_interval: float = 30.0
    #: ``smtp://[user:password@]host:port[?starttls=true]`` or ``smtps://...``; empty: no email.
    smtp_url: str = ""
    smtp_from: str = "Parley <parley@localhost>"
    #: Seconds one SMTP session may take.
    smtp_timeout: float = 30.0
    #: Base URL of this server as users reach it (unsubscribe links in emails).
    public_url: str = "http://127.0.0.1:8080"
    #: The VAPID private key (PEM); empty: no Web Push.
    vapid_private_key: str = ""
    #: The ``sub`` claim of VAPID tokens (``mailto:`` or ``https:``), RFC 8292.
    vapid_subject: str = "mailto:admin@localhost"
    #: Seconds a push service keeps an undelivered push (the TTL header).
    push_ttl: int = 86400
    #: Seconds one push request may take.
    push_timeout: float = 10.0
    #: Pushes in flight at once per push service origin, each on a keep-alive connection
    #: of its own (docs/notifications.md, Web Push).
    push_concurrency: int = 16
    #: Events waiting for rule evaluation, and push batches waiting to be sent; beyond,
    #: new ones are dropped and counted (publishing never waits).
    event_queue: int = 10_000
    push_queue: int = 1_000
    #: Seconds between two looks for due scheduled notifications (the built-in poller).
    scheduled_interval: float = 5.0
