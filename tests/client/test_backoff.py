from __future__ import annotations

import random

import pytest

from parley.client.backoff import Backoff
from parley.core.codes import CloseAction


def test_grows_exponentially_with_jitter_up_to_the_cap() -> None:
    b = Backoff(base=0.5, max_delay=30.0, jitter=0.5)
    rng = random.Random(7)
    for attempt, top in [(0, 0.5), (1, 1.0), (3, 4.0), (6, 30.0), (40, 30.0)]:
        for _ in range(50):
            d = b.delay(attempt, CloseAction.RECONNECT, rng)
            assert top * 0.5 <= d <= top


def test_back_off_codes_wait_at_least_the_floor() -> None:
    b = Backoff(base=0.5, floor=5.0)
    rng = random.Random(1)
    assert all(b.delay(0, CloseAction.BACKOFF, rng) >= 5.0 for _ in range(50))


@pytest.mark.parametrize(("attempt", "zero"), [(0, True), (1, False)])
def test_refresh_reconnects_at_once_only_the_first_time(attempt: int, zero: bool) -> None:
    d = Backoff().delay(attempt, CloseAction.REFRESH, random.Random(3))
    assert (d == 0.0) is zero
