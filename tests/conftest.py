"""Shared fixtures: settings with a test secret, token minting."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import pytest

from parley.broker.auth import issue_token
from parley.settings import Settings

pytest_plugins = ["tests.support.store"]

SECRET = "parley-test-secret-0123456789-abcdefghijklmnop"

TokenFactory = Callable[..., str]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(jwt_secret=SECRET, ws_port=0, http_port=0, data_dir=tmp_path / "data")


def make_token(
    sub: str = "alice",
    org: str = "acme",
    *,
    roles: Iterable[str] = (),
    ttl: float = 3600.0,
    now: float | None = None,
) -> str:
    return issue_token(SECRET, sub=sub, org=org, ttl=ttl, roles=roles, now=now)


@pytest.fixture
def token() -> TokenFactory:
    return make_token


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--reliability-long",
        action="store_true",
        help="run the long versions of tests/reliability (also PARLEY_RELIABILITY=long)",
    )
