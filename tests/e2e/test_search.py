"""Search follows the conversation layer's edits, deletes and thread replies (REST, whole
service, SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from parley.settings import Settings
from tests.e2e.test_channels import rest
from tests.support.live import LiveApp, live_app
from tests.support.store import PgSchemas


@pytest.fixture(params=["sqlite", "postgres"])
def app(request: pytest.FixtureRequest, settings: Settings) -> Iterator[LiveApp]:
    if request.param == "postgres":
        schemas: PgSchemas = request.getfixturevalue("pg_schemas")
        settings = replace(settings, database_url=schemas.new())
    with live_app(settings) as live:
        yield live


def found(app: LiveApp, user: str, query: str) -> list[str]:
    status, body = rest(app, "GET", f"/v1/search?{query}", user)
    assert status == 200, body
    return [h["message"]["text"] for h in body["items"]]


def test_edits_deletes_and_threads(app: LiveApp) -> None:
    _, ch = rest(
        app, "POST", "/v1/channels", "alice", {"kind": "group", "name": "s", "members": ["bob"]}
    )
    cid = ch["id"]
    _, root = rest(app, "POST", f"/v1/channels/{cid}/messages", "alice", {"text": "alpha root"})
    mid = root["message_id"]
    status, edited = rest(
        app, "PATCH", f"/v1/channels/{cid}/messages/{mid}", "alice", {"text": "omega root"}
    )
    assert status == 200, edited
    assert found(app, "bob", "q=alpha") == []
    assert found(app, "bob", "q=omega") == ["omega root"]

    status, reply = rest(
        app, "POST", f"/v1/channels/{cid}/threads/{mid}/replies", "bob", {"text": "omega reply"}
    )
    assert status == 201, reply
    assert found(app, "alice", "q=omega&in_thread=true") == ["omega reply"]
    assert found(app, "alice", "q=omega&in_thread=false") == ["omega root"]

    status, _ = rest(app, "DELETE", f"/v1/channels/{cid}/messages/{reply['message_id']}", "bob")
    assert status == 204
    assert found(app, "alice", "q=omega") == ["omega root"]
