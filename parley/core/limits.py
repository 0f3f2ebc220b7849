"""Limits in force on every connection: configurable, documented in docs/protocol.md."""

from __future__ import annotations

from dataclasses import dataclass

#: Longest idempotency key of a post (characters), over WebSocket and REST alike.
MAX_IDEMPOTENCY_KEY_CHARS = 128
#: Files one message carries at most.
MAX_FILES_PER_MESSAGE = 10


@dataclass(frozen=True, slots=True)
class Limits:
    #: Largest inbound frame (bytes). Bigger -> close 1009.
    max_frame_bytes: int = 64 * 1024
    #: Subscriptions one connection may hold. More -> error ``too_many_subscriptions``.
    max_subscriptions: int = 1000
    #: Connections the whole server accepts. More -> close 4003.
    max_connections: int = 100_000
    #: Concurrent connections of one user (``sub`` within ``org``). More -> close 4500.
    max_connections_per_user: int = 32
    #: Publishes per second per connection (token bucket, burst below). Over -> ``rate_limited``.
    publish_rate: float = 1000.0
    publish_burst: int = 2000
    #: Publishes per second of one user over all their connections (token bucket, burst
    #: below), so that ``max_connections_per_user`` connections do not multiply the rate.
    user_publish_rate: float = 1000.0
    user_publish_burst: int = 2000
    #: Error replies (bad JSON, unknown op, bad request) tolerated before close 1008.
    max_bad_frames: int = 10
    #: Outbound frames queued for one connection before it is a slow consumer (close 4000).
    outbox_max_frames: int = 4096
    #: Outbound bytes queued for one connection before it is a slow consumer (close 4000).
    outbox_max_bytes: int = 8 * 1024 * 1024
    #: Commands (e.g. ``post``, recovery) awaiting the store at once per connection.
    max_in_flight: int = 64
    #: Events one recovery replay delivers at most; beyond it the reply says page over REST.
    recovery_max_events: int = 10_000

    def as_dict(self) -> dict[str, int | float]:
        return {
            "max_frame_bytes": self.max_frame_bytes,
            "max_subscriptions": self.max_subscriptions,
            "max_connections": self.max_connections,
            "max_connections_per_user": self.max_connections_per_user,
            "publish_rate": self.publish_rate,
            "publish_burst": self.publish_burst,
            "user_publish_rate": self.user_publish_rate,
            "user_publish_burst": self.user_publish_burst,
            "max_bad_frames": self.max_bad_frames,
            "outbox_max_frames": self.outbox_max_frames,
            "outbox_max_bytes": self.outbox_max_bytes,
            "max_in_flight": self.max_in_flight,
            "recovery_max_events": self.recovery_max_events,
        }
