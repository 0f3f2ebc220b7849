"""Opaque, time-sortable, unique ids: a type prefix and a ULID (``msg_01jc…``).

48 bits of milliseconds since the epoch, then 80 bits that are random for the first id of
a millisecond and incremented for the next ones, so ids made by one process sort in the
order they were made. Crockford's lowercase base32 keeps string order equal to number
order.
"""

from __future__ import annotations

import secrets
import threading
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
#: Every 10-bit value as two characters: 13 lookups spell 130 bits (2 leading zeros).
_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]
_RANDOM_BITS = 80
_RANDOM_MASK = (1 << _RANDOM_BITS) - 1

_lock = threading.Lock()
_last_ms = -1
_last_rand = 0


def _next_value() -> int:
    global _last_ms, _last_rand
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms <= _last_ms:
            # Same millisecond (or a clock step back): keep the order by counting up.
            ms = _last_ms
            _last_rand = (_last_rand + 1) & _RANDOM_MASK
            if _last_rand == 0:
                ms += 1
        else:
            _last_rand = secrets.randbits(_RANDOM_BITS)
        _last_ms = ms
        return (ms << _RANDOM_BITS) | _last_rand


def ulid() -> str:
    """A 26-character lowercase ULID."""
    v = _next_value()
    p = _PAIRS
    return "".join(
        (
            p[(v >> 120) & 1023],
            p[(v >> 110) & 1023],
            p[(v >> 100) & 1023],
            p[(v >> 90) & 1023],
            p[(v >> 80) & 1023],
            p[(v >> 70) & 1023],
            p[(v >> 60) & 1023],
            p[(v >> 50) & 1023],
            p[(v >> 40) & 1023],
            p[(v >> 30) & 1023],
            p[(v >> 20) & 1023],
            p[(v >> 10) & 1023],
            p[v & 1023],
        )
    )


def new_id(prefix: str) -> str:
    """``prefix`` + ``_`` + a ULID, e.g. ``ch_01j9z…``."""
    return f"{prefix}_{ulid()}"
