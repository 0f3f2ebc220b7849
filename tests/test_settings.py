"""Settings: environment variables and the JWT secret kept in the data dir."""

from __future__ import annotations

import stat
from dataclasses import replace
from pathlib import Path

import pytest

from parley.broker.presence import PresenceConfig
from parley.core.limits import Limits
from parley.domain.files import FilesConfig
from parley.domain.previews import PreviewConfig
from parley.settings import (
    PRESENCE_FIELDS,
    SECRET_FILE,
    Settings,
    SettingsError,
    SettingsModel,
    load_model,
    load_settings,
    reference_markdown,
    show_toml,
)


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


# --- The settings model: validation, sources, showing, documenting ----------------------


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"PARLEY_WS_PORT": "abc"}, "setting ws_port (PARLEY_WS_PORT): input should be a valid"),
        ({"PARLEY_HTTP_PORT": "70000"}, "setting http_port (PARLEY_HTTP_PORT): input should be"),
        ({"PARLEY_DATABASE_URL": "mysql://x/y"}, "setting database_url (PARLEY_DATABASE_URL)"),
        ({"PARLEY_DATABASE_URL": "/var/db.sqlite3"}, "scheme must be sqlite: or postgresql:"),
        ({"PARLEY_DATABASE_URL": "sqlite:db"}, "expected sqlite:///PATH"),
        ({"PARLEY_DATABASE_URL": "sqlite:///:memory:"}, "expected sqlite:///PATH"),
        ({"PARLEY_DATABASE_URL": "postgresql:db"}, "expected postgresql://USER@HOST/DB"),
        ({"PARLEY_JWT_SECRET": "short"}, "setting jwt_secret (PARLEY_JWT_SECRET): must be at"),
        ({"PARLEY_JWT_PUBLIC_KEY": "garbage"}, "setting jwt_public_key (PARLEY_JWT_PUBLIC_KEY)"),
        ({"PARLEY_LOG_LEVEL": "loud"}, "setting log_level (PARLEY_LOG_LEVEL): input should be"),
        ({"PARLEY_MAX_SUBSCRIPTIONS": "0"}, "setting max_subscriptions (PARLEY_MAX_SUBSCRIPTIONS)"),
        ({"PARLEY_PUBLISH_RATE": "nan"}, "setting publish_rate (PARLEY_PUBLISH_RATE)"),
        ({"PARLEY_PING_INTERVAL": "-1"}, "setting ping_interval (PARLEY_PING_INTERVAL)"),
        ({"PARLEY_ACCESS_LOG": "maybe"}, "setting access_log (PARLEY_ACCESS_LOG)"),
    ],
)
def test_bad_settings_are_one_line_naming_the_setting(env: dict[str, str], expected: str) -> None:
    with pytest.raises(SettingsError) as exc:
        load_settings(env)
    assert len(exc.value.lines) == 1
    assert "\n" not in exc.value.lines[0]
    assert expected in exc.value.lines[0]


def test_secrets_are_not_echoed_in_errors() -> None:
    with pytest.raises(SettingsError) as exc:
        load_settings({"PARLEY_JWT_SECRET": "hunter2", "PARLEY_DATABASE_URL": "my://u:pw@h/d"})
    text = str(exc.value)
    assert "hunter2" not in text and "pw" not in text
    assert len(exc.value.lines) == 2


@pytest.mark.parametrize(
    "url",
    ["", "sqlite:///rel/x.sqlite3", "sqlite:////abs/x", "postgresql://u@h/db", "postgres://h/db"],
)
def test_supported_database_urls(url: str) -> None:
    assert load_settings({"PARLEY_DATABASE_URL": url}).database_url == url


def test_flags_over_env_over_file_over_defaults(tmp_path: Path) -> None:
    conf = tmp_path / "parley.toml"
    conf.write_text(
        'host = "0.0.0.0"\nws_port = 1111\nhttp_port = 2222\n'
        'allowed_origins = ["https://a.example"]\npresence_idle_after = 60\n'
    )
    env = {"PARLEY_WS_PORT": "3333", "PARLEY_HTTP_PORT": "4444"}
    s = load_settings(env, config_file=conf, overrides={"http_port": "5555"})
    assert (s.host, s.ws_port, s.http_port) == ("0.0.0.0", 3333, 5555)
    assert s.allowed_origins == ("https://a.example",)
    assert s.presence.idle_after == 60.0
    assert s.ping_interval == Settings().ping_interval


