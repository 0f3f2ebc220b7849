"""Verified bearer tokens, kept so that a client's next request with the same token does
not decode and verify its JWT again (about a fifth of the app's own CPU per request on a
small POST, docs/benchmarks.md).

A token is kept only after it verified; a hit is honoured while the token's ``exp`` is in
the future (the verifier's own test, ``exp <= now`` is expired) and is checked against the
deleted accounts each time, so a deleted account's token is refused at once, as before.
``nbf`` needs no second look: a token that was valid once stays valid until ``exp``. The
verifier's answer depends on nothing else (key, token), so a kept answer is the answer.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from parley.core.claims import Claims
from parley.core.ports import TokenCheck

#: Most tokens kept; the oldest is dropped first (a few hundred bytes each).
MAX_TOKENS = 4096


class VerifiedTokens:
    """``check(token)``: the token's claims, verified once and then kept until ``exp``."""

    def __init__(
        self,
        verify: TokenCheck,
        refuse: Callable[[Claims], None],
        *,
        size: int = MAX_TOKENS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._verify = verify
        self._refuse = refuse
        self._size = size
        self._clock = clock
        self._kept: dict[str, Claims] = {}

    def __len__(self) -> int:
        return len(self._kept)

    def check(self, token: str) -> Claims:
        """The claims of ``token``; raises :class:`~parley.core.errors.AuthError` as the
        verifier does (and for a deleted account's token, kept or not)."""
        claims = self._kept.get(token)
        if claims is not None:
            if claims.exp > self._clock():
                self._refuse(claims)
                return claims
            del self._kept[token]  # expired: the verifier says so, with its message
        claims = self._verify(token)
        if len(self._kept) >= self._size:
            del self._kept[next(iter(self._kept))]
        self._kept[token] = claims
        return claims
