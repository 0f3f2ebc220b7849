"""PostgreSQL backend: psycopg 3's blocking API driven from trio worker threads.

Connections are in autocommit mode; we issue BEGIN/COMMIT/SAVEPOINT ourselves, exactly as
on SQLite. A read cancelled by trio sends a server-side cancel (``cancel_safe``) and the
connection is replaced before its next use, so a late cancel never hits another query.
"""

from __future__ import annotations

import contextlib
import math
import socket
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, ParamSpec, TypeVar

import orjson
import psycopg
from psycopg.types.json import set_json_loads

from parley.store import codec
from parley.store.db import Db, Interrupted, Migration, Params
from parley.store.migrator import SCHEMA_VERSION_TABLE

DIALECT = "postgres"
#: Serializes migrators across processes (any constant shared by every Parley node).
MIGRATION_LOCK_KEY = 0x7061726C6579  # "parley"


#: Seconds a statement may run before the server cancels it (a stalled database must not
#: hold requests for ever), and seconds a (re)connect may take.
STATEMENT_TIMEOUT = 30.0
CONNECT_TIMEOUT = 10
#: A server that does not answer at all (stalled, its host frozen) cannot enforce its own
#: statement_timeout: the watchdog breaks a connection whose call has run this long past it.
WATCHDOG_GRACE_S = 1.0
WATCHDOG_TICK_S = 0.2

P = ParamSpec("P")
R = TypeVar("R")


def is_unavailable(exc: BaseException) -> bool:
    """The server cannot be reached or gave up on us: connection refused or lost, shutting
    down, too many connections, a statement timeout. Not a bad query or a constraint."""
    return isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError)


#: Server settings without which an acknowledged commit does not survive a crash of the
#: database server (docs/storage.md, Durability).
DURABILITY_SETTINGS = ("fsync", "synchronous_commit")


def durability_warning(db: Db) -> str | None:
    """One line saying which of :data:`DURABILITY_SETTINGS` the server runs ``off``, or
    ``None`` when all are on."""
    off = []
    for name in DURABILITY_SETTINGS:
        row = db.one(f"SHOW {name}")
        if row is not None and str(row[0]).lower() == "off":
            off.append(f"{name}=off")
    if not off:
        return None
    return (
        f"PostgreSQL runs with {' and '.join(off)}: a write acknowledged to a client can be "
        "lost, and its seq reused, if the database server crashes (docs/storage.md#durability)"
    )


