"""One connection's state, sans-IO: where it is in its life and what is due next.

A connection is ``CONNECTING`` (upgrading and authenticating), ``OPEN``, ``CLOSING`` (a close
frame went out or came in; the close handshake has ``close_timeout`` to finish) or
``CLOSED`` (the transport is gone). :class:`Lifecycle` holds that state and the timers that
go with it: the handshake deadline, the keepalive (a ping every ``ping_interval`` after the
last pong, close 4001 if the pong is not in within ``ping_timeout``), the token's expiry
(close 4002) and the close deadline. It does no I/O and reads no clock: every call that
depends on time takes ``now`` (the trio adapter passes ``trio.current_time()``).

The adapter waits for the peer only until :meth:`Lifecycle.next_deadline`, then calls
:meth:`Lifecycle.on_deadline` and does what it returns: send a ping, start a close with a
code, or abort the connection. A transition the current state does not allow raises
:class:`LifecycleError`, naming that state (STYLE 2; h11's ``_state.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from math import inf

from parley.core.codes import CloseCode

#: After a close starts (ours or the peer's), how long the close handshake may take before
#: the transport is dropped.
CLOSE_TIMEOUT = 2.0


class ConnState(Enum):
    CONNECTING = "connecting"
    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"


class LifecycleError(Exception):
    """Our bug: ``action`` is not allowed in ``state`` (the peer cannot cause this)."""

    def __init__(self, action: str, state: ConnState) -> None:
        super().__init__(f"can't {action} in state {state.name}")
        self.action = action
        self.state = state


@dataclass(frozen=True, slots=True)
class SendPing:
    """Send a ping with this payload (already recorded as outstanding)."""

    payload: bytes


@dataclass(frozen=True, slots=True)
class StartClose:
    """Start the close handshake with ``code`` (then call :meth:`Lifecycle.start_close`)."""

    code: CloseCode
    reason: str


@dataclass(frozen=True, slots=True)
class Abort:
    """Drop the transport: the handshake or the close handshake took too long."""


#: What :meth:`Lifecycle.on_deadline` asks for.
Due = SendPing | StartClose | Abort
ABORT = Abort()
PONG_TIMEOUT = StartClose(CloseCode.PONG_TIMEOUT, "no pong within the keepalive timeout")
TOKEN_EXPIRED = StartClose(CloseCode.TOKEN_EXPIRED, "token expired: refresh and reconnect")


class Lifecycle:
    """The state of one connection and its deadlines (all times on the caller's clock)."""

    __slots__ = (
        "_close_timeout",
        "_expires_at",
        "_interval",
        "_pings",
        "_timeout",
        "_timer_at",
        "_waiting_pong",
        "close_code",
        "state",
    )

    def __init__(
        self,
        now: float,
        *,
        handshake_timeout: float,
        ping_interval: float,
        ping_timeout: float,
        close_timeout: float = CLOSE_TIMEOUT,
    ) -> None:
        self.state = ConnState.CONNECTING
        #: The code of the close we started, if we did.
        self.close_code: CloseCode | None = None
        self._interval = ping_interval
        self._timeout = ping_timeout
        self._close_timeout = close_timeout
        #: The one timer of the current state: the handshake deadline (CONNECTING), the next
        #: ping or, while ``_waiting_pong``, the pong deadline (OPEN), the close deadline
        #: (CLOSING); never (CLOSED).
        self._timer_at = now + handshake_timeout
        self._waiting_pong = False
        self._pings = 0
        #: The token's expiry (OPEN only).
        self._expires_at = inf

    def __repr__(self) -> str:
        return f"<Lifecycle {self.state.name} next={self.next_deadline()}>"

    # -- transitions ------------------------------------------------------------------
    def open(self, now: float, expires_at: float) -> None:
        """The upgrade is accepted and the peer authenticated: CONNECTING -> OPEN. The
        first ping is due ``ping_interval`` from ``now``; the token expires at
        ``expires_at``."""
        self._require("open", ConnState.CONNECTING)
        self.state = ConnState.OPEN
        self._timer_at = now + self._interval
        self._expires_at = expires_at

    def start_close(self, code: CloseCode, now: float) -> None:
        """We send a close frame with ``code``: CONNECTING or OPEN -> CLOSING; the close
        handshake must be over by ``now + close_timeout``."""
        self._require("start a close", ConnState.CONNECTING, ConnState.OPEN)
        self.close_code = code
        self._closing(now)

    def peer_closed(self, now: float) -> bool:
        """The peer's close frame arrived. True if the peer started the close (OPEN ->
        CLOSING; answer it), False if it answers ours (still CLOSING; nothing to send)."""
        self._require("receive a close", ConnState.OPEN, ConnState.CLOSING)
        if self.state is ConnState.CLOSING:
            return False
        self._closing(now)
        return True

    def closed(self) -> None:
        """The transport is gone (from any state; again is a no-op)."""
        self.state = ConnState.CLOSED
        self._timer_at = inf
        self._waiting_pong = False

    def _closing(self, now: float) -> None:
        self.state = ConnState.CLOSING
        self._timer_at = now + self._close_timeout
        self._waiting_pong = False

    def _require(self, action: str, *allowed: ConnState) -> None:
        if self.state not in allowed:
            raise LifecycleError(action, self.state)

    # -- input ------------------------------------------------------------------------
    def token_expires(self, expires_at: float) -> None:
        """The token was refreshed: it now expires at ``expires_at``."""
        self._expires_at = expires_at

    def on_pong(self, payload: bytes, now: float) -> bool:
        """A pong arrived; True if it answers the outstanding ping (the next ping is then
        due ``ping_interval`` from ``now``). Any other pong is ignored."""
        if not self._waiting_pong or payload != self._pings.to_bytes(4, "big"):
            return False
        self._waiting_pong = False
        self._timer_at = now + self._interval
        return True

    # -- deadlines --------------------------------------------------------------------
    def next_deadline(self) -> float:
        """When :meth:`on_deadline` must next be called (``inf``: never)."""
        if self.state is ConnState.OPEN:
            return min(self._timer_at, self._expires_at)
        return self._timer_at

    def on_deadline(self, now: float) -> Due | None:
        """What is due at ``now``, if anything (None when woken early, e.g. for an expiry a
        refresh has since moved). A ping is recorded as sent; a close is only asked for."""
        state = self.state
        if state is ConnState.OPEN:
            if self._expires_at <= now:
                return TOKEN_EXPIRED
            if now < self._timer_at:
                return None
            if self._waiting_pong:
                return PONG_TIMEOUT
            self._pings += 1
            self._waiting_pong = True
            self._timer_at = now + self._timeout
            return SendPing(self._pings.to_bytes(4, "big"))
        if now < self._timer_at:
            return None
        return ABORT  # CONNECTING or CLOSING took too long
