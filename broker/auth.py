"""JWT verification, token extraction and Origin checks (sans-IO: headers in, claims out)."""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping
from http.cookies import CookieError, SimpleCookie
from typing import TypeGuard
from urllib.parse import parse_qs, unquote_plus, urlsplit

import jwt

from parley.core.claims import MAX_SUB_LENGTH, MAX_TOKEN_TOPICS, Claims
from parley.core.errors import AuthError, ClientError
from parley.core.topics import check_org, is_segment, parse_pattern

#: HS256 secrets shorter than this are refused at startup (RFC 7518 3.2).
MIN_SECRET_BYTES = 32
#: The latest instant a time claim may name (year 9999, as RFC 7519 NumericDate in practice):
#: ``Infinity``, ``NaN`` and absurd values are an issuer's bug, refused with a reason.
MAX_INSTANT = 253_402_300_799


def _is_instant(value: object) -> TypeGuard[int | float]:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return False
    return math.isfinite(value) and 0 <= value <= MAX_INSTANT


#: Seconds of clock skew tolerated for ``nbf`` from another issuer.
CLOCK_LEEWAY = 30


def _public_key_algorithm(pem: str) -> str:
    """RS256 for an RSA key, ES256 for an EC P-256 key; anything else is a config error."""
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    try:
        key = load_pem_public_key(pem.encode())
    except ValueError as exc:
        raise ValueError(f"PARLEY_JWT_PUBLIC_KEY is not a PEM public key: {exc}") from None
    if isinstance(key, rsa.RSAPublicKey):
        return "RS256"
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        return "ES256"
    raise ValueError("PARLEY_JWT_PUBLIC_KEY must be an RSA or EC P-256 public key")


class TokenVerifier:
    """Verifies HS256 tokens with the shared secret, and RS256/ES256 with a public key."""

    def __init__(self, secret: str = "", public_key: str = "") -> None:
        self._secret = secret
        self._public_key = public_key
        self._asym_alg: str | None = None
        if not self._secret and not self._public_key:
            raise ValueError("a JWT secret or public key is required")
        if self._secret and len(self._secret.encode()) < MIN_SECRET_BYTES:
            raise ValueError(f"the JWT secret must be at least {MIN_SECRET_BYTES} bytes")
        if self._public_key:
            self._asym_alg = _public_key_algorithm(self._public_key)

    def verify(self, token: str, *, now: float | None = None) -> Claims:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise AuthError("malformed token") from None
        alg = header.get("alg")
        if alg == "HS256" and self._secret:
            key: str = self._secret
        elif alg is not None and alg == self._asym_alg:
            key = self._public_key
        else:
            raise AuthError(f"token algorithm not accepted: {alg}")
        try:
            payload = jwt.decode(
                token,
                key,
                algorithms=[str(alg)],
                # exp and nbf are checked below against our clock (tests inject one).
                options={
                    "require": ["sub", "org", "exp"],
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                },
            )
        except jwt.MissingRequiredClaimError as exc:
            raise AuthError(f"token lacks claim: {exc.claim}") from None
        except jwt.InvalidSignatureError:
            raise AuthError("bad token signature") from None
        except jwt.PyJWTError:
            raise AuthError("malformed token") from None
        return claims_from_payload(payload, now=time.time() if now is None else now)


def claims_from_payload(payload: Mapping[str, object], *, now: float) -> Claims:
    sub, org, exp, roles = (payload.get(k) for k in ("sub", "org", "exp", "roles"))
    if not isinstance(sub, str) or not 0 < len(sub) <= MAX_SUB_LENGTH or not sub.isprintable():
        raise AuthError(f"token claim sub must be 1 to {MAX_SUB_LENGTH} printable characters")
    if not isinstance(org, str) or not is_segment(org):
        raise AuthError("token claim org must be a topic segment [A-Za-z0-9_-]+")
    if not _is_instant(exp):
        raise AuthError(f"token claim exp must be a finite number of seconds below {MAX_INSTANT}")
    if exp <= now:
        raise AuthError("token expired", expired=True)
    nbf = payload.get("nbf")
    if nbf is not None:
        if not _is_instant(nbf):
            raise AuthError(
                f"token claim nbf must be a finite number of seconds below {MAX_INSTANT}"
            )
        if nbf > now + CLOCK_LEEWAY:
            raise AuthError("token not yet valid")
    if roles is None:
        roles = []
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise AuthError("token claim roles must be a list of strings")
    return Claims(
        sub=sub, org=org, exp=float(exp), roles=tuple(roles), topics=_topics(payload, org)
    )


def _topics(payload: Mapping[str, object], org: str) -> tuple[str, ...]:
    """The ``topics`` claim: patterns inside the token's org (see docs/protocol.md)."""
    topics = payload.get("topics")
    if topics is None:
        return ()
    if (
        not isinstance(topics, list)
        or len(topics) > MAX_TOKEN_TOPICS
        or not all(isinstance(t, str) for t in topics)
    ):
        raise AuthError(f"token claim topics must be a list of at most {MAX_TOKEN_TOPICS} patterns")
    for t in topics:
        try:
            check_org(parse_pattern(t), org)
        except ClientError as exc:
            raise AuthError(f"token claim topics: {exc.message}"[:120]) from None
    return tuple(topics)


def issue_token(
    secret: str,
    *,
    sub: str,
    org: str,
    ttl: float,
    roles: Iterable[str] = (),
    topics: Iterable[str] = (),
    now: float | None = None,
) -> str:
    """Sign an HS256 token (``parley token`` and tests); with ``topics``, a subscription
    token granting those patterns (docs/protocol.md)."""
    now = time.time() if now is None else now
    payload: dict[str, object] = {"sub": sub, "org": org, "iat": int(now), "exp": int(now + ttl)}
    roles = list(roles)
    if roles:
        payload["roles"] = roles
    topics = list(topics)
    if topics:
        payload["topics"] = topics
    return jwt.encode(payload, secret, algorithm="HS256")


def extract_token(headers: Iterable[tuple[str, str]], target: str) -> str | None:
    """Bearer header, else ``parley_token`` cookie, else ``access_token`` query parameter."""
    cookie_header = None
    for name, value in headers:
        lname = name.lower()
        if lname == "authorization":
            scheme, _, cred = value.partition(" ")
            if scheme.lower() == "bearer" and cred.strip():
                return cred.strip()
        elif lname == "cookie":
            cookie_header = value
    if cookie_header:
        try:
            jar = SimpleCookie(cookie_header)
        except CookieError:
            jar = SimpleCookie()
        morsel = jar.get("parley_token")
        if morsel is not None and morsel.value:
            return morsel.value
    query = parse_qs(urlsplit(target).query)
    values = query.get("access_token")
    if values and values[0]:
        return values[0]
    return None


def redact_target(target: str) -> str:
    """The request target with ``access_token`` hidden, for logs."""
    parts = urlsplit(target)
    if not parts.query:
        return target
    q = "&".join(
        "access_token=REDACTED" if unquote_plus(p.partition("=")[0]) == "access_token" else p
        for p in parts.query.split("&")
    )
    return parts._replace(query=q).geturl()


def origin_allowed(origin: str | None, allowed: tuple[str, ...], host: str | None) -> bool:
    """No Origin (a non-browser client) is allowed. ``*`` allows any. Otherwise the origin
    must be listed exactly, or -- with nothing configured -- be the server's own host."""
    if origin is None:
        return True
    if "*" in allowed:
        return True
    if allowed:
        return origin.rstrip("/") in {a.rstrip("/") for a in allowed}
    if host is None:
        return False
    return urlsplit(origin).netloc == host