def is_postgres_url(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://"))


def _translate(sql: str, cache: dict[str, str]) -> str:
    """``?`` placeholders to psycopg's ``%s`` (our SQL has no ``%`` nor literal ``?``)."""
    translated = cache.get(sql)
    if translated is None:
        translated = sql.replace("?", "%s")
        cache[sql] = translated
    return translated


class _Watchdog:
    """One daemon thread for every PostgresDb: a call into the server that has run
    ``statement_timeout + WATCHDOG_GRACE_S`` has its socket shut down, so the blocked thread
    gets a lost-connection error (an outage: 503 / ``unavailable``) instead of waiting for
    as long as the server stays silent. The connection is replaced before its next use."""

    def __init__(self) -> None:
        self._dbs: weakref.WeakSet[PostgresDb] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def watch(self, db: PostgresDb) -> None:
        with self._lock:
            self._dbs.add(db)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="pg-watchdog", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            time.sleep(WATCHDOG_TICK_S)
            now = time.monotonic()
            with self._lock:
                dbs = list(self._dbs)
            for db in dbs:
                db._break_if_overdue(now)


_WATCHDOG = _Watchdog()


def _watched(method: Callable[P, R]) -> Callable[P, R]:
    """Mark the Db busy (for the watchdog) while ``method`` talks to the server."""

    def call(*args: P.args, **kwargs: P.kwargs) -> R:
        db = args[0]
        assert isinstance(db, PostgresDb)
        with db._busy():
            return method(*args, **kwargs)

    return call


#: psycopg's own default: a statement is prepared on its 5th execution.
PREPARE_THRESHOLD = 5


class PostgresDb:
    """A :class:`store.db.Db` over one psycopg connection."""

    for_update = " FOR UPDATE"

    def __init__(self, url: str, *, statement_timeout: float = STATEMENT_TIMEOUT) -> None:
        self._url = url
        self._statement_timeout_ms = max(1, int(statement_timeout * 1000))
        self._sql: dict[str, str] = {}
        self._lock = threading.Lock()
        self._stale = False
        self._pipeline_cm: AbstractContextManager[psycopg.Pipeline] | None = None
        self._pipeline: psycopg.Pipeline | None = None
        #: INSERTs given to defer(): statement -> rows, sent before any other statement.
        self._deferred: dict[str, list[Params]] = {}
        #: A reconnect under a request is bounded like a statement (libpq's minimum is 2 s).
        self._connect_timeout = min(CONNECT_TIMEOUT, max(2, math.ceil(statement_timeout)))
        self._overdue_after = statement_timeout + WATCHDOG_GRACE_S
        self._busy_since: float | None = None
        self._overdue = False
        self._conn = self._connect()
        _WATCHDOG.watch(self)

    @contextlib.contextmanager
    def _busy(self) -> Iterator[None]:
        if self._busy_since is not None:  # nested: the outer call is timed
            yield
            return
        self._busy_since = time.monotonic()
        try:
            yield
        finally:
            with self._lock:
                self._busy_since = None

    def _break_if_overdue(self, now: float) -> None:
        with self._lock:  # held: the call cannot end (and its socket close) meanwhile
            since = self._busy_since
            if since is None or now - since < self._overdue_after:
                return
            self._overdue = True
            self._busy_since = now  # once per overrun
            with contextlib.suppress(OSError, psycopg.Error):
                fd = self._conn.pgconn.socket
                with socket.fromfd(fd, socket.AF_INET, socket.SOCK_STREAM) as sock:
                    sock.shutdown(socket.SHUT_RDWR)

    def _connect(self) -> psycopg.Connection[tuple[Any, ...]]:
        conn = psycopg.Connection.connect(
            self._url, autocommit=True, connect_timeout=self._connect_timeout
        )
        # A SET rather than the ``options`` parameter, which would replace the URL's own.
        conn.execute(f"SET statement_timeout = {self._statement_timeout_ms}")
        set_json_loads(orjson.loads, conn)
        return conn

    def _execute(self, sql: str, params: Params) -> psycopg.Cursor[tuple[Any, ...]]:
        if self._stale:
            raise Interrupted("interrupted")
        if self._deferred:
            self._send_deferred()
        return self._conn.execute(_translate(sql, self._sql), params)

    def _send_deferred(self) -> None:
        deferred, self._deferred = self._deferred, {}
        with self._conn.cursor() as cur:
            for sql, rows in deferred.items():
                cur.executemany(_translate(sql, self._sql), rows)

    @_watched
    def one(self, sql: str, params: Params = ()) -> tuple[Any, ...] | None:
        return self._execute(sql, params).fetchone()

    @_watched
    def all(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]:
        return self._execute(sql, params).fetchall()

    @_watched
    def run(self, sql: str, params: Params = ()) -> int:
        cur = self._execute(sql, params)
        if self._pipeline is not None:
            self._pipeline.sync()  # the row count is known only once the result is in
        return cur.rowcount

    @_watched
    def send(self, sql: str, params: Params = ()) -> None:
        if sql.startswith("SAVEPOINT") and self._conn.prepare_threshold is not None:
            # psycopg forgets its prepared statements on a ROLLBACK TO SAVEPOINT and
            # queues a DEALLOCATE ALL in the pipeline, which then drops statements it
            # prepared earlier in the same pipeline ("prepared statement "_pg3_7" does
            # not exist"): a transaction with savepoints runs unprepared.
            self._conn.prepare_threshold = None
        self._execute(sql, params)

    def defer(self, sql: str, params: Params = ()) -> None:
        self._deferred.setdefault(sql, []).append(params)

    def drop_deferred(self) -> None:
        self._deferred.clear()

    @_watched
    def flush(self) -> None:
        if self._deferred:
            self._send_deferred()
        if self._pipeline is not None:
            self._pipeline.sync()

    @_watched
    def begin(self, *, write: bool) -> None:
        if write:
            # A write batch runs in pipeline mode: statements whose results we do not
            # read travel with the next one we do, which saves round trips.
            self._pipeline_cm = self._conn.pipeline()
            self._pipeline = self._pipeline_cm.__enter__()
            self._execute("BEGIN", ())
        else:
            # One snapshot for every query of a read.
            self._execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", ())

    @_watched
    def commit(self) -> None:
        self._execute("COMMIT", ())
        self._end_pipeline()

    def _end_pipeline(self) -> None:
        self._conn.prepare_threshold = PREPARE_THRESHOLD
        cm, self._pipeline_cm, self._pipeline = self._pipeline_cm, None, None
        if cm is not None:
            cm.__exit__(None, None, None)

    @_watched
    def rollback(self) -> None:
        self._deferred.clear()
        if self._conn.closed or self._conn.broken:
            self._pipeline_cm = self._pipeline = None
            return
        with contextlib.suppress(psycopg.Error):
            self._end_pipeline()  # surfaces (and here drops) the errors still in flight
        if self._conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            self._conn.execute("ROLLBACK")

    def ensure_open(self) -> None:
        with self._lock:
            stale, self._stale = self._stale or self._overdue, False
            self._overdue = False
        if stale or self._conn.closed or self._conn.broken:
            self._conn.close()
            self._conn = self._connect()

    def interrupt(self) -> None:
        with self._lock:
            self._stale = True
        # On failure too: the connection is replaced before its next use anyway.
        with contextlib.suppress(psycopg.Error):
            self._conn.cancel_safe(timeout=5.0)

    def close(self) -> None:
        self._conn.close()

    def migrate(self, migrations: Sequence[Migration]) -> int:
        conn = self._conn
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_KEY,))
            conn.execute(SCHEMA_VERSION_TABLE)
        for migration in migrations:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_KEY,))
                cur = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version")
                current = cur.fetchone()
                if current is not None and int(current[0]) >= migration.version:
                    continue
                conn.execute(migration.sql.encode())  # no parameters: several statements
                conn.execute(
                    "INSERT INTO schema_version (version, name, applied_at_us) VALUES (%s, %s, %s)",
                    (migration.version, migration.name, codec.now_us()),
                )
        row = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()
        return 0 if row is None else int(row[0])
