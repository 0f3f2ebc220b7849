from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from parley.broker.auth import (
    TokenVerifier,
    extract_token,
    issue_token,
    origin_allowed,
    redact_target,
)
from parley.core.claims import Claims
from parley.core.errors import AuthError

# pyjwt warns (InsecureKeyLengthWarning, an error under filterwarnings=error) below 32 bytes.
SECRET = "s" * 32
OTHER_SECRET = "o" * 32
NOW = 1_700_000_000.0


@dataclass(frozen=True)
class KeyPair:
    private: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    public_pem: str


def _pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@pytest.fixture(scope="module")
def rsa_keys() -> KeyPair:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return KeyPair(key, _pem(key))


@pytest.fixture(scope="module")
def ec_keys() -> KeyPair:
    key = ec.generate_private_key(ec.SECP256R1())
    return KeyPair(key, _pem(key))


def payload(**over: object) -> dict[str, object]:
    p: dict[str, object] = {"sub": "alice", "org": "acme", "exp": int(NOW) + 60}
    p.update(over)
    return {k: v for k, v in p.items() if v is not None}


def hs256(p: dict[str, object], secret: str = SECRET) -> str:
    return jwt.encode(p, secret, algorithm="HS256")


def verifier(*, jwt_secret: str = "", jwt_public_key: str = "") -> TokenVerifier:
    return TokenVerifier(jwt_secret, jwt_public_key)


