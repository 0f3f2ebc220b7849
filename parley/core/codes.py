"""Close codes and error codes: each defined once, documented in docs/protocol.md.

Close codes follow RFC 6455 for protocol-level conditions. Application codes use
4000-4999, split so a client can decide without a table of special cases:

* 4000-4499: transient. Reconnect with backoff (and, for ``TOKEN_EXPIRED``, a fresh token).
* 4500-4999: terminal. Reconnecting with the same credentials and behaviour will fail again.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum


class CloseCode(IntEnum):
    NORMAL = 1000
    GOING_AWAY = 1001  # server shutdown
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003  # binary frame
    POLICY_VIOLATION = 1008  # bad auth, bad origin, too many bad frames
    MESSAGE_TOO_BIG = 1009
    INTERNAL_ERROR = 1011
    TRY_AGAIN_LATER = 1013  # the database is unreachable: reconnect with backoff

    # 4000-4499: reconnect (with backoff)
    SLOW_CONSUMER = 4000
    PONG_TIMEOUT = 4001
    TOKEN_EXPIRED = 4002  # refresh the token, then reconnect
    SERVER_OVERLOAD = 4003  # the server is at its connection limit

    # 4500-4999: terminal (do not reconnect as-is)
    CONNECTION_LIMIT = 4500  # too many connections for this user


class ErrorCode(StrEnum):
    """The ``error.code`` of a failed reply (WebSocket) or response (REST)."""

    BAD_JSON = "bad_json"
    BAD_REQUEST = "bad_request"
    UNKNOWN_OP = "unknown_op"
    INVALID_TOPIC = "invalid_topic"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    RATE_LIMITED = "rate_limited"
    TOO_MANY_SUBSCRIPTIONS = "too_many_subscriptions"
    ALREADY_SUBSCRIBED = "already_subscribed"
    NOT_SUBSCRIBED = "not_subscribed"
    TOO_MANY_IN_FLIGHT = "too_many_in_flight"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    QUOTA_EXCEEDED = "quota_exceeded"
    UNAUTHORIZED = "unauthorized"
    UNAVAILABLE = "unavailable"
    INTERNAL = "internal"
