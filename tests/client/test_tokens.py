from __future__ import annotations

import time

import pytest

from parley.client.tokens import Tokens, token_expiry
from tests.conftest import make_token


def test_token_expiry_reads_exp_without_verifying() -> None:
    now = time.time()
    assert token_expiry(make_token(ttl=100, now=now)) == int(now + 100)
    assert token_expiry("not a jwt") is None
    assert token_expiry("a.!!!.c") is None


async def test_a_static_token_is_kept() -> None:
    tokens = Tokens(make_token())
    assert not tokens.refreshable
    assert await tokens.current(fresh=True) == tokens._token
    assert tokens.refresh_in(time.time() + 100) is None


async def test_a_callable_is_called_when_fresh_or_near_expiry() -> None:
    calls: list[int] = []

    async def fetch() -> str:
        calls.append(1)
        return make_token(ttl=30 if len(calls) == 1 else 3600)

    tokens = Tokens(fetch, margin=60)
    first = await tokens.current()
    assert await tokens.current() != first  # 30 s left < 60 s margin: fetched again
    assert len(calls) == 2
    assert await tokens.current() == await tokens.current()  # an hour left: kept
    await tokens.current(fresh=True)
    assert len(calls) == 3
    left = tokens.refresh_in(time.time() + 3600)
    assert left is not None and 3530 <= left <= 3540


async def test_sync_callables_and_bad_values() -> None:
    assert await Tokens(lambda: make_token()).current()
    with pytest.raises(TypeError):
        await Tokens(lambda: "").current()
    with pytest.raises(TypeError):
        Tokens(42)  # type: ignore[arg-type]
