"""REST rate limits: token buckets per token (``org``, ``sub``), one for reads and one for
writes, clocked by ``trio.current_time()`` (so tests run on virtual time).

Held in memory on each node: a cluster divides nothing, every node limits on its own, so
a client spread over N nodes gets up to N times the limit. Service tokens get their own,
higher limit (``service_factor`` times the rate and the burst). See docs/rest.md, Limits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import trio

from parley.core.claims import Claims
from parley.core.errors import RateLimited
from parley.core.ratelimit import TokenBucket


@dataclass(frozen=True, slots=True)
class RateLimitConfig:
    #: Writes (POST, PUT, PATCH, DELETE) per second per token, and their burst.
    write_rate: float = 20.0
    write_burst: int = 100
    #: Reads (GET, HEAD) per second per token, and their burst.
    read_rate: float = 50.0
    read_burst: int = 200
    #: Service tokens get this many times the rate and the burst.
    service_factor: float = 10.0
    #: Buckets held before idle (full again) ones are dropped; a dropped bucket is
    #: indistinguishable from a full one, so dropping changes no answer.
    max_buckets: int = 100_000


class TokenBuckets:
    """Token buckets by key, created full on first use; full ones are forgotten when
    too many are held (a forgotten bucket and a full one answer alike)."""

    def __init__(self, max_buckets: int = 100_000) -> None:
        self._buckets: dict[object, TokenBucket] = {}
        self._max = max_buckets
        self._sweep_at = max_buckets

    def take(self, key: object, rate: float, burst: float, now: float) -> float:
        """Take one token from ``key``'s bucket (``burst`` tokens, refilled at ``rate``
        per second). Return 0.0 if taken, else the seconds until one is there."""
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self._sweep_at:
                self._sweep(now)
            bucket = self._buckets[key] = TokenBucket(rate, int(burst), now)
        return bucket.wait(now)

    def __len__(self) -> int:
        return len(self._buckets)

    def _sweep(self, now: float) -> None:
        """Drop the buckets that are full again by ``now``."""
        for key in [k for k, b in self._buckets.items() if b.full(now)]:
            del self._buckets[key]
        # Sweep again only once as many keys more are held: amortised O(1) per take.
        self._sweep_at = max(self._max, 2 * len(self._buckets))


class RestRateLimits:
    """Who may make one more REST request now."""

    def __init__(self, config: RateLimitConfig | None = None) -> None:
        self.config = config or RateLimitConfig()
        self._buckets = TokenBuckets(self.config.max_buckets)

    def check(self, claims: Claims, *, write: bool) -> None:
        """Count one request of ``claims``'s token; raise :class:`RateLimited` (429, with
        the seconds to wait) when its bucket is empty."""
        cfg = self.config
        rate, burst = (
            (cfg.write_rate, float(cfg.write_burst))
            if write
            else (cfg.read_rate, float(cfg.read_burst))
        )
        if claims.is_service:
            rate, burst = rate * cfg.service_factor, burst * cfg.service_factor
        key = (write, claims.org, claims.sub)
        wait = self._buckets.take(key, rate, burst, trio.current_time())
        if wait > 0.0:
            kind = "writes" if write else "reads"
            raise RateLimited(
                f"too many {kind}: at most {rate:g} per second (burst {burst:g}); "
                f"retry in {math.ceil(wait)} s",
                retry_after=wait,
            )
