from __future__ import annotations

import pytest

from parley.core.codes import CLOSE_ACTIONS, CloseAction, CloseCode, close_action


@pytest.mark.parametrize(
    ("code", "action"),
    [
        (CloseCode.GOING_AWAY, CloseAction.RECONNECT),
        (None, CloseAction.RECONNECT),  # dropped without a close frame (1006)
        (CloseCode.SLOW_CONSUMER, CloseAction.RECONNECT),
        (CloseCode.TRY_AGAIN_LATER, CloseAction.BACKOFF),
        (CloseCode.SERVER_OVERLOAD, CloseAction.BACKOFF),
        (CloseCode.TOKEN_EXPIRED, CloseAction.REFRESH),
        (CloseCode.POLICY_VIOLATION, CloseAction.STOP),
        (CloseCode.CONNECTION_LIMIT, CloseAction.STOP),
        (4321, CloseAction.BACKOFF),  # unknown, transient range
        (4777, CloseAction.STOP),  # unknown, terminal range
        (3000, CloseAction.RECONNECT),
    ],
)
def test_close_action(code: int | None, action: CloseAction) -> None:
    assert close_action(code) is action


def test_every_close_code_has_an_action() -> None:
    assert set(CloseCode) <= set(CLOSE_ACTIONS)
