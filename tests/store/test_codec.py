"""Ids, cursors and timestamp conversions (backend-independent)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone

import pytest

from parley.store import codec
from parley.store.ids import new_id, ulid


def test_ids_are_prefixed_unique_and_sorted_in_creation_order() -> None:
    ids = [new_id("msg") for _ in range(5000)]
    assert all(i.startswith("msg_") and len(i) == 30 for i in ids)
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)
    assert set("".join(i[4:] for i in ids)) <= set("0123456789abcdefghjkmnpqrstvwxyz")
    assert len(ulid()) == 26


def test_cursor_round_trip_and_rejects_garbage() -> None:
    cursor = codec.encode_cursor(1700000000000000, "ch_x")
    assert codec.decode_cursor(cursor, int, str) == (1700000000000000, "ch_x")
    too_big = base64.urlsafe_b64encode(b'[18446744073709551616, "ch_x"]').decode()
    wrong = (codec.encode_cursor("a", "b"), codec.encode_cursor(1), "e30", too_big)
    for bad in ("", "!!!", "é", *wrong):
        with pytest.raises(ValueError):
            codec.decode_cursor(bad, int, str)


def test_microsecond_instants_round_trip() -> None:
    dt = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
    assert codec.from_us(codec.to_us(dt)) == dt
    paris = dt.astimezone(timezone(timedelta(hours=2)))
    assert codec.to_us(paris) == codec.to_us(dt)
    assert codec.rfc3339(paris) == "2024-05-01T12:00:00.123456Z"
    assert codec.rfc3339(dt.replace(microsecond=0)) == "2024-05-01T12:00:00.000000Z"
    with pytest.raises(ValueError):
        codec.to_us(datetime(2024, 5, 1))
