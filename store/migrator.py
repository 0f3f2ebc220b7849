"""Versioned schema migrations shipped as package data.

``store/migrations/<dialect>/NNNN_name.sql`` are applied in version order; the
``schema_version`` table records each one applied. Each backend runs them (see
``Db.migrate``), each in its own transaction, under a lock, skipping recorded versions.
"""

from __future__ import annotations

import re
from importlib import resources

from parley.store.db import Migration

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

SCHEMA_VERSION_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_version ("
    " version INTEGER PRIMARY KEY,"
    " name TEXT NOT NULL,"
    " applied_at_us BIGINT NOT NULL)"
)


def load(dialect: str) -> list[Migration]:
    """The migrations for ``dialect`` (``sqlite`` or ``postgres``), ordered by version."""
    folder = resources.files(__package__ or "parley.store").joinpath("migrations", dialect)
    found: list[Migration] = []
    for entry in folder.iterdir():
        match = _NAME.match(entry.name)
        if match is None:
            continue
        found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise RuntimeError(f"{dialect} migrations are not numbered 1..n: {versions}")
    return found
