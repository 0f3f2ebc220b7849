"""A third-party graphql-transport-ws client, the npm ``graphql-ws`` library under node
(``tests/js``; ``scripts/run-tests`` installs it), subscribes to a channel's events, gets
them live and unsubscribes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import IO, Any

import pytest

from parley.settings import Settings
from tests.conftest import make_token
from tests.e2e.test_graphql import CREATE, POST, gql
from tests.support.live import live_app

JS = Path(__file__).resolve().parents[1] / "js"
TIMEOUT = 30


def line(stream: IO[str]) -> dict[str, Any]:
    text = stream.readline()
    assert text, "node exited early"
    got: dict[str, Any] = json.loads(text)
    return got


def test_graphql_ws_client_under_node(settings: Settings) -> None:
    node = shutil.which("node")
    if node is None or not (JS / "node_modules" / "graphql-ws").exists():
        if os.environ.get("CI") == "true":
            pytest.fail("node and tests/js/node_modules are needed (scripts/run-tests)")
        pytest.skip("needs node and `npm ci --prefix tests/js`")
    with live_app(settings) as app:
        cid = gql(app, "alice", CREATE, members=["bob"])["createChannel"]["id"]
        url = app.http_url.replace("http://", "ws://") + "/graphql"
        with subprocess.Popen(
            [node, str(JS / "subscribe.mjs"), url, make_token("bob"), cid, "2"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        ) as proc:
            try:
                assert proc.stdout is not None
                assert line(proc.stdout) == {"ready": True, "me": "bob"}
                first = gql(app, "alice", POST, c=cid, t="one")["postMessage"]
                second = gql(app, "bob", POST, c=cid, t="two")["postMessage"]
                events = [line(proc.stdout)["next"]["data"]["channelEvents"] for _ in range(2)]
                assert [(e["seq"], e["event"], e["data"]["text"]) for e in events] == [
                    (first["seq"], "message_posted", "one"),
                    (second["seq"], "message_posted", "two"),
                ]
                assert line(proc.stdout) == {"done": True}
                assert proc.wait(timeout=TIMEOUT) == 0
            except BaseException:
                proc.kill()  # never left waiting for events that will not come
                raise
