"""Fixtures of the domain tests: the services over a real store (SQLite and PostgreSQL,
from tests.support.store), wired as the composition root wires them, publishing to a
recording sink."""

from __future__ import annotations

import secrets

import pytest

from parley.domain.services import Services
from parley.store import SqlStore
from tests.support.api import RecordingSink, make_services


@pytest.fixture
def org() -> str:
    return "o" + secrets.token_hex(4)  # teams are unique per org; the PG schema is shared


@pytest.fixture
def sink() -> RecordingSink:
    return RecordingSink()


@pytest.fixture
def svc(store: SqlStore, sink: RecordingSink) -> Services:
    return make_services(store, sink)
