"""When a scheduled thing happens, from what a client says (sans-IO: ``now`` is passed in).

Exactly one of: ``at`` (RFC 3339; no offset means UTC), ``in_seconds`` (from now), or
``tomorrow_at`` (``"HH:MM"`` tomorrow in the IANA time zone ``tz``, e.g.
``"Europe/Paris"``; zoneinfo resolves daylight saving time: a wall time that does not
exist that day (spring forward) is taken as the same offset as before the change, one that
happens twice (fall back) as its first occurrence).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from parley.core.times import parse_ts
from parley.domain import rules

#: How far ahead anything may be scheduled: one year.
MAX_AHEAD_SECONDS = 366 * 86400
_HHMM = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")


def zone(tz: object) -> ZoneInfo:
    if not isinstance(tz, str) or not tz or len(tz) > 64 or ".." in tz or tz.startswith("/"):
        raise rules.bad("tz must be an IANA time zone name such as Europe/Paris")
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise rules.bad(f"unknown time zone {tz!r}") from None


def resolve(
    now: float,
    *,
    at: str | None = None,
    in_seconds: int | float | None = None,
    tomorrow_at: str | None = None,
    tz: str | None = None,
) -> float:
    """The wall time (seconds since the epoch) meant; ``bad_request`` if none, several,
    malformed, not in the future or more than a year ahead."""
    given = [x for x in (at, in_seconds, tomorrow_at) if x is not None]
    if len(given) != 1:
        raise rules.bad("give exactly one of at, in_seconds, tomorrow_at")
    if tz is not None and tomorrow_at is None:
        raise rules.bad("tz goes with tomorrow_at")
    if at is not None:
        if not isinstance(at, str):
            raise rules.bad("at must be an RFC 3339 timestamp")
        when = parse_ts(at, what="at").timestamp()
    elif in_seconds is not None:
        if isinstance(in_seconds, bool) or not isinstance(in_seconds, int | float):
            raise rules.bad("in_seconds must be a number")
        if not 0 < in_seconds <= MAX_AHEAD_SECONDS:
            raise rules.bad(f"in_seconds must be between 1 and {MAX_AHEAD_SECONDS}")
        when = now + float(in_seconds)
    else:
        when = tomorrow(now, tomorrow_at, zone(tz if tz is not None else "UTC"))
    if when <= now:
        raise rules.bad("the time must be in the future")
    if when > now + MAX_AHEAD_SECONDS:
        raise rules.bad("the time must be at most a year ahead")
    return when


def tomorrow(now: float, hhmm: object, tz: ZoneInfo) -> float:
    """``HH:MM`` on the day after today in ``tz``."""
    if not isinstance(hhmm, str) or (m := _HHMM.fullmatch(hhmm)) is None:
        raise rules.bad('tomorrow_at must be "HH:MM" (24-hour)')
    today = datetime.fromtimestamp(now, UTC).astimezone(tz).date()
    local = datetime.combine(today + timedelta(days=1), time(int(m[1]), int(m[2])), tzinfo=tz)
    return local.timestamp()


def from_fields(now: float, fields: Mapping[str, object], *, at_key: str = "at") -> float:
    """:func:`resolve` over a request body's fields (``at_key``, ``in_seconds``,
    ``tomorrow_at``, ``tz``), type-checked here."""
    return resolve(
        now,
        at=_opt_str(fields.get(at_key), at_key),
        in_seconds=_opt_num(fields.get("in_seconds")),
        tomorrow_at=_opt_str(fields.get("tomorrow_at"), "tomorrow_at"),
        tz=_opt_str(fields.get("tz"), "tz"),
    )


def _opt_str(value: object, what: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise rules.bad(f"{what} must be a string")


def _opt_num(value: object) -> int | float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise rules.bad("in_seconds must be a number")
    return value
