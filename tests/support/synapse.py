"""A real Synapse homeserver on 127.0.0.1 for the Matrix bridge tests (session-scoped).

Synapse comes from PyPI into its own virtualenv, ``.synapse-venv`` at the repository
root (gitignored; it pulls Twisted, so it stays out of Parley's venv), installed once
(about a minute) and reused. It runs on SQLite in a temp dir, with the bridge's
application-service registration in its config; users are made through the
shared-secret admin register API. Without Synapse the tests skip, except under
``CI=true``, where they fail."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent.parent
VENV = ROOT / ".synapse-venv"
SERVER_NAME = "localhost"
START_TIMEOUT = 60.0


def unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"Synapse is required in CI: {reason}")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def synapse_python() -> Path:
    """The venv's python with Synapse installed (installing it the first time)."""
    python = VENV / "bin" / "python"
    marker = VENV / ".installed"
    if marker.exists():
        return python
    try:
        if not python.exists():
            subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True, timeout=120)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "matrix-synapse"],
            check=True,
            timeout=900,
            stdout=subprocess.DEVNULL,
        )
        subprocess.run([str(python), "-c", "import synapse.app.homeserver"], check=True)
    except (OSError, subprocess.SubprocessError) as exc:
        unavailable(f"cannot install matrix-synapse into {VENV}: {exc}")
    marker.touch()
    return python


@dataclass
class Synapse:
    """A running homeserver, and the application service Parley is to it."""

    dir: Path
    python: Path
    port: int
    parley_port: int
    as_token: str
    hs_token: str
    shared_secret: str
    proc: subprocess.Popen[bytes] | None = None
    users: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with (self.dir / "synapse.log").open("ab") as log:  # the child keeps its own fd
            self.proc = subprocess.Popen(
                [str(self.python), "-m", "synapse.app.homeserver", "-c", str(self.dir / "hs.yaml")],
                cwd=self.dir,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"synapse exited: see {self.dir / 'synapse.log'}")
            try:
                if httpx.get(f"{self.url}/_matrix/client/versions", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError("synapse did not start in time")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def register(self, user: str, password: str = "pw-" + "x" * 12) -> str:
        """A user made with the shared-secret admin API; returns their access token."""
        if user in self.users:
            return self.users[user]
        url = f"{self.url}/_synapse/admin/v1/register"
        nonce = httpx.get(url, timeout=10).json()["nonce"]
        mac = hmac.new(self.shared_secret.encode(), digestmod=hashlib.sha1)
        mac.update(f"{nonce}\0{user}\0{password}\0notadmin".encode())
        body = {"nonce": nonce, "username": user, "password": password, "mac": mac.hexdigest()}
        resp = httpx.post(url, json=body, timeout=10)
        assert resp.status_code == 200, resp.text
        token: str = resp.json()["access_token"]
        self.users[user] = token
        return token

    def call(self, token: str, method: str, path: str, body: Any = None) -> Any:
        resp = httpx.request(
            method,
            f"{self.url}/_matrix/client/v3{path}",
            json=body,
            headers={"Authorization": f"Bearer {token}"},
            timeout=20,
        )
        assert resp.status_code == 200, (path, resp.status_code, resp.text)
        return resp.json()


def _config(s: Synapse) -> dict[str, Any]:
    return {
        "server_name": SERVER_NAME,
        "pid_file": str(s.dir / "homeserver.pid"),
        "listeners": [
            {
                "port": s.port,
                "bind_addresses": ["127.0.0.1"],
                "type": "http",
                "tls": False,
                "x_forwarded": False,
                "resources": [{"names": ["client"], "compress": False}],
            }
        ],
        "database": {"name": "sqlite3", "args": {"database": str(s.dir / "homeserver.db")}},
        "log_config": str(s.dir / "log.yaml"),
        "media_store_path": str(s.dir / "media"),
        "registration_shared_secret": s.shared_secret,
        "report_stats": False,
        "macaroon_secret_key": secrets.token_hex(16),
        "form_secret": secrets.token_hex(16),
        "signing_key_path": str(s.dir / "signing.key"),
        "trusted_key_servers": [],
        "suppress_key_server_warning": True,
        "federation_domain_whitelist": [],
        "app_service_config_files": [str(s.dir / "parley-registration.yaml")],
        "enable_metrics": False,
        "presence": {"enabled": False},
        "url_preview_enabled": False,
        "rc_message": {"per_second": 1000, "burst_count": 1000},
        "rc_registration": {"per_second": 1000, "burst_count": 1000},
        "rc_login": {
            "address": {"per_second": 1000, "burst_count": 1000},
            "account": {"per_second": 1000, "burst_count": 1000},
        },
        "rc_joins": {"local": {"per_second": 1000, "burst_count": 1000}},
        "rc_admin_redaction": {"per_second": 1000, "burst_count": 1000},
    }


LOG_CONFIG = {
    "version": 1,
    "formatters": {"f": {"format": "%(asctime)s %(name)s %(levelname)s %(message)s"}},
    "handlers": {"h": {"class": "logging.StreamHandler", "formatter": "f"}},
    "root": {"level": "WARNING", "handlers": ["h"]},
    "disable_existing_loggers": False,
}


@pytest.fixture(scope="session")
def synapse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synapse]:
    from parley.domain.federation import MatrixConfig
    from parley.domain.matrix import registration

    python = synapse_python()
    d = tmp_path_factory.mktemp("synapse")
    s = Synapse(
        dir=d,
        python=python,
        port=free_port(),
        parley_port=free_port(),
        as_token=secrets.token_hex(16),
        hs_token=secrets.token_hex(16),
        shared_secret=secrets.token_hex(16),
    )
    reg = registration(
        MatrixConfig(
            homeserver_url=s.url,
            server_name=SERVER_NAME,
            as_token=s.as_token,
            hs_token=s.hs_token,
            bridge_url=f"http://127.0.0.1:{s.parley_port}",
        )
    )
    (d / "parley-registration.yaml").write_text(yaml.safe_dump(reg))
    (d / "log.yaml").write_text(yaml.safe_dump(LOG_CONFIG))
    (d / "hs.yaml").write_text(yaml.safe_dump(_config(s)))
    subprocess.run(
        [str(python), "-m", "synapse.app.homeserver", "-c", str(d / "hs.yaml"), "--generate-keys"],
        check=True,
        cwd=d,
        capture_output=True,
        timeout=120,
    )
    s.start()
    try:
        yield s
    finally:
        s.stop()
