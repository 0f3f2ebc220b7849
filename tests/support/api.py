"""Test doubles and fixtures for the chat service and the REST layer.

:class:`RecordingSink` stands in for the broker at the :class:`broker.ports.EventSink`
boundary. :func:`chat_env` opens a SQLite store on a temporary file, a service over it
and the REST app with its startup run (``app.test_app()``).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
from quart import Response
from quart.typing import TestClientProtocol
from quart_trio import QuartTrio

from parley.api.app import create_app
from parley.app import build_services
from parley.broker.auth import issue_token
from parley.core.records import ChannelEvent
from parley.domain.services import Services
from parley.settings import Settings
from parley.store import SqlStore, Store, open_store

SECRET = "test-secret-0123456789abcdef0123456789abcdef"
ORG = "acme"


@dataclass
class RecordingSink:
    """Records what would be fanned out; every publish reports one delivery."""

    published: list[tuple[str, Any]] = field(default_factory=list)
    #: The ``members_of`` of each publish, in the same order.
    audiences: list[str | None] = field(default_factory=list)
    channel_events: list[ChannelEvent] = field(default_factory=list)
    ephemeral: list[tuple[str, str, str, Any]] = field(default_factory=list)

    def publish(
        self, topic: str, data: Any, *, ts: datetime | None = None, members_of: str | None = None
    ) -> int:
        self.published.append((topic, data))
        self.audiences.append(members_of)
        return 1

    def publish_channel_events(self, events: Sequence[ChannelEvent]) -> None:
        self.channel_events.extend(events)

    def publish_channel_ephemeral(self, org: str, channel_id: str, event: str, data: Any) -> int:
        self.ephemeral.append((org, channel_id, event, data))
        return 1

    def pushed(self, event: str, channel_id: str | None = None) -> list[Any]:
        """The data of ephemeral pushes named ``event`` (in one channel), in order."""
        return [
            d
            for _, c, e, d in self.ephemeral
            if e == event and (channel_id is None or c == channel_id)
        ]


@asynccontextmanager
async def open_test_store(tmp_path: Path) -> AsyncIterator[SqlStore]:
    """A migrated store in a fresh SQLite file; or, with ``PARLEY_API_TEST_BACKEND=postgres``
    and ``PARLEY_TEST_DATABASE_URL``, in a fresh PostgreSQL schema dropped afterwards."""
    pg_url = os.environ.get("PARLEY_TEST_DATABASE_URL", "")
    if os.environ.get("PARLEY_API_TEST_BACKEND") != "postgres" or not pg_url:
        async with open_store(f"sqlite:///{tmp_path / 'parley.sqlite3'}") as store:
            await store.migrate()
            yield store
        return
    schema = f"parley_api_{os.getpid()}_{secrets.token_hex(4)}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in pg_url else "?"
    try:
        url = f"{pg_url}{sep}options={quote(f'-csearch_path={schema}')}"
        async with open_store(url) as store:
            await store.migrate()
            yield store
    finally:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def token(sub: str, org: str = ORG, *, roles: Sequence[str] = (), ttl: float = 3600) -> str:
    return issue_token(SECRET, sub=sub, org=org, ttl=ttl, roles=roles)


def auth(sub: str, org: str = ORG, *, roles: Sequence[str] = ()) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(sub, org, roles=roles)}"}


@dataclass
class Env:
    store: Store
    sink: RecordingSink
    chat: Services
    app: QuartTrio
    client: TestClientProtocol

    async def call(
        self,
        method: str,
        path: str,
        user: str | None = "alice",
        *,
        org: str = ORG,
        roles: Sequence[str] = (),
        json: Any = None,
        query: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        data: bytes | None = None,
    ) -> tuple[int, Any]:
        """One request as ``user`` (``None``: no token); return (status, JSON body)."""
        resp = await self.request(
            method,
            path,
            user,
            org=org,
            roles=roles,
            json=json,
            query=query,
            headers=headers,
            data=data,
        )
        body = await resp.get_json() if resp.mimetype == "application/json" else None
        return resp.status_code, body

    async def request(
        self,
        method: str,
        path: str,
        user: str | None = "alice",
        *,
        org: str = ORG,
        roles: Sequence[str] = (),
        json: Any = None,
        query: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        data: bytes | None = None,
    ) -> Response:
        """One request as ``user``; ``data`` is sent as-is, as ``application/json``."""
        h = {} if user is None else auth(user, org, roles=roles)
        h.update(headers or {})
        kw: dict[str, Any] = {"headers": h}
        if data is not None:
            kw["data"] = data
            h.setdefault("Content-Type", "application/json")
        if json is not None:
            kw["json"] = json
        if query is not None:
            kw["query_string"] = query
        return await self.client.open(path, method=method, **kw)

    async def channel(
        self,
        kind: str = "group",
        *,
        owner: str = "alice",
        members: Sequence[str] = ("bob",),
        name: str = "general",
        org: str = ORG,
    ) -> str:
        status, body = await self.call(
            "POST",
            "/v1/channels",
            owner,
            org=org,
            json={"kind": kind, "name": name, "members": list(members)},
        )
        assert status == 201, body
        cid: str = body["id"]
        return cid

    async def post_raw(self, cid: str, text: str, user: str = "alice", **extra: Any) -> Any:
        return await self.call(
            "POST", f"/v1/channels/{cid}/messages", user, json={"text": text, **extra}
        )

    async def post(self, cid: str, text: str, user: str = "alice", **extra: Any) -> Any:
        status, body = await self.post_raw(cid, text, user, **extra)
        assert status in (200, 201), body
        return body


def make_settings() -> Settings:
    return Settings(jwt_secret=SECRET)


def _no_background(*args: Any) -> None:
    raise AssertionError("previews are off in these tests")


def make_services(store: Store, sink: RecordingSink, settings: Settings | None = None) -> Services:
    """The domain services over ``store`` as the composition root wires them (no broker)."""
    s = settings if settings is not None else make_settings()
    return build_services(s, store, sink, verify=s.token_verifier().verify, spawn=_no_background)


def make_app(store: Store, sink: RecordingSink, settings: Settings | None = None) -> QuartTrio:
    """The REST app over ``store`` as the composition root wires it (no broker)."""
    s = settings if settings is not None else make_settings()
    return create_app(make_services(store, sink, s), allowed_origins=s.allowed_origins)


@asynccontextmanager
async def chat_env(tmp_path: Path, settings: Settings | None = None) -> AsyncIterator[Env]:
    async with open_test_store(tmp_path) as store:
        sink = RecordingSink()
        app = make_app(store, sink, settings)
        chat: Services = app.extensions["parley"]
        async with app.test_app() as test_app:
            yield Env(store, sink, chat, app, test_app.test_client())
