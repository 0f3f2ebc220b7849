"""Fixtures for the store suite: an opened, migrated, empty store per test, per backend.

SQLite: a fresh file per test. PostgreSQL: the URL in ``PARLEY_TEST_DATABASE_URL``
(``scripts/pg-test-server start`` prints one); the suite creates its own schema there,
truncates the tables before each test and drops the schema at the end. Without the
variable the PostgreSQL cases are skipped, unless ``CI=true``: then they fail.

Import the fixtures you use into the test module (``from tests.support.store import …``).
"""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
import trio
import trio.testing

from parley.core.records import Attachment, ChannelEvent, ChannelKind, Draft, PostResult, Role
from parley.store import SqlStore, Store, open_store, sql
from parley.store.errors import NotFound

PG_ENV = "PARLEY_TEST_DATABASE_URL"
BACKENDS = ["sqlite", "postgres"]
TABLES = (
    "attachments, link_previews, channel_events, messages, members, profiles, channels,"
    " blocks, deleted_accounts, retention, idempotency_keys, notifications,"
    " scheduled_notifications, notification_rules, notification_prefs,"
    " notification_channel_prefs, notification_keywords, thread_follows, push_subscriptions,"
    " user_emails, notes, note_versions, entity_locks, jobs, scheduled_messages,"
    " reminders, webhooks, webhook_deliveries, bots"
)


def _with_schema(url: str, schema: str) -> str:
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options={quote(f'-csearch_path={schema}')}"


class PgSchemas:
    """Creates throwaway schemas in the test database; drops them all at the end."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.created: list[str] = []
        self.main: str | None = None

    def new(self) -> str:
        schema = f"parley_test_{os.getpid()}_{secrets.token_hex(4)}"
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
        self.created.append(schema)
        return _with_schema(self.url, schema)

    def drop_all(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            for schema in self.created:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(scope="session")
def pg_schemas() -> Iterator[PgSchemas]:
    url = os.environ.get(PG_ENV, "")
    if not url:
        reason = f"{PG_ENV} is not set (scripts/pg-test-server start prints a URL)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"PostgreSQL is required in CI: {reason}")
        pytest.skip(reason)
    schemas = PgSchemas(url)
    try:
        yield schemas
    finally:
        schemas.drop_all()


@pytest.fixture(scope="session")
def pg_main_url(pg_schemas: PgSchemas) -> str:
    """One schema for the whole session, truncated before each test."""
    return pg_schemas.new()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def fresh_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Callable[[], str]:
    """Make the URL of a new, empty (unmigrated) database of the backend."""
    if backend == "sqlite":
        counter = iter(range(1_000_000))
        return lambda: f"sqlite:///{tmp_path}/fresh{next(counter)}.sqlite3"
    schemas: PgSchemas = request.getfixturevalue("pg_schemas")
    return schemas.new


@pytest.fixture
def store_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path}/store.sqlite3"
    url: str = request.getfixturevalue("pg_main_url")
    return url


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[SqlStore]:
    async with open_store(store_url, readers=2) as st:
        await st.migrate()
        if store_url.startswith("postgresql"):
            await st.writer.exclusive(lambda db: db.run(f"TRUNCATE {TABLES}"))
        yield st


class Recorder:
    """A commit listener that keeps every call."""

    def __init__(self) -> None:
        self.calls: list[list[ChannelEvent]] = []

    def __call__(self, events: Sequence[ChannelEvent]) -> None:
        self.calls.append(list(events))

    @property
    def events(self) -> list[ChannelEvent]:
        return [e for call in self.calls for e in call]


@pytest.fixture
def recorder(store: SqlStore) -> Recorder:
    rec = Recorder()
    store.set_commit_listener(rec)
    return rec


class WriterGate:
    """Holds the writer busy so that the requests queued meanwhile form one batch."""

    def __init__(self, store: SqlStore) -> None:
        self._store = store

    @asynccontextmanager
    async def one_batch(self) -> AsyncIterator[trio.Nursery]:
        """Start writers in the yielded nursery: they are all queued, then run as one
        batch once the block ends; the nursery waits for them."""
        release = threading.Event()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._store.writer.exclusive, lambda db: release.wait())
            await trio.testing.wait_all_tasks_blocked()
            try:
                yield nursery
                await trio.testing.wait_all_tasks_blocked()
            finally:
                release.set()


@pytest.fixture
def gate(store: SqlStore) -> WriterGate:
    return WriterGate(store)


# -- posting as the store tests do it: through the one store function, sql.messages.post --


def anyone(kind: ChannelKind, role: Role | None) -> None:
    """An access policy that lets every author post (the store tests' trusted caller)."""


async def post_message(
    store: Store,
    org: str,
    channel_id: str,
    *,
    author: str,
    text: str,
    idempotency_key: str | None = None,
) -> PostResult:
    draft = Draft(org, channel_id, author, text, idempotency_key=idempotency_key)
    return await store.write(sql.messages.post, draft, authorize=anyone)


async def post_as_member(
    store: Store,
    org: str,
    channel_id: str,
    *,
    author: str,
    text: str,
    idempotency_key: str | None = None,
    authorize: Callable[[ChannelKind, Role], None],
) -> PostResult:
    """Members only (NotFound otherwise), then ``authorize(kind, role)`` may refuse."""

    def members_only(kind: ChannelKind, role: Role | None) -> None:
        if role is None:
            raise NotFound(f"channel {channel_id}")
        authorize(kind, role)

    draft = Draft(org, channel_id, author, text, idempotency_key=idempotency_key)
    return await store.write(sql.messages.post, draft, authorize=members_only)


async def post_message_with_files(
    store: Store, org: str, channel_id: str, *, author: str, text: str, file_ids: Sequence[str]
) -> tuple[PostResult, list[Attachment]]:
    draft = Draft(org, channel_id, author, text, file_ids=tuple(file_ids))
    result = await store.write(sql.messages.post, draft, authorize=anyone)
    return result, list(result.attachments)
