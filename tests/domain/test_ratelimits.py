"""Token buckets of the REST rate limits, on virtual time."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from parley.core.claims import Claims
from parley.core.errors import RateLimited
from parley.domain.ratelimits import RateLimitConfig, RestRateLimits, TokenBuckets


def test_a_bucket_gives_its_burst_then_refills_at_its_rate() -> None:
    buckets = TokenBuckets()
    assert [buckets.take("k", 2.0, 3, now=10.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("k", 2.0, 3, now=10.0) == pytest.approx(0.5)
    assert buckets.take("k", 2.0, 3, now=10.25) == pytest.approx(0.25)
    assert buckets.take("k", 2.0, 3, now=10.5) == 0.0
    # Idle for long: full again, never more than the burst.
    assert [buckets.take("k", 2.0, 3, now=100.0) for _ in range(4)][-1] > 0.0


def test_keys_have_their_own_buckets() -> None:
    buckets = TokenBuckets()
    assert buckets.take("a", 1.0, 1, now=0.0) == 0.0
    assert buckets.take("a", 1.0, 1, now=0.0) > 0.0
    assert buckets.take("b", 1.0, 1, now=0.0) == 0.0


def test_full_buckets_are_dropped_when_too_many_are_held() -> None:
    buckets = TokenBuckets(max_buckets=10)
    for i in range(10):
        buckets.take(i, 1.0, 5, now=0.0)
    assert buckets.take(0, 1.0, 5, now=0.0) == 0.0  # key 0 now holds 3 tokens, the rest 4
    assert len(buckets) == 10
    buckets.take("new", 1.0, 5, now=1.5)  # all but key 0 are full again by now
    assert len(buckets) == 2
    # A dropped bucket answers as a full one would.
    assert [buckets.take(5, 1.0, 5, now=1.5) for _ in range(6)].count(0.0) == 5


def claims(sub: str = "alice", *, service: bool = False, org: str = "acme") -> Claims:
    return Claims(sub=sub, org=org, exp=0.0, roles=("service",) if service else ())


CONFIG = RateLimitConfig(write_rate=1.0, write_burst=2, read_rate=4.0, read_burst=4)


async def test_reads_and_writes_are_limited_apart_per_token(
    autojump_clock: trio.testing.MockClock,
) -> None:
    limits = RestRateLimits(CONFIG)
    alice = claims()
    for _ in range(2):
        limits.check(alice, write=True)
    with pytest.raises(RateLimited) as refused:
        limits.check(alice, write=True)
    assert refused.value.retry_after == pytest.approx(1.0)
    for _ in range(4):
        limits.check(alice, write=False)  # reads have a bucket of their own
    limits.check(claims("bob"), write=True)  # and so does every other token
    limits.check(claims(org="other"), write=True)  # the same sub in another org too
    await trio.sleep(1.0)
    limits.check(alice, write=True)
    with pytest.raises(RateLimited):
        limits.check(alice, write=True)


async def test_service_tokens_get_a_higher_limit(autojump_clock: trio.testing.MockClock) -> None:
    limits = RestRateLimits(CONFIG)  # service_factor 10: 20 writes at once, 10 per second
    bot = claims("bot", service=True)
    for _ in range(20):
        limits.check(bot, write=True)
    with pytest.raises(RateLimited) as refused:
        limits.check(bot, write=True)
    assert refused.value.retry_after == pytest.approx(0.1)
    await trio.sleep(0.1)
    limits.check(bot, write=True)
