"""RFC 3339 timestamps (sans-IO): every timestamp Parley emits is UTC with a ``Z``."""

from __future__ import annotations

from datetime import UTC, datetime

from parley.broker.codes import ErrorCode
from parley.broker.errors import ClientError
from parley.broker.timestamps import rfc3339

#: ``2026-01-02T03:04:05.123456Z``; naive datetimes are taken as UTC (one format everywhere).
format_ts = rfc3339


def format_ts_opt(dt: datetime | None) -> str | None:
    return None if dt is None else format_ts(dt)


def parse_ts(text: str, *, what: str = "timestamp") -> datetime:
    """Parse ISO 8601 / RFC 3339 (``Z`` or an offset; no offset means UTC) to aware UTC.

    Raises :class:`ClientError` ``bad_request`` for anything else.
    """
    if not text or len(text) > 64:
        raise ClientError(ErrorCode.BAD_REQUEST, f"{what} must be an ISO 8601 timestamp")
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise ClientError(
            ErrorCode.BAD_REQUEST, f"{what} must be an ISO 8601 timestamp, got {text!r}"
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    try:
        return dt.astimezone(UTC)
    except OverflowError:
        raise ClientError(ErrorCode.BAD_REQUEST, f"{what} is out of range") from None