def refused(v: TokenVerifier, token: str, reason: str) -> None:
    with pytest.raises(AuthError) as exc:
        v.verify(token, now=NOW)
    assert reason in exc.value.reason


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hand_signed(header: dict[str, object], p: dict[str, object], key: bytes) -> str:
    """An HS256 token signed by hand (pyjwt refuses PEM keys as HMAC secrets)."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(p).encode())}"
    sig = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(sig)}"


# --- HS256 ------------------------------------------------------------------------------


def test_hs256_good_token() -> None:
    claims = verifier(jwt_secret=SECRET).verify(hs256(payload(roles=["a", "b"])), now=NOW)
    assert claims == Claims(sub="alice", org="acme", exp=NOW + 60, roles=("a", "b"))
    assert not claims.is_service


def test_topics_claim_grants_patterns_in_the_org() -> None:
    v = verifier(jwt_secret=SECRET)
    grant = ["events.acme.billing.invoice.*.i7", "events.acme.teams.>"]
    claims = v.verify(hs256(payload(topics=grant)), now=NOW)
    assert claims.topics == tuple(grant)
    for bad, reason in [
        (["events.globex.x"], "token claim topics: topic outside your org 'acme'"),
        (["events.acme.>.x"], "token claim topics: '>' may only be the last segment"),
        ("events.acme.x", "token claim topics must be a list of at most 100 patterns"),
        (["events.acme.x"] * 101, "token claim topics must be a list of at most 100 patterns"),
    ]:
        with pytest.raises(AuthError) as exc:
            v.verify(hs256(payload(topics=bad)), now=NOW)
        assert exc.value.reason == reason


def test_issue_token_round_trip() -> None:
    token = issue_token(SECRET, sub="svc", org="acme", ttl=60, roles=["service"], now=NOW)
    claims = verifier(jwt_secret=SECRET).verify(token, now=NOW + 30)
    assert (claims.sub, claims.org, claims.exp, claims.roles) == (
        "svc",
        "acme",
        NOW + 60,
        ("service",),
    )
    assert claims.is_service


def test_issue_token_without_roles_and_real_clock() -> None:
    claims = verifier(jwt_secret=SECRET).verify(issue_token(SECRET, sub="u", org="o", ttl=60))
    assert claims.roles == ()
    assert claims.exp > time.time()


def test_float_exp_accepted() -> None:
    claims = verifier(jwt_secret=SECRET).verify(hs256(payload(exp=NOW + 0.5)), now=NOW)
    assert claims.exp == NOW + 0.5


@pytest.mark.parametrize("now", [NOW + 60, NOW + 61, NOW + 10_000])
def test_expired(now: float) -> None:
    with pytest.raises(AuthError, match="expired"):
        verifier(jwt_secret=SECRET).verify(hs256(payload()), now=now)


def test_expired_on_real_clock() -> None:
    token = issue_token(SECRET, sub="u", org="o", ttl=-5)
    with pytest.raises(AuthError, match="expired"):
        verifier(jwt_secret=SECRET).verify(token)


def test_bad_signature() -> None:
    refused(verifier(jwt_secret=SECRET), hs256(payload(), OTHER_SECRET), "bad token signature")


def test_tampered_payload() -> None:
    head, _, sig = hs256(payload()).split(".")
    forged = _b64(json.dumps(payload(org="evil")).encode())
    refused(verifier(jwt_secret=SECRET), f"{head}.{forged}.{sig}", "bad token signature")


@pytest.mark.parametrize("token", ["", "abc", "a.b.c", "a.b", "e30.e30.e30.e30", "!!.??.**"])
def test_malformed(token: str) -> None:
    with pytest.raises(AuthError):
        verifier(jwt_secret=SECRET).verify(token, now=NOW)


@pytest.mark.parametrize("claim", ["sub", "org", "exp"])
def test_missing_claim(claim: str) -> None:
    refused(verifier(jwt_secret=SECRET), hs256(payload(**{claim: None})), f"lacks claim: {claim}")


@pytest.mark.parametrize(
    ("over", "reason"),
    [
        ({"sub": ""}, "sub"),
        ({"sub": 123}, "malformed"),  # pyjwt itself refuses a non-string sub
        ({"org": ""}, "org"),
        ({"org": "ac.me"}, "org"),
        ({"org": "*"}, "org"),
        ({"org": 7}, "org"),
        ({"exp": "soon"}, "exp"),
        ({"exp": True}, "exp"),
        ({"exp": float("inf")}, "exp must be a finite number"),
        ({"exp": float("nan")}, "exp must be a finite number"),
        ({"exp": 1e300}, "exp must be a finite number"),
        ({"nbf": float("-inf")}, "nbf must be a finite number"),
        ({"nbf": float("nan")}, "nbf must be a finite number"),
        ({"roles": "service"}, "roles"),
        ({"roles": {"service": True}}, "roles"),
        ({"roles": ["a", 1]}, "roles"),
    ],
)
def test_bad_claim_values(over: dict[str, object], reason: str) -> None:
    refused(verifier(jwt_secret=SECRET), hs256(payload(**over)), reason)


def test_wrong_algorithm_hs512() -> None:
    token = jwt.encode(payload(), SECRET * 2, algorithm="HS512")
    refused(verifier(jwt_secret=SECRET * 2), token, "algorithm not accepted: HS512")


def test_alg_none_refused() -> None:
    token = jwt.encode(payload(), "", algorithm="none")
    refused(verifier(jwt_secret=SECRET), token, "algorithm not accepted: none")


def test_missing_alg_header_refused() -> None:
    token = hand_signed({"typ": "JWT"}, payload(), SECRET.encode())
    refused(verifier(jwt_secret=SECRET), token, "algorithm not accepted")


def test_needs_secret_or_key() -> None:
    with pytest.raises(ValueError):
        TokenVerifier()


# --- RS256 / ES256 ----------------------------------------------------------------------


@pytest.mark.parametrize(("keys", "alg"), [("rsa_keys", "RS256"), ("ec_keys", "ES256")])
def test_asymmetric_good_token(keys: str, alg: str, request: pytest.FixtureRequest) -> None:
    kp: KeyPair = request.getfixturevalue(keys)
    token = jwt.encode(payload(roles=["service"]), kp.private, algorithm=alg)
    claims = verifier(jwt_public_key=kp.public_pem).verify(token, now=NOW)
    assert claims.is_service
    assert claims.org == "acme"


@pytest.mark.parametrize(("keys", "alg"), [("rsa_keys", "RS256"), ("ec_keys", "ES256")])
def test_asymmetric_other_key_refused(keys: str, alg: str, request: pytest.FixtureRequest) -> None:
    kp: KeyPair = request.getfixturevalue(keys)
    other = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if alg == "RS256"
        else ec.generate_private_key(ec.SECP256R1())
    )
    token = jwt.encode(payload(), other, algorithm=alg)
    refused(verifier(jwt_public_key=kp.public_pem), token, "bad token signature")


def test_asymmetric_claims_checked(ec_keys: KeyPair) -> None:
    v = verifier(jwt_public_key=ec_keys.public_pem)
    token = jwt.encode(payload(org=None), ec_keys.private, algorithm="ES256")
    refused(v, token, "lacks claim: org")
    token = jwt.encode(payload(), ec_keys.private, algorithm="ES256")
    with pytest.raises(AuthError, match="expired"):
        v.verify(token, now=NOW + 120)


def test_public_key_only_refuses_hs256(rsa_keys: KeyPair) -> None:
    v = verifier(jwt_public_key=rsa_keys.public_pem)
    refused(v, hs256(payload()), "algorithm not accepted: HS256")
    # Algorithm confusion: HMAC keyed with the public PEM must not pass.
    forged = hand_signed({"alg": "HS256", "typ": "JWT"}, payload(), rsa_keys.public_pem.encode())
    refused(v, forged, "algorithm not accepted: HS256")


def test_secret_and_key_accept_both(rsa_keys: KeyPair) -> None:
    v = verifier(jwt_secret=SECRET, jwt_public_key=rsa_keys.public_pem)
    assert v.verify(hs256(payload()), now=NOW).sub == "alice"
    token = jwt.encode(payload(sub="bob"), rsa_keys.private, algorithm="RS256")
    assert v.verify(token, now=NOW).sub == "bob"


def test_secret_only_refuses_rs256(rsa_keys: KeyPair) -> None:
    token = jwt.encode(payload(), rsa_keys.private, algorithm="RS256")
    refused(verifier(jwt_secret=SECRET), token, "algorithm not accepted: RS256")


@pytest.mark.parametrize(
    ("keys", "signer", "alg"), [("ec_keys", "rsa_keys", "RS256"), ("rsa_keys", "ec_keys", "ES256")]
)
def test_asymmetric_alg_mismatching_key_type(
    keys: str, signer: str, alg: str, request: pytest.FixtureRequest
) -> None:
    kp: KeyPair = request.getfixturevalue(keys)
    sk: KeyPair = request.getfixturevalue(signer)
    token = jwt.encode(payload(), sk.private, algorithm=alg)
    refused(verifier(jwt_public_key=kp.public_pem), token, "")


# --- token extraction -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "target", "expected"),
    [
        ([("Authorization", "Bearer hdr")], "/ws?access_token=q", "hdr"),
        ([("Cookie", "parley_token=ck"), ("authorization", "Bearer hdr")], "/ws", "hdr"),
        ([("AUTHORIZATION", "bearer  hdr ")], "/", "hdr"),
        ([("Cookie", "a=1; parley_token=ck; b=2")], "/ws?access_token=q", "ck"),
        ([("Authorization", "Basic dXNlcjpwdw=="), ("Cookie", "parley_token=ck")], "/", "ck"),
        ([("Authorization", "Bearer "), ("Cookie", "parley_token=ck")], "/", "ck"),
        ([("Authorization", "Bearer")], "/ws?access_token=q", "q"),
        ([("Cookie", "other=1")], "/ws?x=1&access_token=q", "q"),
        ([("Cookie", "parley_token=")], "/ws?access_token=q", "q"),
        ([("Cookie", 'parley_token="unterminated')], "/ws?access_token=q", "q"),
        ([], "/ws?access_token=q&access_token=r", "q"),
        ([], "/ws?access_token=", None),
        ([], "/ws?x=1", None),
        ([], "/ws", None),
        ([("X-Other", "Bearer nope")], "/ws", None),
    ],
)
def test_extract_token(headers: list[tuple[str, str]], target: str, expected: str | None) -> None:
    assert extract_token(headers, target) == expected


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/ws", "/ws"),
        ("/ws?x=1", "/ws?x=1"),
        ("/ws?access_token=secret", "/ws?access_token=REDACTED"),
        ("/ws?a=1&access_token=secret&b=2", "/ws?a=1&access_token=REDACTED&b=2"),
        ("/ws?access_token=s1&access_token=s2", "/ws?access_token=REDACTED&access_token=REDACTED"),
        ("/ws?my_access_token=x", "/ws?my_access_token=x"),
        ("/ws?a=1&access_token=secret#frag", "/ws?a=1&access_token=REDACTED#frag"),
    ],
)
def test_redact_target(target: str, expected: str) -> None:
    assert redact_target(target) == expected


def test_redact_covers_every_name_extract_accepts() -> None:
    target = "/ws?access%5Ftoken=secret"
    assert extract_token([], target) == "secret"
    assert "secret" not in redact_target(target)


# --- Origin -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("origin", "allowed", "host", "expected"),
    [
        (None, (), None, True),  # non-browser client
        (None, ("https://app.example",), "x", True),
        ("https://evil.example", ("*",), "x", True),
        ("https://app.example", ("https://app.example",), None, True),
        ("https://app.example", ("https://app.example/",), None, True),
        ("https://app.example/", ("https://app.example",), None, True),
        ("https://evil.example", ("https://app.example",), "evil.example", False),
        ("http://app.example", ("https://app.example",), None, False),
        ("https://app.example:8443", ("https://app.example",), None, False),
        ("https://app.example.evil", ("https://app.example",), None, False),
        ("https://chat.example:8765", (), "chat.example:8765", True),  # same host
        ("https://chat.example", (), "chat.example", True),
        ("https://chat.example", (), "chat.example:8765", False),
        ("https://evil.example", (), "chat.example", False),
        ("https://chat.example", (), None, False),
        ("null", (), "chat.example", False),
    ],
)
def test_origin_allowed(
    origin: str | None, allowed: tuple[str, ...], host: str | None, expected: bool
) -> None:
    assert origin_allowed(origin, allowed, host) is expected


@pytest.mark.parametrize("sub", ["a\x00b", "a\udc80", "x" * 257, "tab\there"])
def test_sub_must_be_printable_and_bounded(sub: str) -> None:
    token = jwt.encode({**payload(), "sub": sub}, SECRET, algorithm="HS256")
    refused(verifier(jwt_secret=SECRET), token, "token claim sub must be 1 to 256 printable")


@pytest.mark.parametrize(
    ("origin", "host", "expected"),
    [
        ("http://127.0.0.1:8080", "127.0.0.1:8765", True),  # the web app on the REST port
        ("http://127.0.0.1:8081", "127.0.0.1:8765", False),  # another port of the host
        ("http://evil.example:8080", "127.0.0.1:8765", False),
        ("http://127.0.0.1", "127.0.0.1:8765", False),
        ("http://127.0.0.1:99999", "127.0.0.1:8765", False),  # a malformed port
    ],
)
def test_origin_allowed_from_the_web_app_port(origin: str, host: str, expected: bool) -> None:
    assert origin_allowed(origin, (), host, (8080,)) is expected
    assert origin_allowed(origin, ("https://app.example",), host, (8080,)) is False


# -- the HS256 fast path: it accepts only what pyjwt accepts, with the same payload ----------


def _signed(header: object, payload: object, secret: str = SECRET, *, pad: str = "") -> str:
    head = _b64(json.dumps(header).encode()) + pad
    body = _b64(json.dumps(payload).encode()) + pad
    sig = hmac.new(secret.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{_b64(sig)}{pad}"


def _pyjwt_verdict(v: TokenVerifier, token: str) -> object:
    """What the pyjwt path alone says: the claims, or the refusal's reason."""
    try:
        from parley.broker.auth import claims_from_payload

        return claims_from_payload(v._decode(token), now=NOW)
    except AuthError as exc:
        return ("refused", exc.reason)


