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
