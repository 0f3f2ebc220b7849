"""SQLite backend: stdlib ``sqlite3`` in WAL mode, one writer and a few read-only readers."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from parley.store import codec
from parley.store.db import Interrupted, Migration, Params
from parley.store.migrator import SCHEMA_VERSION_TABLE

DIALECT = "sqlite"
BUSY_TIMEOUT_MS = 10_000
#: ``PRAGMA synchronous`` levels (``PARLEY_SQLITE_SYNCHRONOUS``), what an acknowledged
#: write survives in WAL mode (docs/storage.md, Durability): ``off`` a process crash only
#: while the OS keeps running; ``normal`` a process crash, not a power loss (the last
#: commits may be lost, the file stays consistent); ``full`` and ``extra`` a power loss
#: too (one fsync of the WAL per commit, that is per group-commit batch).
SYNCHRONOUS_LEVELS = ("off", "normal", "full", "extra")
DEFAULT_SYNCHRONOUS = "normal"


#: sqlite3 errors that mean the database cannot be used now (not a bad statement).
_UNAVAILABLE = (
    "database is locked",
    "unable to open",
    "disk i/o error",
    "database or disk is full",
    "readonly database",
    "database is busy",
)


def is_unavailable(exc: BaseException) -> bool:
    """The file cannot be opened, written or locked now (another process holds it, the disk
    is full or gone). A bad statement or constraint is not an outage."""
    return isinstance(exc, sqlite3.OperationalError) and any(
        words in str(exc).lower() for words in _UNAVAILABLE
    )


def path_from_url(url: str) -> Path:
    """``sqlite:///rel/path``, ``sqlite:////abs/path`` or a plain path."""
    if url.startswith("sqlite:///"):
        url = url[len("sqlite:///") :]
    elif url.startswith("sqlite:"):
        raise ValueError(f"unsupported SQLite URL {url!r}: use sqlite:///path")
    if not url or url == ":memory:":
        raise ValueError("an SQLite store needs a file (readers are separate connections)")
    return Path(url)


#: Index the messages noted since the last flush (their text as it is now).
_FTS_FLUSH = (
    "INSERT INTO messages_fts (rowid, text, files_text)"
    " SELECT m.rowid, m.text, m.files_text FROM messages_fts_pending p"
    " JOIN messages m ON m.rowid = p.msg_rowid"
)


