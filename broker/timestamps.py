"""RFC 3339 timestamps in UTC, the one format used on the wire (REST and WebSocket)."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    return datetime.now(UTC)


def rfc3339(dt: datetime) -> str:
    """``2026-11-22T06:40:00.123456Z`` (microseconds; always UTC, always ``Z``)."""
    dt = dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
