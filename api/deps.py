"""What handlers need: the domain services and the caller's verified claims."""

from __future__ import annotations

from quart import current_app, g, request

from parley.api.tokens import VerifiedTokens
from parley.core.claims import Claims
from parley.core.codes import ErrorCode
from parley.core.errors import AuthError, ClientError
from parley.domain.rules import is_clean
from parley.domain.services import Services

EXTENSION = "parley"
#: The app's :class:`~parley.api.tokens.VerifiedTokens` (set by ``create_app``).
TOKENS_EXTENSION = "parley_tokens"
#: Methods counted as reads by the rate limits; every other one is a write.
READ_METHODS = frozenset({"GET", "HEAD"})


def services() -> Services:
    svc: Services = current_app.extensions[EXTENSION]
    return svc


def verified_tokens() -> VerifiedTokens:
    tokens: VerifiedTokens = current_app.extensions[TOKENS_EXTENSION]
    return tokens


def claims() -> Claims:
    c: Claims = g.claims
    return c


def bearer_token() -> str | None:
    """The token of ``Authorization: Bearer <token>`` (REST takes no cookie or query token)."""
    scheme, _, cred = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not cred.strip():
        return None
    return cred.strip()


async def authenticate() -> None:
    if request.method == "OPTIONS":
        return  # a CORS preflight carries no credentials (see api/app.py)
    token = bearer_token()
    if token is None:
        raise ClientError(ErrorCode.UNAUTHORIZED, "missing bearer token")
    try:
        c = verified_tokens().check(token)
    except AuthError as exc:
        raise ClientError(ErrorCode.UNAUTHORIZED, exc.reason) from None
    if not is_clean(c.sub):
        raise ClientError(ErrorCode.UNAUTHORIZED, "token claim sub has invalid characters")
    g.claims = c
    services().rate_limits.check(c, write=request.method not in READ_METHODS)
    if c.email is not None:  # notification emails go there (docs/notifications.md)
        await services().notify.service.saw_token(c)