def test_config_file_errors_name_the_file_or_key(tmp_path: Path) -> None:
    conf = tmp_path / "parley.toml"
    conf.write_text("ws_prot = 1\n")
    with pytest.raises(SettingsError, match=r"unknown setting 'ws_prot' in .*parley.toml"):
        load_settings({}, config_file=conf)
    conf.write_text("ws_port = \n")
    with pytest.raises(SettingsError, match="not valid TOML"):
        load_settings({}, config_file=conf)
    with pytest.raises(SettingsError, match="No such file"):
        load_settings({}, config_file=tmp_path / "missing.toml")
    conf.write_text('ws_port = "x"\n')
    with pytest.raises(SettingsError, match=r"setting ws_port \(PARLEY_WS_PORT\)"):
        load_settings({}, config_file=conf)


def _public_pem() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    pem = key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem.decode()


def test_public_key_file(tmp_path: Path) -> None:
    pem = _public_pem()
    key = tmp_path / "issuer.pem"
    key.write_text(pem)
    s = load_settings({"PARLEY_JWT_PUBLIC_KEY_FILE": str(key)})
    assert s.jwt_public_key == pem
    assert s.with_secret() == (s, "configured")
    key.write_text("not a key")
    with pytest.raises(SettingsError) as exc:
        load_settings({"PARLEY_JWT_PUBLIC_KEY_FILE": str(key)})
    assert exc.value.lines[0].startswith(
        "setting jwt_public_key_file (PARLEY_JWT_PUBLIC_KEY_FILE): "
    )
    with pytest.raises(SettingsError, match=r"cannot read .*No such file"):
        load_settings({"PARLEY_JWT_PUBLIC_KEY_FILE": str(tmp_path / "nope.pem")})


def test_show_redacts_secrets_and_reads_back(tmp_path: Path) -> None:
    secret = "s" * 40
    env = {"PARLEY_JWT_SECRET": secret, "PARLEY_DATABASE_URL": "postgresql://u:pw@db/parley"}
    model = load_model(env)
    text = show_toml(model)
    assert secret not in text and ":pw@" not in text
    assert 'jwt_secret = "<redacted>"' in text
    assert 'database_url = "postgresql://***@db/parley"' in text
    conf = tmp_path / "shown.toml"
    conf.write_text(text.replace('"<redacted>"', f'"{secret}"'))
    again = load_model({"PARLEY_DATABASE_URL": "postgresql://u:pw@db/parley"}, config_file=conf)
    assert again == model


def test_every_limit_and_presence_field_is_a_setting() -> None:
    names = set(SettingsModel.model_fields)
    assert set(Limits().as_dict()) <= names
    assert {f"presence_{f}" for f in PRESENCE_FIELDS} <= names
    defaults = load_settings({})
    assert defaults.limits == Limits()
    assert defaults.presence == PresenceConfig()
    assert defaults.files == FilesConfig()
    assert defaults.previews == PreviewConfig()


def test_configuration_doc_lists_every_setting() -> None:
    doc = (Path(__file__).parent.parent / "docs" / "configuration.md").read_text()
    assert reference_markdown() in doc, (
        "docs/configuration.md is stale: paste the output of "
        "`python -c 'from parley.settings import reference_markdown as r; print(r())'`"
    )


def test_signing_secret_never_generates(tmp_path: Path) -> None:
    s = Settings(data_dir=tmp_path / "data")
    assert s.signing_secret() is None
    assert not (tmp_path / "data").exists()
    generated, _ = s.with_secret()
    assert s.signing_secret() == generated.jwt_secret


def test_nats_settings_build_the_cluster_config_and_keep_passwords_out() -> None:
    env = {
        "PARLEY_NATS_URL": "nats://u:pw@n1:4222, tls://n2",
        "PARLEY_NATS_TOKEN": "tok-secret",
        "PARLEY_CLUSTER_GAP_WAIT": "0.25",
    }
    settings = load_settings(env)
    assert settings.cluster.nats_servers == ("nats://u:pw@n1:4222", "tls://n2")
    assert settings.cluster.enabled and settings.cluster.gap_wait == 0.25
    assert settings.cluster.nats_token == "tok-secret"
    assert not Settings().cluster.enabled
    text = show_toml(load_model(env))
    assert "pw" not in text and "tok-secret" not in text
    assert 'nats_url = "nats://***@n1:4222, tls://n2"' in text
    with pytest.raises(SettingsError) as exc:
        load_settings({"PARLEY_NATS_URL": "http://u:pw@n1"})
    assert exc.value.lines == [
        "setting nats_url (PARLEY_NATS_URL): the scheme of 'n1' must be nats:// or tls://"
    ]