BASE = {"sub": "alice", "org": "acme", "exp": NOW + 60, "iat": NOW}
FAST_PATH_CASES: list[tuple[str, str]] = [
    ("plain", _signed({"alg": "HS256", "typ": "JWT"}, BASE)),
    ("issued", issue_token(SECRET, sub="bob", org="acme", ttl=60, now=NOW, roles=["admin"])),
    ("kid", _signed({"alg": "HS256", "kid": "k1"}, BASE)),
    ("kid not a string", _signed({"alg": "HS256", "kid": 7}, BASE)),
    ("crit", _signed({"alg": "HS256", "crit": ["exp"]}, BASE)),
    ("b64 false", _signed({"alg": "HS256", "b64": False, "crit": ["b64"]}, BASE)),
    ("alg none", _signed({"alg": "none"}, BASE)),
    ("no alg", _signed({"typ": "JWT"}, BASE)),
    ("header not an object", _signed(["HS256"], BASE)),
    ("payload not an object", _signed({"alg": "HS256"}, [1, 2])),
    ("aud", _signed({"alg": "HS256"}, {**BASE, "aud": "someone"})),
    ("iss", _signed({"alg": "HS256"}, {**BASE, "iss": "me"})),
    ("jti not a string", _signed({"alg": "HS256"}, {**BASE, "jti": 5})),
    ("sub not a string", _signed({"alg": "HS256"}, {**BASE, "sub": 5})),
    ("no sub", _signed({"alg": "HS256"}, {"org": "acme", "exp": NOW + 60})),
    ("org null", _signed({"alg": "HS256"}, {**BASE, "org": None})),
    ("no exp", _signed({"alg": "HS256"}, {"sub": "a", "org": "acme"})),
    ("expired", _signed({"alg": "HS256"}, {**BASE, "exp": NOW - 1})),
    ("not yet valid", _signed({"alg": "HS256"}, {**BASE, "nbf": NOW + 3600})),
    ("wrong key", _signed({"alg": "HS256"}, BASE, OTHER_SECRET)),
    ("padded", _signed({"alg": "HS256"}, BASE, pad="=")),
    ("bad topics", _signed({"alg": "HS256"}, {**BASE, "topics": ["events.other.>"]})),
    ("four segments", _signed({"alg": "HS256"}, BASE) + ".x"),
    ("two segments", _signed({"alg": "HS256"}, BASE).rpartition(".")[0]),
    ("junk", "!!!!.????.****"),
    ("non-ascii", _signed({"alg": "HS256"}, BASE) + "é"),
    ("empty", ""),
]


