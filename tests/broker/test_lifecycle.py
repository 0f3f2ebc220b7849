"""The connection's state object on plain floats: no trio, no sockets, no clock."""

from __future__ import annotations

from math import inf

import pytest

from parley.broker.lifecycle import (
    ABORT,
    CLOSE_TIMEOUT,
    ConnState,
    Lifecycle,
    LifecycleError,
    SendPing,
    StartClose,
)
from parley.core.codes import CloseCode

HANDSHAKE = 10.0
INTERVAL = 25.0
TIMEOUT = 10.0


def new(now: float = 100.0) -> Lifecycle:
    return Lifecycle(now, handshake_timeout=HANDSHAKE, ping_interval=INTERVAL, ping_timeout=TIMEOUT)


def opened(now: float = 100.0, expires_at: float = inf) -> Lifecycle:
    lc = new(now)
    lc.open(now, expires_at)
    return lc


def payload(n: int) -> bytes:
    return n.to_bytes(4, "big")


# -- transitions ------------------------------------------------------------------------
def test_starts_connecting_with_the_handshake_deadline() -> None:
    lc = new(100.0)
    assert lc.state is ConnState.CONNECTING
    assert lc.close_code is None
    assert lc.next_deadline() == 110.0
    assert lc.on_deadline(109.9) is None
    assert lc.on_deadline(110.0) is ABORT
    assert lc.state is ConnState.CONNECTING  # aborting is the adapter's to do


def test_open_schedules_the_first_ping() -> None:
    lc = new(100.0)
    lc.open(101.0, expires_at=1000.0)
    assert lc.state is ConnState.OPEN
    assert lc.next_deadline() == 101.0 + INTERVAL


def test_refused_after_the_upgrade_connecting_to_closing() -> None:
    lc = new(100.0)
    lc.start_close(CloseCode.POLICY_VIOLATION, 101.0)
    assert (lc.state, lc.close_code) == (ConnState.CLOSING, CloseCode.POLICY_VIOLATION)
    assert lc.next_deadline() == 101.0 + CLOSE_TIMEOUT


def test_we_close_open_to_closing_then_the_peer_answers() -> None:
    lc = opened(100.0)
    lc.start_close(CloseCode.GOING_AWAY, 110.0)
    assert (lc.state, lc.close_code) == (ConnState.CLOSING, CloseCode.GOING_AWAY)
    assert lc.next_deadline() == 110.0 + CLOSE_TIMEOUT
    assert lc.peer_closed(111.0) is False  # their answer: nothing to send back
    assert lc.state is ConnState.CLOSING
    assert lc.next_deadline() == 110.0 + CLOSE_TIMEOUT  # the deadline does not move


def test_peer_closes_open_to_closing_bounded_by_the_close_deadline() -> None:
    lc = opened(100.0)
    assert lc.peer_closed(110.0) is True  # answer it
    assert (lc.state, lc.close_code) == (ConnState.CLOSING, None)
    assert lc.next_deadline() == 110.0 + CLOSE_TIMEOUT
    assert lc.on_deadline(110.0 + CLOSE_TIMEOUT - 0.1) is None
    assert lc.on_deadline(110.0 + CLOSE_TIMEOUT) is ABORT


@pytest.mark.parametrize("state", ["connecting", "open", "closing"])
def test_closed_from_any_state_and_again(state: str) -> None:
    lc = new()
    if state != "connecting":
        lc.open(100.0, inf)
    if state == "closing":
        lc.start_close(CloseCode.NORMAL, 100.0)
    lc.closed()
    assert lc.state is ConnState.CLOSED
    assert lc.next_deadline() == inf
    assert lc.on_deadline(1e12) is None
    lc.closed()
    assert lc.state is ConnState.CLOSED


def to_state(state: ConnState) -> Lifecycle:
    lc = new(100.0)
    if state is ConnState.CONNECTING:
        return lc
    if state is ConnState.CLOSED:
        lc.closed()
        return lc
    lc.open(100.0, inf)
    if state is ConnState.CLOSING:
        lc.start_close(CloseCode.NORMAL, 100.0)
    return lc


@pytest.mark.parametrize(
    ("state", "action", "call"),
    [
        (ConnState.OPEN, "open", lambda lc: lc.open(1.0, inf)),
        (ConnState.CLOSING, "open", lambda lc: lc.open(1.0, inf)),
        (ConnState.CLOSED, "open", lambda lc: lc.open(1.0, inf)),
        (ConnState.CLOSING, "start a close", lambda lc: lc.start_close(CloseCode.NORMAL, 1.0)),
        (ConnState.CLOSED, "start a close", lambda lc: lc.start_close(CloseCode.NORMAL, 1.0)),
        (ConnState.CONNECTING, "receive a close", lambda lc: lc.peer_closed(1.0)),
        (ConnState.CLOSED, "receive a close", lambda lc: lc.peer_closed(1.0)),
    ],
)
def test_illegal_transitions_raise_naming_the_state(
    state: ConnState, action: str, call: object
) -> None:
    lc = to_state(state)
    assert callable(call)
    with pytest.raises(LifecycleError) as info:
        call(lc)
    assert (info.value.state, info.value.action) == (state, action)
    assert str(info.value) == f"can't {action} in state {state.name}"
    assert lc.state is state  # nothing changed


