"""JWT verification, token extraction and Origin checks (sans-IO: headers in, claims out)."""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import time
from collections.abc import Iterable, Mapping
from http.cookies import CookieError, SimpleCookie
from typing import Any, TypeGuard
from urllib.parse import parse_qs, unquote_plus, urlsplit

import jwt
from jwt.algorithms import HMACAlgorithm

from parley.core.claims import MAX_EMAIL_LENGTH, MAX_SUB_LENGTH, MAX_TOKEN_TOPICS, Claims
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


def _public_key(pem: str) -> tuple[str, object]:
    """The algorithm (RS256 for an RSA key, ES256 for an EC P-256 key) and the key, loaded
    once; anything else is a config error."""
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    try:
        key = load_pem_public_key(pem.encode())
    except ValueError as exc:
        raise ValueError(f"PARLEY_JWT_PUBLIC_KEY is not a PEM public key: {exc}") from None
    if isinstance(key, rsa.RSAPublicKey):
        return "RS256", key
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        return "ES256", key
    raise ValueError("PARLEY_JWT_PUBLIC_KEY must be an RSA or EC P-256 public key")


#: A base64url segment without padding, as an HS256 token of the fast path has them.
_SEGMENT = re.compile(rb"[A-Za-z0-9_-]*")
#: What the fast path accepts in a header and a payload; any other field (``crit``,
#: ``b64``, ``aud``, ``iss``, ``jti``...) goes to pyjwt, which knows its rules.
_PLAIN_HEADER = frozenset({"alg", "typ", "kid"})
_PLAIN_CLAIMS = frozenset({"sub", "org", "exp", "iat", "nbf", "roles", "topics", "email"})


def _segment(seg: bytes) -> bytes | None:
    """A base64url segment decoded, or None unless it is canonical and unpadded (what
    pyjwt accepts, and then some that it accepts too are left to it)."""
    if len(seg) % 4 == 1 or _SEGMENT.fullmatch(seg) is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(seg + b"=" * (-len(seg) % 4))
    except (binascii.Error, ValueError):
        return None
    if base64.urlsafe_b64encode(raw).rstrip(b"=") != seg:
        return None
    return raw


def _json_object(raw: bytes) -> dict[str, object] | None:
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


class TokenVerifier:
    """Verifies HS256 tokens with the shared secret, and RS256/ES256 with a public key."""

    def __init__(self, secret: str = "", public_key: str = "") -> None:
        self._secret = secret
        self._public_key = public_key
        self._asym_alg: str | None = None
        self._asym_key: object = None
        if not self._secret and not self._public_key:
            raise ValueError("a JWT secret or public key is required")
        if self._secret and len(self._secret.encode()) < MIN_SECRET_BYTES:
            raise ValueError(f"the JWT secret must be at least {MIN_SECRET_BYTES} bytes")
        if self._public_key:
            self._asym_alg, self._asym_key = _public_key(self._public_key)
        #: pyjwt's HS256 with the secret prepared once, for :meth:`_fast_hs256` (None when
        #: pyjwt refuses the secret as a key: then every token takes pyjwt's path).
        self._hs256 = HMACAlgorithm(HMACAlgorithm.SHA256)
        self._hs256_key: bytes | None = None
        if self._secret:
            try:
                self._hs256_key = self._hs256.prepare_key(self._secret)
            except jwt.InvalidKeyError:
                self._hs256_key = None

    def verify(self, token: str, *, now: float | None = None) -> Claims:
        at = time.time() if now is None else now
        payload = self._fast_hs256(token)
        if payload is not None:
            return claims_from_payload(payload, now=at)
        return claims_from_payload(self._decode(token), now=at)

    def _fast_hs256(self, token: str) -> dict[str, object] | None:
        """The payload of a plain, valid HS256 token, checked without pyjwt's generic
        machinery; None for anything else, which :meth:`_decode` then judges (so refusals
        and their reasons are pyjwt's). "Plain": three canonical unpadded base64url
        segments; a header of ``alg`` (``HS256``), ``typ`` and a string ``kid`` only; a
        payload object with a string ``sub``, ``org`` and ``exp`` and no claim pyjwt has
        rules for beyond those (``aud``, ``iss``, ``jti``...). For such a token pyjwt's
        verdict is this one: the same segments, the same JSON, the same HMAC."""
        key = self._hs256_key
        if key is None or not token.isascii():
            return None
        parts = token.encode("ascii").split(b".")
        if len(parts) != 3:
            return None
        raw_header, raw_payload, raw_sig = (_segment(p) for p in parts)
        if raw_header is None or raw_payload is None or raw_sig is None:
            return None
        header = _json_object(raw_header)
        if (
            header is None
            or header.get("alg") != "HS256"
            or not _PLAIN_HEADER.issuperset(header)
            or not isinstance(header.get("kid", ""), str)
        ):
            return None
        signing_input = token.encode("ascii").rpartition(b".")[0]
        if not self._hs256.verify(signing_input, key, raw_sig):
            return None
        payload = _json_object(raw_payload)
        if (
            payload is None
            or not _PLAIN_CLAIMS.issuperset(payload)
            or not isinstance(payload.get("sub"), str)
            or payload.get("org") is None
            or payload.get("exp") is None
        ):
            return None
        return payload

    def _decode(self, token: str) -> dict[str, object]:
        """The payload, verified by pyjwt (every token the fast path does not take)."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise AuthError("malformed token") from None
        alg = header.get("alg")
        key: Any
        if alg == "HS256" and self._secret:
            key = self._secret
        elif alg is not None and alg == self._asym_alg:
            key = self._asym_key  # loaded once (pyjwt takes the key object as it is)
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
        result: dict[str, object] = payload
        return result


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
        sub=sub,
        org=org,
        exp=float(exp),
        roles=tuple(roles),
        topics=_topics(payload, org),
        email=_email(payload),
    )


def _email(payload: Mapping[str, object]) -> str | None:
    """The ``email`` claim if it looks like an address (else ignored, never refused)."""
    email = payload.get("email")
    if not isinstance(email, str) or len(email) > MAX_EMAIL_LENGTH:
        return None
    local, at, domain = email.partition("@")
    if not at or not local or "." not in domain or any(c.isspace() for c in email):
        return None
    return email


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
    email: str | None = None,
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
    if email is not None:
        payload["email"] = email
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


def origin_allowed(
    origin: str | None,
    allowed: tuple[str, ...],
    host: str | None,
    same_host_ports: tuple[int, ...] = (),
) -> bool:
    """No Origin (a non-browser client) is allowed. ``*`` allows any. Otherwise the origin
    must be listed exactly, or -- with nothing configured -- be the server's own host, or
    that host name on one of ``same_host_ports`` (the web app's REST port)."""
    if origin is None:
        return True
    if "*" in allowed:
        return True
    if allowed:
        return origin.rstrip("/") in {a.rstrip("/") for a in allowed}
    if host is None:
        return False
    netloc = urlsplit(origin).netloc
    if netloc == host:
        return True
    try:
        own, theirs = urlsplit(f"//{host}"), urlsplit(origin)
        return (
            theirs.hostname is not None
            and theirs.hostname == own.hostname
            and theirs.port in same_host_ports
        )
    except ValueError:  # a malformed port
        return False