class SqliteDb:
    """A :class:`store.db.Db` over one ``sqlite3`` connection in autocommit mode (we
    issue BEGIN/COMMIT ourselves)."""

    for_update = ""

    def __init__(self, conn: sqlite3.Connection, *, writer: bool = False) -> None:
        self._conn = conn
        self._interrupted = False
        self._writer = writer
        #: Rows of :meth:`defer` not yet inserted, by statement (in first-use order).
        self._deferred: dict[str, list[Params]] = {}
        #: The writer flushes the messages noted for full-text indexing at each commit
        #: (migration 0012); looked up at open and after migrations.
        self._fts_pending = writer and self._has_fts_pending()

    def _has_fts_pending(self) -> bool:
        row = self._conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'messages_fts_pending'"
        ).fetchone()
        return row is not None

    def _execute(self, sql: str, params: Params) -> sqlite3.Cursor:
        if self._interrupted:
            raise Interrupted("interrupted")
        if self._deferred:
            self._send_deferred()
        return self._conn.execute(sql, params)

    def _send_deferred(self) -> None:
        deferred, self._deferred = self._deferred, {}
        for sql, rows in deferred.items():
            self._conn.executemany(sql, rows)

    @classmethod
    def open_writer(cls, path: Path, *, synchronous: str = DEFAULT_SYNCHRONOUS) -> SqliteDb:
        if synchronous not in SYNCHRONOUS_LEVELS:
            raise ValueError(f"SQLite synchronous must be one of {SYNCHRONOUS_LEVELS}")
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        try:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute(f"PRAGMA synchronous = {synchronous.upper()}")
            conn.execute("PRAGMA foreign_keys = ON")
        except BaseException:
            conn.close()
            raise
        return cls(conn, writer=True)

    @classmethod
    def open_reader(cls, path: Path) -> SqliteDb:
        uri = f"{path.resolve().as_uri()}?mode=ro"
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        try:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        except BaseException:
            conn.close()
            raise
        return cls(conn)

    def synchronous(self) -> str:
        """The connection's ``PRAGMA synchronous`` level, by name."""
        row = self.one("PRAGMA synchronous")
        return SYNCHRONOUS_LEVELS[int(row[0])] if row is not None else "?"

    def one(self, sql: str, params: Params = ()) -> tuple[Any, ...] | None:
        cur = self._execute(sql, params)
        try:
            row: tuple[Any, ...] | None = cur.fetchone()
            return row
        finally:
            cur.close()

    def all(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]:
        rows: list[tuple[Any, ...]] = self._execute(sql, params).fetchall()
        return rows

    def run(self, sql: str, params: Params = ()) -> int:
        return self._execute(sql, params).rowcount

    def send(self, sql: str, params: Params = ()) -> None:
        self._execute(sql, params)

    def defer(self, sql: str, params: Params = ()) -> None:
        # One executemany per statement at the next other statement: the inserts of a
        # batch of posts written back to back cost one call, not one each.
        self._deferred.setdefault(sql, []).append(params)

    def drop_deferred(self) -> None:
        self._deferred.clear()

    def flush(self) -> None:
        if self._deferred:
            if self._interrupted:
                raise Interrupted("interrupted")
            self._send_deferred()

    def begin(self, *, write: bool) -> None:
        # IMMEDIATE takes the write lock now rather than failing to upgrade later.
        self._execute("BEGIN IMMEDIATE" if write else "BEGIN", ())

    def commit(self) -> None:
        if self._fts_pending and self._conn.in_transaction:
            # Index the batch's new messages in bulk, in the batch (0012_fts_per_batch).
            self._execute(_FTS_FLUSH, ())
            self._execute("DELETE FROM messages_fts_pending", ())
        self._execute("COMMIT", ())

    def rollback(self) -> None:
        self._deferred.clear()
        if self._conn.in_transaction:
            self._conn.execute("ROLLBACK")

    def ensure_open(self) -> None:
        self._interrupted = False
        if self._conn.in_transaction:
            # A transaction an interrupt left open (the interrupt can land on its
            # ROLLBACK): end it, or this call's BEGIN fails "within a transaction".
            self._deferred.clear()
            self._conn.execute("ROLLBACK")

    def interrupt(self) -> None:
        self._interrupted = True
        self._conn.interrupt()

    def close(self) -> None:
        self._conn.close()

    def migrate(self, migrations: Sequence[Migration]) -> int:
        conn = self._conn
        conn.execute(SCHEMA_VERSION_TABLE)
        for migration in migrations:
            self.begin(write=True)  # the write lock serializes concurrent migrators
            try:
                row = self.one("SELECT COALESCE(MAX(version), 0) FROM schema_version")
                if row is not None and int(row[0]) >= migration.version:
                    self.rollback()
                    continue
                for statement in _statements(migration.sql):
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_version (version, name, applied_at_us) VALUES (?, ?, ?)",
                    (migration.version, migration.name, codec.now_us()),
                )
                self.commit()
            except BaseException:
                self.rollback()
                raise
        self._fts_pending = self._writer and self._has_fts_pending()
        row = self.one("SELECT COALESCE(MAX(version), 0) FROM schema_version")
        return 0 if row is None else int(row[0])


def _statements(script: str) -> list[str]:
    """Split a script into complete statements (``executescript`` would commit first)."""
    statements: list[str] = []
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            if pending.strip():
                statements.append(pending)
            pending = ""
    if pending.strip() and not all(
        ln.strip().startswith("--") or not ln.strip() for ln in pending.splitlines()
    ):
        raise ValueError("migration ends with an incomplete statement")
    return statements
