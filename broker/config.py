"""What the broker is configured with; the composition root (``parley.app``) builds it
from the settings, tests build it directly."""

from __future__ import annotations

from dataclasses import dataclass, field

from parley.broker.access import DEFAULT_TOPIC_NAMESPACES
from parley.core.limits import Limits


@dataclass(frozen=True, slots=True)
class BrokerConfig:
    host: str = "127.0.0.1"
    port: int = 8765
    #: Exact origins allowed (``*`` allows any). Empty: allow requests without an Origin
    #: header (non-browser clients) and same-host browser origins only.
    allowed_origins: tuple[str, ...] = ()
    #: With no ``allowed_origins``: other ports of the same host whose pages may connect
    #: too (the REST port serving the web app at ``/app``, docs/clients.md).
    same_host_ports: tuple[int, ...] = ()
    ping_interval: float = 25.0
    ping_timeout: float = 10.0
    handshake_timeout: float = 10.0
    shutdown_timeout: float = 5.0
    #: Who may read and publish which topic prefixes inside an org, as JSON
    #: (``PARLEY_TOPIC_NAMESPACES``; parsed by ``TopicPolicy.parse``, docs/protocol.md).
    topic_namespaces: str = DEFAULT_TOPIC_NAMESPACES
    limits: Limits = field(default_factory=Limits)
