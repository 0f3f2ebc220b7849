"""Settings: environment variables and the JWT secret kept in the data dir."""

from __future__ import annotations

import stat
from dataclasses import replace
from pathlib import Path

from parley.core.limits import Limits
from parley.settings import SECRET_FILE, Settings


def test_secret_generated_once_then_loaded(tmp_path: Path) -> None:
    s = Settings(data_dir=tmp_path / "data")
    first, source = s.with_secret()
    assert source == "generated" and len(first.jwt_secret) >= 32
    path = tmp_path / "data" / SECRET_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again, source = s.with_secret()
    assert (source, again.jwt_secret) == ("loaded", first.jwt_secret)


def test_configured_secret_or_key_is_used_as_is(tmp_path: Path) -> None:
    s = Settings(data_dir=tmp_path, jwt_secret="x" * 32)
    assert s.with_secret() == (s, "configured")
    keyed = replace(s, jwt_secret="", jwt_public_key="-----BEGIN PUBLIC KEY-----")
    assert keyed.with_secret() == (keyed, "configured")
    assert not (tmp_path / SECRET_FILE).exists()


def test_from_env_reads_ports_origins_and_limits() -> None:
    s = Settings.from_env(
        {
            "PARLEY_WS_PORT": "9001",
            "PARLEY_HTTP_PORT": "9002",
            "PARLEY_ALLOWED_ORIGINS": "https://a.example, https://b.example",
            "PARLEY_MAX_SUBSCRIPTIONS": "7",
            "PARLEY_PUBLISH_RATE": "2.5",
            "PARLEY_DATABASE_URL": "",
        }
    )
    assert (s.ws_port, s.http_port) == (9001, 9002)
    assert s.allowed_origins == ("https://a.example", "https://b.example")
    assert s.limits == replace(Limits(), max_subscriptions=7, publish_rate=2.5)
    assert s.effective_database_url == f"sqlite:///{s.data_dir / 'parley.sqlite3'}"
