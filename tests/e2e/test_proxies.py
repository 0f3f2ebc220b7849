"""docs/deploy.md's nginx and Caddy snippets, exactly as written (ports and certificate
paths substituted), in front of a live Parley on 127.0.0.1: a REST call and a WebSocket
upgrade go through each, over TLS. Skipped with a message where the binary is missing
(scripts/run-tests installs Debian's packages when it can)."""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from websockets.sync.client import connect

from parley.settings import Settings
from tests.conftest import make_token
from tests.support.live import LiveApp, live_app

DEPLOY = Path(__file__).parent.parent.parent / "docs" / "deploy.md"
TIMEOUT = 15


def snippet(lang: str) -> str:
    """The first fenced ``lang`` block of docs/deploy.md."""
    match = re.search(rf"```{lang}\n(.*?)```", DEPLOY.read_text(), re.DOTALL)
    assert match, f"no {lang} block in {DEPLOY}"
    return match.group(1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def make_cert(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture
def app(settings: Settings) -> Iterator[LiveApp]:
    with live_app(settings) as live:
        yield live


def wait_listening(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"proxy exited {proc.returncode}: {log.read_text(errors='replace')}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    pytest.fail(f"proxy not listening on {port}")


@pytest.fixture
def started() -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for proc in procs:  # only the processes this test started, by their handle
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def check_through(port: int, cert: Path) -> None:
    ctx = ssl.create_default_context(cafile=str(cert))
    base = f"https://127.0.0.1:{port}"
    req = urllib.request.Request(
        base + "/v1/profile", headers={"Authorization": f"Bearer {make_token('alice')}"}
    )
    with urllib.request.urlopen(req, timeout=TIMEOUT, context=ctx) as resp:
        assert resp.status == 200
        assert json.loads(resp.read())["user_id"] == "alice"
        assert resp.headers["X-Request-ID"]
    with urllib.request.urlopen(base + "/readyz", timeout=TIMEOUT, context=ctx) as resp:
        assert json.loads(resp.read())["status"] == "ready"
    headers = {"Authorization": f"Bearer {make_token('alice')}"}
    with connect(
        f"wss://127.0.0.1:{port}/ws", ssl=ctx, additional_headers=headers, open_timeout=TIMEOUT
    ) as ws:
        hello = json.loads(ws.recv(timeout=TIMEOUT))
        assert hello["type"] == "hello"
        ws.send(json.dumps({"id": 1, "op": "subscribe", "topic": "events.acme.client.x.>"}))
        assert json.loads(ws.recv(timeout=TIMEOUT))["ok"]


def test_nginx_snippet(
    app: LiveApp, tmp_path: Path, started: list[subprocess.Popen[bytes]]
) -> None:
    nginx = shutil.which("nginx") or (
        "/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None
    )
    if nginx is None:
        pytest.skip("nginx is not installed (apt-get install nginx)")
    cert, key = make_cert(tmp_path)
    port = free_port()
    block = (
        snippet("nginx")
        .replace("127.0.0.1:8080", f"127.0.0.1:{app.running.http_port}")
        .replace("127.0.0.1:8765", f"127.0.0.1:{app.running.ws_port}")
        .replace("listen 443 ssl;", f"listen 127.0.0.1:{port} ssl;")
        .replace("/etc/ssl/parley/fullchain.pem", str(cert))
        .replace("/etc/ssl/parley/privkey.pem", str(key))
    )
    assert str(port) in block and str(cert) in block
    temp = tmp_path / "temp"
    temp.mkdir()
    conf = tmp_path / "nginx.conf"
    # A test harness around the snippet: one process, no daemon, everything under tmp_path.
    conf.write_text(
        f"""daemon off;
master_process off;
worker_processes 1;
pid {tmp_path}/nginx.pid;
error_log {tmp_path}/error.log info;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
{block}
}}
"""
    )
    log = tmp_path / "nginx.out"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [nginx, "-p", str(tmp_path), "-c", str(conf), "-e", str(tmp_path / "error.log")],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    started.append(proc)
    wait_listening(port, proc, log)
    check_through(port, cert)


def test_caddy_snippet(
    app: LiveApp, tmp_path: Path, started: list[subprocess.Popen[bytes]]
) -> None:
    caddy = shutil.which("caddy")
    if caddy is None:
        pytest.skip("caddy is not installed (apt-get install caddy)")
    cert, key = make_cert(tmp_path)
    port = free_port()
    block = (
        snippet("caddy")
        .replace("127.0.0.1:8080", f"127.0.0.1:{app.running.http_port}")
        .replace("127.0.0.1:8765", f"127.0.0.1:{app.running.ws_port}")
        .replace("chat.example.com {", f"https://127.0.0.1:{port} {{\n\ttls {cert} {key}", 1)
    )
    assert str(port) in block
    caddyfile = tmp_path / "Caddyfile"
    # Test-only globals: no admin endpoint, no ACME, nothing on ports 80/443.
    caddyfile.write_text("{\n\tadmin off\n\tauto_https off\n}\n" + block)
    env = {
        **os.environ,
        "HOME": str(tmp_path),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
    }
    log = tmp_path / "caddy.out"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [caddy, "run", "--config", str(caddyfile), "--adapter", "caddyfile"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    started.append(proc)
    wait_listening(port, proc, log)
    check_through(port, cert)
