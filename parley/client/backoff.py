"""How long to wait before reconnecting (sans-IO: the random source is an argument).

Jittered exponential backoff, ``min(max_delay, base * 2**attempt) * uniform(1 - jitter, 1)``,
with a floor for the close codes whose action is "back off" (docs/protocol.md)."""

from __future__ import annotations

import random
from dataclasses import dataclass

from parley.core.codes import BACKOFF_FLOOR_SECONDS, CloseAction


@dataclass(frozen=True, slots=True)
class Backoff:
    base: float = 0.5
    max_delay: float = 30.0
    jitter: float = 0.5
    #: The least wait after a "back off" code (a server that is unwell or full).
    floor: float = BACKOFF_FLOOR_SECONDS

    def delay(self, attempt: int, action: CloseAction, rng: random.Random) -> float:
        """Seconds to wait before reconnect ``attempt`` (0 = the first after a drop)."""
        if action is CloseAction.REFRESH and attempt == 0:
            return 0.0  # a fresh token fixes it: reconnect at once, once
        raw = min(self.max_delay, self.base * 2.0 ** min(attempt, 32))
        wait = raw * rng.uniform(1.0 - self.jitter, 1.0)
        if action is CloseAction.BACKOFF:
            wait = max(wait, self.floor)
        return wait
