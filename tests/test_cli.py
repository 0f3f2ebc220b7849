"""`parley` as a user runs it: a real process, a token from `parley token`, SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from parley.broker.auth import TokenVerifier
from parley.core.codes import CloseCode
from tests.conftest import SECRET

TIMEOUT = 15


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def parley(*args: str, env: dict[str, str]) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "parley", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=True,
    )
    return out.stdout.strip()


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")}
    e.update(PARLEY_DATA_DIR=str(tmp_path / "data"), PARLEY_WS_PORT=str(free_port()))
    return e


@pytest.fixture
def served(env: dict[str, str]) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "parley", "serve", "--broker-only"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        for line in proc.stderr:  # bounded: the process logs this line or exits
            if "broker listening" in line:
                break
        else:
            pytest.fail(f"server exited with {proc.wait(TIMEOUT)}")
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(TIMEOUT)
        if proc.stderr is not None:
            proc.stderr.close()


def test_token_is_signed_with_the_configured_secret(env: dict[str, str]) -> None:
    env["PARLEY_JWT_SECRET"] = SECRET
    tok = parley("token", "--sub", "alice", "--org", "acme", "--role", "service", env=env)
    claims = TokenVerifier(SECRET).verify(tok)
    assert (claims.sub, claims.org, claims.roles) == ("alice", "acme", ("service",))


def test_serve_generates_a_secret_and_token_uses_it(
    served: subprocess.Popen[str], env: dict[str, str]
) -> None:
    secret_file = Path(env["PARLEY_DATA_DIR"]) / "jwt_secret"
    assert oct(secret_file.stat().st_mode & 0o777) == "0o600"
    tok = parley("token", "--sub", "bob", "--org", "acme", env=env)
    url = f"ws://127.0.0.1:{env['PARLEY_WS_PORT']}/ws"
    with connect(url, additional_headers={"Authorization": f"Bearer {tok}"}) as ws:
        hello = json.loads(ws.recv(timeout=TIMEOUT))
        assert (hello["user"], hello["org"]) == ("bob", "acme")


def test_sigterm_closes_clients_1001_and_exits(
    served: subprocess.Popen[str], env: dict[str, str]
) -> None:
    tok = parley("token", "--sub", "carol", "--org", "acme", env=env)
    url = f"ws://127.0.0.1:{env['PARLEY_WS_PORT']}/ws?access_token={tok}"
    with connect(url) as ws:
        assert json.loads(ws.recv(timeout=TIMEOUT))["type"] == "hello"
        served.send_signal(signal.SIGTERM)
        with pytest.raises(ConnectionClosed) as exc:
            ws.recv(timeout=TIMEOUT)
        assert exc.value.rcvd is not None
        assert exc.value.rcvd.code == CloseCode.GOING_AWAY
    assert served.wait(TIMEOUT) == 0


# --- Errors, secrets and help, in process ----------------------------------------------


@pytest.fixture
def cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh working directory and no PARLEY_* variables."""
    for name in list(os.environ):
        if name.startswith("PARLEY_"):
            monkeypatch.delenv(name)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


