"""RFC 3339 time: formatting and parsing (parley/core/times.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from parley.core.codes import ErrorCode
from parley.core.errors import ClientError
from parley.core.times import parse_ts, rfc3339

NOW = datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)


def test_timestamps_are_utc_with_z() -> None:
    assert rfc3339(NOW) == "2026-01-02T03:04:05.123456Z"
    plus2 = NOW.astimezone(timezone(timedelta(hours=2)))
    assert rfc3339(plus2) == "2026-01-02T03:04:05.123456Z"
    assert parse_ts(rfc3339(NOW)) == NOW
    assert parse_ts("2026-01-02T05:04:05.123456+02:00") == NOW
    assert parse_ts("2026-01-02") == datetime(2026, 1, 2, tzinfo=UTC)


def code_of(fn: object, *args: object) -> ErrorCode:
    with pytest.raises(ClientError) as info:
        fn(*args)  # type: ignore[operator]
    return info.value.code


@pytest.mark.parametrize("text", ["", "soon", "2026-02-30", "1700000000", "x" * 100])
def test_bad_timestamps(text: str) -> None:
    assert code_of(parse_ts, text) is ErrorCode.BAD_REQUEST
