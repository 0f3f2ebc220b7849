"""The Parley client SDK on trio (docs/clients.md, "Python SDK").

It is a client: it imports only :mod:`parley.core` (the shared vocabulary: close codes and
their actions, topic patterns), never the broker, store, domain or API (an import-linter
contract in pyproject.toml says so).

    async with connect("ws://127.0.0.1:8765/ws", token=token) as client:
        async for event in client.subscribe("events.acme.conversations.>"):
            ...
"""

from __future__ import annotations

from parley.client.backoff import Backoff
from parley.client.client import Client, Posted, State, connect
from parley.client.errors import (
    CommandError,
    ConnectionLost,
    ParleyError,
    ReplyTimeout,
    Stopped,
)
from parley.client.events import ChannelEvent, Event, Hello, PresenceUpdate, PresenceUser
from parley.client.rest import Rest
from parley.client.subscription import Subscription
from parley.client.tokens import TokenSource

__all__ = [
    "Backoff",
    "ChannelEvent",
    "Client",
    "CommandError",
    "ConnectionLost",
    "Event",
    "Hello",
    "ParleyError",
    "Posted",
    "PresenceUpdate",
    "PresenceUser",
    "ReplyTimeout",
    "Rest",
    "State",
    "Stopped",
    "Subscription",
    "TokenSource",
    "connect",
]