@pytest.mark.parametrize(("name", "token"), FAST_PATH_CASES, ids=[c[0] for c in FAST_PATH_CASES])
def test_fast_path_agrees_with_pyjwt(name: str, token: str) -> None:
    """Whatever a token, ``verify`` (fast path first) says what pyjwt's path says, and the
    fast path takes only tokens pyjwt accepts, with the payload pyjwt decodes."""
    v = TokenVerifier(secret=SECRET)
    try:
        got: object = v.verify(token, now=NOW)
    except AuthError as exc:
        got = ("refused", exc.reason)
    assert got == _pyjwt_verdict(v, token)
    fast = v._fast_hs256(token)
    if fast is not None:
        assert fast == jwt.decode(
            token,
            SECRET,
            algorithms=["HS256"],
            options={"verify_exp": False, "verify_nbf": False, "verify_iat": False},
        )


def test_fast_path_takes_the_plain_tokens() -> None:
    """The point of it: an ordinary token (``issue_token``'s, or another issuer's with
    ``typ``/``kid``) never reaches pyjwt's generic path; a tampered one does, and is refused
    with pyjwt's reason."""
    v = TokenVerifier(secret=SECRET)
    for name in ("plain", "issued", "kid"):
        assert v._fast_hs256(dict(FAST_PATH_CASES)[name]) is not None, name
    token = dict(FAST_PATH_CASES)["plain"]
    head, _, sig = token.split(".")
    forged = json.dumps({**BASE, "sub": "mallory"}).encode()
    tampered = f"{head}.{_b64(forged)}.{sig}"
    assert v._fast_hs256(tampered) is None
    with pytest.raises(AuthError, match="bad token signature"):
        v.verify(tampered, now=NOW)


def test_public_key_is_loaded_once(rsa_keys: KeyPair) -> None:
    """RS256 tokens are checked with the key object loaded at start (no PEM per token)."""
    v = TokenVerifier(public_key=rsa_keys.public_pem)
    assert isinstance(v._asym_key, rsa.RSAPublicKey)
    token = jwt.encode({**BASE}, rsa_keys.private, algorithm="RS256")
    assert v.verify(token, now=NOW).sub == "alice"
