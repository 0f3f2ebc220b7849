"""Store errors. The store validates nothing about permissions; it reports facts."""

from __future__ import annotations

from parley.core.errors import Unavailable


class StoreError(Exception):
    """Base class."""


class StoreUnavailable(StoreError, Unavailable):
    """The database cannot be reached (connection refused or lost, server shutting down,
    statement timeout, SQLite busy or its file unreadable). Nothing of the request was
    committed; retrying later may succeed."""


class NotFound(StoreError):
    """The channel/message/member does not exist (within the org)."""


class Conflict(StoreError):
    """A uniqueness rule would be broken (e.g. a second direct channel for one pair)."""


class Stale(Conflict):
    """A write names a version that is no longer the current one (optimistic
    concurrency); ``current`` is the record as it is now."""

    def __init__(self, message: str, current: object) -> None:
        super().__init__(message)
        self.current = current
