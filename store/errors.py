"""Store errors. The store validates nothing about permissions; it reports facts."""

from __future__ import annotations


class StoreError(Exception):
    """Base class."""


class NotFound(StoreError):
    """The channel/message/member does not exist (within the org)."""


class Conflict(StoreError):
    """A uniqueness rule would be broken (e.g. a second direct channel for one pair)."""
