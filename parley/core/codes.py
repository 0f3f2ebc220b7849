"""Close codes and error codes: each defined once, documented in docs/protocol.md.

Close codes follow RFC 6455 for protocol-level conditions. Application codes use
4000-4999, split so a client can decide without a table of special cases:

* 4000-4499: transient. Reconnect with backoff (and, for ``TOKEN_EXPIRED``, a fresh token).
* 4500-4999: terminal. Reconnecting with the same credentials and behaviour will fail again.

:func:`close_action` says what a client SDK does on each code (docs/protocol.md, "Close
codes"): the one table both SDKs follow.
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
    TOKEN_EXPIRED = 4002  # refresh the token, then reconnect (also at the handshake)
    SERVER_OVERLOAD = 4003  # the server is at its connection limit

    # 4500-4999: terminal (do not reconnect as-is)
    CONNECTION_LIMIT = 4500  # too many connections for this user


#: Not sent on the wire: the connection dropped without a close frame (RFC 6455 7.1.5).
ABNORMAL_CLOSURE = 1006


class CloseAction(StrEnum):
    """What a client does when its connection closes with a code."""

    #: Reconnect after the normal jittered backoff, then resume.
    RECONNECT = "reconnect"
    #: The server is unwell or full: reconnect after a longer backoff (at least
    #: :data:`BACKOFF_FLOOR_SECONDS`), then resume.
    BACKOFF = "backoff"
    #: Get a fresh token (the token callback), then reconnect at once and resume.
    REFRESH = "refresh"
    #: Do not reconnect: the same token or behaviour fails again; surface the reason.
    STOP = "stop"


#: The shortest wait before reconnecting after a :attr:`CloseAction.BACKOFF` code.
BACKOFF_FLOOR_SECONDS = 5.0

CLOSE_ACTIONS: dict[int, CloseAction] = {
    CloseCode.NORMAL: CloseAction.RECONNECT,
    CloseCode.GOING_AWAY: CloseAction.RECONNECT,
    CloseCode.PROTOCOL_ERROR: CloseAction.BACKOFF,
    CloseCode.UNSUPPORTED_DATA: CloseAction.STOP,
    ABNORMAL_CLOSURE: CloseAction.RECONNECT,
    CloseCode.POLICY_VIOLATION: CloseAction.STOP,
    CloseCode.MESSAGE_TOO_BIG: CloseAction.BACKOFF,
    CloseCode.INTERNAL_ERROR: CloseAction.BACKOFF,
    CloseCode.TRY_AGAIN_LATER: CloseAction.BACKOFF,
    CloseCode.SLOW_CONSUMER: CloseAction.RECONNECT,
    CloseCode.PONG_TIMEOUT: CloseAction.RECONNECT,
    CloseCode.TOKEN_EXPIRED: CloseAction.REFRESH,
    CloseCode.SERVER_OVERLOAD: CloseAction.BACKOFF,
    CloseCode.CONNECTION_LIMIT: CloseAction.STOP,
}


def close_action(code: int | None) -> CloseAction:
    """The action for a close code; a code not in the table by its range (4000-4499
    back off, 4500-4999 stop, anything else reconnect); ``None`` (no close frame) is 1006."""
    if code is None:
        code = ABNORMAL_CLOSURE
    action = CLOSE_ACTIONS.get(code)
    if action is not None:
        return action
    if 4000 <= code < 4500:
        return CloseAction.BACKOFF
    if 4500 <= code < 5000:
        return CloseAction.STOP
    return CloseAction.RECONNECT


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