# -- keepalive --------------------------------------------------------------------------
def test_ping_then_pong_then_next_ping_from_the_pong() -> None:
    lc = opened(0.0)
    assert lc.next_deadline() == INTERVAL
    assert lc.on_deadline(INTERVAL - 0.5) is None  # woken early: nothing due
    assert lc.on_deadline(INTERVAL) == SendPing(payload(1))
    assert lc.next_deadline() == INTERVAL + TIMEOUT  # the pong deadline
    assert lc.on_pong(payload(1), INTERVAL + 3.0) is True
    assert lc.next_deadline() == 2 * INTERVAL + 3.0  # counted from the pong
    assert lc.on_deadline(2 * INTERVAL + 3.0) == SendPing(payload(2))


def test_no_pong_closes_4001_at_the_pong_deadline() -> None:
    lc = opened(0.0)
    assert isinstance(lc.on_deadline(INTERVAL), SendPing)
    assert lc.on_deadline(INTERVAL + TIMEOUT - 0.1) is None
    due = lc.on_deadline(INTERVAL + TIMEOUT)
    assert due == StartClose(CloseCode.PONG_TIMEOUT, "no pong within the keepalive timeout")
    assert lc.state is ConnState.OPEN  # asked for, not started: the adapter starts it
    lc.start_close(CloseCode.PONG_TIMEOUT, INTERVAL + TIMEOUT)
    assert lc.next_deadline() == INTERVAL + TIMEOUT + CLOSE_TIMEOUT
    assert lc.on_deadline(INTERVAL + TIMEOUT + CLOSE_TIMEOUT) is ABORT


@pytest.mark.parametrize("pong", [payload(2), b"nope", b""])
def test_a_pong_for_another_ping_is_ignored(pong: bytes) -> None:
    lc = opened(0.0)
    lc.on_deadline(INTERVAL)
    assert lc.on_pong(pong, INTERVAL + 1.0) is False
    assert lc.next_deadline() == INTERVAL + TIMEOUT
    assert isinstance(lc.on_deadline(INTERVAL + TIMEOUT), StartClose)


def test_an_unsolicited_pong_is_ignored() -> None:
    lc = opened(0.0)
    assert lc.on_pong(payload(0), 5.0) is False
    assert lc.next_deadline() == INTERVAL


def test_no_keepalive_while_closing() -> None:
    lc = opened(0.0)
    lc.on_deadline(INTERVAL)  # a ping is outstanding
    lc.start_close(CloseCode.GOING_AWAY, INTERVAL + 1.0)
    assert lc.on_pong(payload(1), INTERVAL + 1.5) is False
    close_by = INTERVAL + 1.0 + CLOSE_TIMEOUT
    assert close_by < INTERVAL + TIMEOUT
    assert lc.next_deadline() == close_by  # not the pong deadline
    assert lc.on_deadline(close_by - 0.1) is None
    assert lc.on_deadline(close_by) is ABORT  # never a ping or a 4001


# -- token expiry -----------------------------------------------------------------------
def test_expiry_closes_4002_between_pings() -> None:
    """Pings at 25, 50, 75 (each answered at once), then the token expires at 90."""
    lc = opened(0.0, expires_at=90.0)
    for n in (1, 2, 3):
        t = n * INTERVAL
        assert lc.next_deadline() == t
        assert lc.on_deadline(t) == SendPing(payload(n))
        assert lc.on_pong(payload(n), t)
    assert lc.next_deadline() == 90.0
    due = lc.on_deadline(90.0)
    assert due == StartClose(CloseCode.TOKEN_EXPIRED, "token expired: refresh and reconnect")


def test_expiry_wins_over_a_due_pong_deadline() -> None:
    lc = opened(0.0, expires_at=INTERVAL + TIMEOUT)
    lc.on_deadline(INTERVAL)
    due = lc.on_deadline(INTERVAL + TIMEOUT)
    assert isinstance(due, StartClose) and due.code is CloseCode.TOKEN_EXPIRED


def test_refresh_moves_the_expiry() -> None:
    lc = opened(0.0, expires_at=20.0)
    assert lc.next_deadline() == 20.0
    lc.token_expires(300.0)
    assert lc.next_deadline() == INTERVAL
    assert lc.on_deadline(20.0) is None  # woken for the old expiry: nothing due


def test_expiry_does_not_apply_while_closing() -> None:
    lc = opened(0.0, expires_at=1.0)
    lc.start_close(CloseCode.GOING_AWAY, 0.5)
    assert lc.next_deadline() == 0.5 + CLOSE_TIMEOUT
    assert lc.on_deadline(1.0) is None


def test_deadlines_in_order() -> None:
    """Handshake, then pings, the pong deadline and the close deadline, each when due."""
    lc = new(0.0)
    assert lc.next_deadline() == HANDSHAKE
    lc.open(1.0, expires_at=1000.0)
    seen = []
    t = lc.next_deadline()
    while lc.state is ConnState.OPEN:
        due = lc.on_deadline(t)
        seen.append((t, due))
        if isinstance(due, SendPing) and len(seen) == 1:
            lc.on_pong(due.payload, t + 1.0)
        elif isinstance(due, StartClose):
            lc.start_close(due.code, t)
        t = lc.next_deadline()
    assert seen == [
        (26.0, SendPing(payload(1))),
        (52.0, SendPing(payload(2))),
        (62.0, StartClose(CloseCode.PONG_TIMEOUT, "no pong within the keepalive timeout")),
    ]
    assert lc.next_deadline() == 62.0 + CLOSE_TIMEOUT
    assert lc.on_deadline(lc.next_deadline()) is ABORT
