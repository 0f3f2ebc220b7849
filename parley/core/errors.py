"""Errors that say whose fault they are.

:class:`ClientError` is the peer's fault: it carries the :class:`ErrorCode` to reply with
(WebSocket error reply, or a REST 4xx via ``api.errors``). Anything else that escapes a
handler is our bug: the connection closes with 1011, the REST layer answers 500.
"""

from __future__ import annotations

from parley.core.codes import CloseCode, ErrorCode


class ClientError(Exception):
    """The client sent something we refuse; reply with ``code`` and keep the connection."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class RateLimited(ClientError):
    """Too many requests: ``rate_limited`` (REST 429 with ``Retry-After``, whole seconds
    rounded up from ``retry_after``)."""

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(ErrorCode.RATE_LIMITED, message)
        self.retry_after = retry_after


class CloseConnection(Exception):
    """The connection must close with ``code`` (and ``reason``)."""

    def __init__(self, code: CloseCode, reason: str) -> None:
        super().__init__(f"{int(code)} {reason}")
        self.code = code
        self.reason = reason


class AuthError(Exception):
    """The credentials are refused; ``reason`` goes into the 1008 close or the 401 body.
    ``expired``: the token was good but has expired (the broker closes with 4002, so a
    client refreshes its token instead of giving up)."""

    def __init__(self, reason: str, *, expired: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.expired = expired


class Unavailable(Exception):
    """A dependency (the database) cannot be reached now: not the client's fault, and not
    a bug. The REST layer answers 503 ``unavailable`` with ``Retry-After``, the broker an
    ``unavailable`` error reply; the outage is logged once, where it is detected."""

    def __init__(self, message: str, *, retry_after: int = 5) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after
