"""api/tokens.py: a verified token is kept until it expires, and still refused at once
when its account is deleted."""

from __future__ import annotations

import pytest

from parley.api.tokens import VerifiedTokens
from parley.broker.auth import TokenVerifier, issue_token
from parley.core.claims import Claims
from parley.core.errors import AuthError
from tests.support.api import SECRET


class Counting:
    """The real verifier, counting its calls."""

    def __init__(self) -> None:
        self.verifier = TokenVerifier(SECRET)
        self.calls = 0

    def __call__(self, token: str) -> Claims:
        self.calls += 1
        return self.verifier.verify(token)


def test_a_token_is_verified_once_then_kept() -> None:
    verify = Counting()
    tokens = VerifiedTokens(verify, lambda c: None)
    token = issue_token(SECRET, sub="alice", org="acme", ttl=60)
    first = tokens.check(token)
    assert tokens.check(token) == first
    assert (first.sub, first.org) == ("alice", "acme")
    assert verify.calls == 1


def test_a_bad_token_is_never_kept() -> None:
    verify = Counting()
    tokens = VerifiedTokens(verify, lambda c: None)
    forged = issue_token("another secret that is long enough!!", sub="alice", org="acme", ttl=60)
    for _ in range(2):
        with pytest.raises(AuthError, match="bad token signature"):
            tokens.check(forged)
    assert verify.calls == 2
    assert len(tokens) == 0


def test_a_kept_token_expires_with_the_verifiers_answer() -> None:
    now = [1_000.0]
    verifier = TokenVerifier(SECRET)
    tokens = VerifiedTokens(
        lambda t: verifier.verify(t, now=now[0]), lambda c: None, clock=lambda: now[0]
    )
    token = issue_token(SECRET, sub="alice", org="acme", ttl=60, now=now[0])
    tokens.check(token)
    now[0] += 60  # exp == now: expired, as the verifier counts it
    with pytest.raises(AuthError, match="token expired"):
        tokens.check(token)
    assert len(tokens) == 0


def test_a_deleted_accounts_kept_token_is_refused() -> None:
    deleted: set[str] = set()

    def refuse(c: Claims) -> None:
        if c.sub in deleted:
            raise AuthError("account deleted")

    tokens = VerifiedTokens(Counting(), refuse)
    token = issue_token(SECRET, sub="alice", org="acme", ttl=60)
    tokens.check(token)
    deleted.add("alice")
    with pytest.raises(AuthError, match="account deleted"):
        tokens.check(token)


def test_the_oldest_token_goes_first() -> None:
    verify = Counting()
    tokens = VerifiedTokens(verify, lambda c: None, size=2)
    a, b, c = (issue_token(SECRET, sub=s, org="acme", ttl=60) for s in "abc")
    for t in (a, b, c):
        tokens.check(t)
    assert len(tokens) == 2
    tokens.check(b)
    tokens.check(c)
    assert verify.calls == 3
    tokens.check(a)  # dropped: verified again
    assert verify.calls == 4