def run_main(*args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    from parley.cli import main

    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_version(cwd: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        run_main("--version", capsys=capsys)
    assert exc.value.code == 0
    assert capsys.readouterr().out.startswith("parley 0.")


def test_unsupported_database_url_is_one_line_and_creates_nothing(
    cwd: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_main("serve", "--database-url", "mysql://x/y", capsys=capsys)
    assert code == 2
    assert err == (
        "parley: error: setting database_url (--database-url): scheme must be sqlite: or "
        "postgresql: (postgres:), got 'mysql://x/y'\n"
    )
    assert list(cwd.iterdir()) == []


def test_bad_env_value_is_one_line(
    cwd: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PARLEY_WS_PORT", "abc")
    code, _, err = run_main("serve", capsys=capsys)
    assert code == 2
    assert err.count("\n") == 1
    assert err.startswith("parley: error: setting ws_port (PARLEY_WS_PORT): ")


def test_token_without_a_secret_refuses_and_generates_nothing(
    cwd: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_main("token", "--sub", "a", "--org", "acme", capsys=capsys)
    assert (code, out) == (2, "")
    assert err.startswith("parley: error: no JWT secret: set PARLEY_JWT_SECRET")
    assert err.count("\n") == 1
    assert list(cwd.iterdir()) == []


def test_token_uses_the_secret_the_server_kept(
    cwd: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (cwd / "srv").mkdir()
    (cwd / "srv" / "jwt_secret").write_text(SECRET + "\n")
    code, out, _ = run_main(
        "token", "--data-dir", "srv", "--sub", "a", "--org", "acme", capsys=capsys
    )
    assert code == 0
    assert TokenVerifier(SECRET).verify(out.strip()).sub == "a"


def test_token_roles_ttl_and_flags(
    cwd: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PARLEY_JWT_SECRET", SECRET)
    args = ("token", "--sub", "a", "--org", "acme")
    code, out, _ = run_main(
        *args, "--role", "service", "--role", "publisher", "--ttl", "60", capsys=capsys
    )
    claims = TokenVerifier(SECRET).verify(out.strip())
    assert code == 0 and set(claims.roles) == {"service", "publisher"}
    payload = jwt.decode(out.strip(), options={"verify_signature": False})
    assert payload["exp"] - payload["iat"] == 60
    code, _, err = run_main(*args, "--ttl", "-5", capsys=capsys)
    assert (code, err) == (2, "parley: error: --ttl must be a positive number of seconds, got -5\n")
    with pytest.raises(SystemExit):
        run_main(*args, "--database-url", "sqlite:///x", capsys=capsys)
    assert "unrecognized arguments: --database-url" in capsys.readouterr().err


def test_secret_is_a_usable_hs256_secret(cwd: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_main("secret", capsys=capsys)
    secret = out.strip()
    assert code == 0 and len(secret) == 64
    TokenVerifier(secret)  # long enough
    assert run_main("secret", capsys=capsys)[1].strip() != secret


def test_config_show_redacts(
    cwd: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PARLEY_JWT_SECRET", SECRET)
    monkeypatch.setenv("PARLEY_DATABASE_URL", "postgresql://u:hunter2@db/p")
    code, out, _ = run_main("config", "show", "--ws-port", "9999", capsys=capsys)
    assert code == 0
    assert SECRET not in out and "hunter2" not in out
    assert "ws_port = 9999\n" in out
    assert 'database_url = "postgresql://***@db/p"\n' in out


def test_help_is_plain_text_with_defaults(cwd: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from parley.cli import build_parser

    parser = build_parser()
    texts = [parser.format_help()]
    for command in ("serve", "token", "migrate", "secret"):
        with pytest.raises(SystemExit):
            parser.parse_args([command, "--help"])
        texts.append(capsys.readouterr().out)
    for text in texts:
        assert "``" not in text and ":class:" not in text
    serve = texts[1]
    for flag in (
        "--log-level",
        "--allowed-origins",
        "--max-connections",
        "--config",
        "--set",
        "--drain-delay",
        "--shutdown-timeout",
        "--jwt-public-key-file",
    ):
        assert flag in serve
    assert "default 8765" in serve
    assert "default 3600" in texts[2]


def test_port_in_use_is_one_line_before_listening(env: dict[str, str]) -> None:
    env["PARLEY_JWT_SECRET"] = SECRET
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env["PARLEY_HTTP_PORT"] = str(port)
        out = subprocess.run(
            [sys.executable, "-m", "parley", "serve", "--log-format", "json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
    assert out.returncode == 1
    assert "listening" not in out.stderr
    last = out.stderr.splitlines()[-1]
    assert last == f"parley: error: cannot listen on 127.0.0.1:{port} (http_port): " + (
        "Address already in use"
    )
    for line in out.stderr.splitlines()[:-1]:
        assert json.loads(line)["level"] in ("info", "warning"), line  # only log lines before it
