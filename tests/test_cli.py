"""`parley` as a user runs it: a real process, a token from `parley token`, SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import jwt
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from parley.broker.auth import TokenVerifier
from parley.core.codes import CloseCode
from parley.settings import Settings
from tests.conftest import SECRET, make_token
from tests.support.live import LiveApp, live_app

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


# -- the client commands (sub, pub, post) on the Python SDK ------------------------------
def client_env(app: LiveApp, user: str) -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")}
    e.update(PARLEY_URL=app.ws_url, PARLEY_TOKEN=make_token(user))
    return e


def start_sub(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    """``parley sub`` once it has said every pattern is subscribed."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "parley", "sub", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    patterns = [a for a in args if not a.startswith("-") and not a.isdigit()]
    for _ in patterns:
        line = proc.stderr.readline()
        assert line.startswith("subscribed to "), line
    return proc


def lines(proc: subprocess.Popen[str], n: int) -> list[dict[str, Any]]:
    assert proc.stdout is not None
    return [json.loads(proc.stdout.readline()) for _ in range(n)]


def test_sub_prints_json_lines_and_resumes_across_a_server_restart(settings: Settings) -> None:
    cm = live_app(settings)
    app = cm.__enter__()
    try:
        status, channel = rest_create(app, "alice", ["bob"])
        assert status == 201
        cid = channel["id"]
        sub = start_sub(client_env(app, "bob"), "events.acme.conversations.>", "--count", "4")
        try:
            first = [post_cli(app, cid, f"m{i}") for i in range(2)]
            got = lines(sub, 2)
            # Restart on the same ports and data: sub reconnects and resumes.
            cm.__exit__(None, None, None)
            running = app.running
            assert running.http_port is not None
            again = replace(settings, ws_port=running.ws_port, http_port=running.http_port)
            cm = live_app(again)
            app = cm.__enter__()
            rest = [post_cli(app, cid, f"m{i}") for i in range(2, 4)]
            got += lines(sub, 2)
            assert sub.wait(TIMEOUT) == 0
        finally:
            if sub.poll() is None:
                sub.kill()
            sub.wait(TIMEOUT)
            for stream in (sub.stdout, sub.stderr):
                if stream is not None:
                    stream.close()
        assert [e["data"]["text"] for e in got] == ["m0", "m1", "m2", "m3"]
        assert [e["seq"] for e in got] == [p["seq"] for p in first + rest]
        assert {e["event"] for e in got} == {"message_posted"}
        assert {e["channel"] for e in got} == {cid}
    finally:
        cm.__exit__(None, None, None)


def test_pub_reaches_a_subscriber_and_post_replies(settings: Settings) -> None:
    with live_app(settings) as app:
        sub = start_sub(client_env(app, "bob"), "events.acme.client.>", "--count", "1")
        try:
            out = parley(
                "pub", "events.acme.client.hello", '{"n": 1}', env=client_env(app, "alice")
            )
            assert json.loads(out) == {"topic": "events.acme.client.hello", "deliveries": 1}
            (event,) = lines(sub, 1)
            assert (event["topic"], event["data"]) == ("events.acme.client.hello", {"n": 1})
            assert sub.wait(TIMEOUT) == 0
        finally:
            if sub.poll() is None:
                sub.kill()
            sub.wait(TIMEOUT)
            for stream in (sub.stdout, sub.stderr):
                if stream is not None:
                    stream.close()
        _, channel = rest_create(app, "alice", [])
        reply = json.loads(
            parley("post", channel["id"], "hi", "--key", "k1", env=client_env(app, "alice"))
        )
        assert (reply["channel"], reply["created"]) == (channel["id"], True)
        again = json.loads(
            parley("post", channel["id"], "hi", "--key", "k1", env=client_env(app, "alice"))
        )
        assert (again["seq"], again["created"]) == (reply["seq"], False)


def test_sub_exits_130_on_ctrl_c(settings: Settings) -> None:
    with live_app(settings) as app:
        sub = start_sub(client_env(app, "bob"), "events.acme.>")
        sub.send_signal(signal.SIGINT)
        try:
            assert sub.wait(TIMEOUT) == 130
            assert sub.stderr is not None and sub.stderr.read() == ""  # no traceback
        finally:
            if sub.poll() is None:
                sub.kill()
            sub.wait(TIMEOUT)
            for stream in (sub.stdout, sub.stderr):
                if stream is not None:
                    stream.close()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("sub", "events.acme.>"), "no token: pass --token or set PARLEY_TOKEN"),
        (("sub", "events.acme.>>", "--token", "t"), "'events.acme.>>': bad pattern segment"),
        (("sub", "events.>", "--token", "t", "--count", "0"), "--count must be at least 1"),
        (("pub", "events acme", "{}", "--token", "t"), "'events acme': topic must have"),
        (("pub", "events.acme.x", "{bad", "--token", "t"), "JSON '{bad': not valid JSON"),
        (("post", "ch_1", " ", "--token", "t"), "TEXT is empty"),
        (("post", "ch_1", "hi", "--token", "t", "--url", "http://x"), "--url 'http://x': expected"),
        (("token", "--sub", "a", "--org", "acme", "--role", "a b"), "--role 'a b': a role is"),
    ],
)
def test_client_command_refusals_are_one_line(
    cwd: Path, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], message: str
) -> None:
    code, out, err = run_main(*args, capsys=capsys)
    assert code == 2 and out == ""
    assert err.startswith(f"parley: error: {message}") and err.count("\n") == 1, err


def test_client_command_server_refusals_are_one_line(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    with live_app(settings) as app:
        url = app.ws_url
        token = make_token()
        code, _, err = run_main(
            "post", "ch_nope", "hi", "--url", url, "--token", token, capsys=capsys
        )
        assert code == 1 and err.startswith("parley: error: not_found: "), err
        assert err.count("\n") == 1
        code, _, err = run_main(
            "sub", "events.acme.>", "--url", url, "--token", "x.y", capsys=capsys
        )
        assert code == 1
        assert err == "parley: error: the server closed the connection: 1008 malformed token\n"
        down = "ws://127.0.0.1:9/ws"
        args = ("post", "c", "hi", "--url", down, "--token", "t", "--timeout", "0.3")
        code, _, err = run_main(*args, capsys=capsys)
        assert (code, err) == (1, f"parley: error: no answer from {down} within 0.3 s\n")


def test_token_roles_are_any_namespace_role(
    cwd: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PARLEY_JWT_SECRET", SECRET)
    code, out, _ = run_main(
        "token",
        "--sub",
        "a",
        "--org",
        "acme",
        "--role",
        "billing",
        "--role",
        "service",
        "--role",
        "billing",
        capsys=capsys,
    )
    assert code == 0
    assert TokenVerifier(SECRET).verify(out.strip()).roles == ("billing", "service")


def rest_create(app: LiveApp, user: str, members: list[str]) -> tuple[int, dict[str, Any]]:
    req = urllib.request.Request(
        app.http_url + "/v1/channels",
        method="POST",
        data=json.dumps({"kind": "group", "name": "g", "members": members}).encode(),
        headers={"Authorization": f"Bearer {make_token(user)}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=TIMEOUT) as resp:
        return resp.status, json.loads(resp.read())


def post_cli(app: LiveApp, channel: str, text: str) -> dict[str, Any]:
    reply: dict[str, Any] = json.loads(parley("post", channel, text, env=client_env(app, "alice")))
    return reply
