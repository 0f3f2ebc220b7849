"""Token buckets (sans-IO: the caller passes ``now``), shared by the broker's publish
limits and the REST rate limits."""

from __future__ import annotations


class TokenBucket:
    """``rate`` tokens per second up to ``burst``; starts full."""

    __slots__ = ("_at", "_tokens", "burst", "rate")

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self._tokens = float(burst)
        self._at = now

    def _refill(self, now: float) -> float:
        if now > self._at:
            self._tokens = min(float(self.burst), self._tokens + (now - self._at) * self.rate)
            self._at = now
        return self._tokens

    def has(self, now: float) -> bool:
        """Whether a token is there (takes none)."""
        return self._refill(now) >= 1.0

    def take(self, now: float) -> bool:
        """Take a token if there is one."""
        if self._refill(now) < 1.0:
            return False
        self._tokens -= 1.0
        return True

    def wait(self, now: float) -> float:
        """Take a token if there is one and return 0.0, else the seconds until one is."""
        tokens = self._refill(now)
        if tokens < 1.0:
            return (1.0 - tokens) / self.rate
        self._tokens = tokens - 1.0
        return 0.0

    def full(self, now: float) -> bool:
        """Whether the bucket is full again by ``now`` (forgetting it changes nothing)."""
        return self._refill(now) >= self.burst
