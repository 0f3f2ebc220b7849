"""A PostgreSQL outage under a live service: REST answers 503 with Retry-After, a new
WebSocket is closed with 1013 (try again later), an open one gets ``unavailable`` replies,
and the outage is logged once, not as a traceback per request."""

from __future__ import annotations

import json
import logging
import os
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from parley.core.codes import CloseCode
from parley.settings import Settings
from tests.conftest import make_token
from tests.e2e.test_channels import TIMEOUT, Client, rest
from tests.support.live import live_app

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def own_postgres(tmp_path: Path, pg_main_url: str) -> Iterator[tuple[str, dict[str, str]]]:
    """A PostgreSQL server of this test's own (the suite's shared one stays up)."""
    env = {**os.environ, "PGTEST_DIR": str(tmp_path / "pg"), "PGTEST_PORT": "55500"}
    script = str(ROOT / "scripts" / "pg-test-server")
    url = subprocess.run(
        [script, "start"], env=env, check=True, capture_output=True, text=True
    ).stdout.strip()
    try:
        yield url, env
    finally:
        subprocess.run([script, "stop"], env=env, check=False, capture_output=True)


def test_a_database_outage_is_unavailable_not_internal(
    own_postgres: tuple[str, dict[str, str]], settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    url, env = own_postgres
    caplog.set_level(logging.WARNING)
    with live_app(replace(settings, database_url=url)) as app:
        _, ch = rest(app, "POST", "/v1/channels", "alice", {"kind": "group", "name": "g"})
        headers = {"Authorization": f"Bearer {make_token('alice')}"}
        with connect(app.ws_url, additional_headers=headers) as ws:
            alice = Client(ws)
            alice.recv()  # hello
            assert alice.call("post", channel=ch["id"], text="before")["ok"] is True
            subprocess.run(
                [str(ROOT / "scripts" / "pg-test-server"), "stop"],
                env=env,
                check=True,
                capture_output=True,
            )
            for _ in range(3):
                status, body = rest(app, "GET", f"/v1/channels/{ch['id']}/messages", "alice")
                assert (status, body["error"]["code"]) == (503, "unavailable")
            reply = alice.call("post", channel=ch["id"], text="during")
            assert reply["error"]["code"] == "unavailable"
        with (
            connect(app.ws_url, additional_headers=headers) as ws2,
            pytest.raises(ConnectionClosed) as closed,
        ):
            ws2.recv(timeout=TIMEOUT)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == CloseCode.TRY_AGAIN_LATER
    outage_lines = [r for r in caplog.records if r.getMessage().startswith("store unavailable")]
    assert len(outage_lines) == 1
    assert not [r for r in caplog.records if r.exc_info and "parley" in r.name]
    assert json.dumps(body)  # the 503 body is JSON
