"""What the client SDK raises. Each error says whose fault it is: the server refused a
command (:class:`CommandError`, with the protocol's error code), the connection was
closed for good (:class:`Stopped`, with the close code), or no reply came in time."""

from __future__ import annotations

from typing import Any


class ParleyError(Exception):
    """Base class of every error the client raises."""


class CommandError(ParleyError):
    """The server answered a command (WebSocket) or request (REST) with an error:
    ``code`` is the protocol's ``error.code`` (``forbidden``, ``not_found``...)."""

    def __init__(self, code: str, message: str, *, status: int | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        #: The HTTP status of a REST error, None over the WebSocket.
        self.status = status

    @classmethod
    def from_body(cls, body: Any, *, status: int | None = None) -> CommandError:
        err = body.get("error") if isinstance(body, dict) else None
        if isinstance(err, dict):
            return cls(str(err.get("code")), str(err.get("message")), status=status)
        return cls("internal", f"unexpected error body: {body!r}"[:200], status=status)


class ReplyTimeout(ParleyError):
    """No reply to a command within its timeout (it may still have run on the server)."""


class ConnectionLost(ParleyError):
    """The connection dropped before a command that cannot be safely resent got its
    reply (``typing``, ``publish``...): it may or may not have run."""


class Stopped(ParleyError):
    """The client will not reconnect: closed by the application, or the server closed
    with a code whose action is "stop" (docs/protocol.md, "Close codes")."""

    def __init__(self, code: int | None, reason: str) -> None:
        super().__init__(f"{code} {reason}" if code is not None else reason)
        self.code = code
        self.reason = reason
