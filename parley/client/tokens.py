"""Where the client's token comes from: a fixed string, or a callable (sync or async)
that fetches a fresh one, called ahead of expiry and on close code 4002."""

from __future__ import annotations

import base64
import inspect
import time
from collections.abc import Awaitable, Callable

import orjson

#: A token, or a callable returning one (``async def get_token() -> str`` or a plain function).
TokenSource = str | Callable[[], str] | Callable[[], Awaitable[str]]


def token_expiry(token: str) -> float | None:
    """The ``exp`` claim of a JWT, read without verifying it (the server verifies); None
    when it cannot be read."""
    try:
        payload = token.split(".")[1]
        claims = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        exp = claims.get("exp")
    except (IndexError, ValueError, AttributeError, orjson.JSONDecodeError):
        return None
    return float(exp) if isinstance(exp, int | float) and not isinstance(exp, bool) else None


class Tokens:
    """The current token. ``margin``: a token expiring sooner than this is replaced before
    it is used, and a live connection's token this long before it expires (when the
    source can fetch one; 0 turns the early refresh off: then only close code 4002 does)."""

    def __init__(self, source: TokenSource, *, margin: float = 60.0) -> None:
        if not isinstance(source, str) and not callable(source):
            raise TypeError("token must be a string or a callable returning one")
        self._source = source
        self._token: str | None = source if isinstance(source, str) else None
        self.margin = margin

    @property
    def refreshable(self) -> bool:
        return not isinstance(self._source, str)

    async def current(self, *, fresh: bool = False) -> str:
        """The token to use now; with ``fresh`` (or near expiry) a newly fetched one."""
        if self._token is not None and (not self.refreshable or not (fresh or self._expiring())):
            return self._token
        assert not isinstance(self._source, str)
        got = self._source()
        token = await got if inspect.isawaitable(got) else got
        if not isinstance(token, str) or not token:
            raise TypeError("the token callable must return a non-empty string")
        self._token = token
        return token

    def refresh_in(self, expires_at: float) -> float | None:
        """Seconds until the token (expiring at ``expires_at``, epoch seconds) should be
        replaced on a live connection; None when it cannot be."""
        if not self.refreshable or self.margin <= 0:
            return None
        left = expires_at - time.time()
        return max(0.0, left - min(self.margin, left / 2))

    def _expiring(self) -> bool:
        exp = token_expiry(self._token or "")
        return exp is not None and exp - time.time() < self.margin
