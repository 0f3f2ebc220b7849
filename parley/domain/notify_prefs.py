"""Notification preferences (sans-IO): their validation, and the one decision of what a
notification does for one recipient at one instant (docs/notifications.md, Preferences).

- ``level`` (global): ``all`` (every message of my channels), ``mentions_and_dms``
  (default), ``nothing``;
- ``channels``: per channel ``default`` (the global level), ``all``, ``mentions``, ``mute``;
- ``delivery``: per type, per delivery channel (``in_app``, ``push``, ``email``) on/off;
- ``dnd``: a daily do-not-disturb window in a time zone (``start``/``end`` ``HH:MM``,
  ``days`` ISO weekdays 1-7, ``time_zone`` an IANA name), and/or ``until`` (snooze);
- ``keywords``: words that count as a mention of me;
- ``email``: the address digests go to (else the ``email`` claim of my last token).

``urgent`` cuts through channel mute, the levels and do-not-disturb.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from parley.core.claims import MAX_EMAIL_LENGTH
from parley.core.notifications import (
    CHAT_TYPES,
    DELIVERY_CHANNELS,
    DIRECT_TYPES,
    EMAIL,
    IN_APP,
    PUSH,
    REACTION,
    URGENT,
)
from parley.core.times import parse_ts, rfc3339
from parley.domain import rules

LEVELS = ("all", "mentions_and_dms", "nothing")
CHANNEL_LEVELS = ("default", "all", "mentions", "mute")
DEFAULT_LEVEL = "mentions_and_dms"
#: Most keywords, their length, and most per-channel entries of one user.
MAX_KEYWORDS = 50
MAX_KEYWORD_CHARS = 64
MAX_CHANNEL_PREFS = 1000
#: Types whose delivery is off unless the user turns it on.
OFF_BY_DEFAULT = frozenset({REACTION})

_HHMM = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")
_TYPE = re.compile(r"[a-z][a-z0-9_.-]{0,63}")


def check_type(value: object, what: str = "type") -> str:
    if not isinstance(value, str) or not _TYPE.fullmatch(value):
        raise rules.bad(f"{what} must be 1 to 64 of a-z 0-9 _ . - starting with a letter")
    return value


@dataclass(frozen=True, slots=True)
class Dnd:
    start: time | None = None
    end: time | None = None
    days: frozenset[int] = frozenset(range(1, 8))
    zone: str = "UTC"
    until: datetime | None = None

    def active(self, now: datetime) -> bool:
        if self.until is not None and now < self.until:
            return True
        if self.start is None or self.end is None or self.start == self.end:
            return False
        local = now.astimezone(ZoneInfo(self.zone))
        t = local.time().replace(tzinfo=None)
        if self.start < self.end:
            return self.start <= t < self.end and local.isoweekday() in self.days
        if t >= self.start:  # the window runs over midnight: it started today...
            return local.isoweekday() in self.days
        if t < self.end:  # ...or yesterday
            return (local - timedelta(days=1)).isoweekday() in self.days
        return False

    def as_json(self) -> dict[str, Any]:
        return {
            "start": None if self.start is None else self.start.strftime("%H:%M"),
            "end": None if self.end is None else self.end.strftime("%H:%M"),
            "days": sorted(self.days),
            "time_zone": self.zone,
            "until": None if self.until is None else rfc3339(self.until),
        }


@dataclass(frozen=True, slots=True)
class Prefs:
    level: str = DEFAULT_LEVEL
    channels: dict[str, str] = field(default_factory=dict)
    #: type -> delivery channel -> on (only what the user set; see :meth:`delivery_of`)
    delivery: dict[str, dict[str, bool]] = field(default_factory=dict)
    dnd: Dnd | None = None
    keywords: tuple[str, ...] = ()
    email: str | None = None
    email_unsubscribed: bool = False

    def delivery_of(self, type_: str) -> dict[str, bool]:
        default = type_ not in OFF_BY_DEFAULT
        set_ = self.delivery.get(type_, {})
        return {ch: set_.get(ch, default) for ch in DELIVERY_CHANNELS}

    def doc(self) -> dict[str, Any]:
        """What is stored as the JSON document (level, channels, keywords apart)."""
        return {
            "delivery": self.delivery,
            "dnd": None if self.dnd is None else self.dnd.as_json(),
            "email": self.email,
        }


def from_stored(
    level: str,
    doc: dict[str, Any],
    *,
    channels: dict[str, str],
    keywords: tuple[str, ...],
    email_unsubscribed: bool,
) -> Prefs:
    """Stored values were validated when written."""
    dnd = doc.get("dnd")
    return Prefs(
        level=level,
        channels=dict(channels),
        delivery={t: dict(v) for t, v in (doc.get("delivery") or {}).items()},
        dnd=None if not dnd else _dnd(dnd),
        keywords=keywords,
        email=doc.get("email"),
        email_unsubscribed=email_unsubscribed,
    )


def _dnd(body: object) -> Dnd:
    if not isinstance(body, dict):
        raise rules.bad("dnd must be an object or null")
    unknown = set(body) - {"start", "end", "days", "time_zone", "until"}
    if unknown:
        raise rules.bad(f"unknown dnd field {sorted(unknown)[0]!r}")

    def hhmm(key: str) -> time | None:
        v = body.get(key)
        if v is None:
            return None
        if not isinstance(v, str) or not (m := _HHMM.fullmatch(v)):
            raise rules.bad(f"dnd.{key} must be HH:MM (24 h)")
        return time(int(m[1]), int(m[2]))

    start, end = hhmm("start"), hhmm("end")
    if (start is None) != (end is None):
        raise rules.bad("dnd.start and dnd.end go together")
    days = body.get("days", list(range(1, 8)))
    if (
        not isinstance(days, list)
        or not all(isinstance(d, int) and not isinstance(d, bool) and 1 <= d <= 7 for d in days)
        or not days
    ):
        raise rules.bad("dnd.days must be a non-empty list of ISO weekdays 1 (Monday) to 7")
    zone = body.get("time_zone", "UTC")
    if not isinstance(zone, str) or not zone or len(zone) > 64 or ".." in zone:
        raise rules.bad("dnd.time_zone must be an IANA time zone name")
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise rules.bad(f"unknown time zone {zone!r}") from None
    until_v = body.get("until")
    until = None
    if until_v is not None:
        if not isinstance(until_v, str):
            raise rules.bad("dnd.until must be an RFC 3339 time or null")
        until = parse_ts(until_v, what="dnd.until")
    return Dnd(start, end, frozenset(days), zone, until)


def check_email(value: object) -> str | None:
    if value is None:
        return None
    if (
        not isinstance(value, str)
        or len(value) > MAX_EMAIL_LENGTH
        or value.count("@") != 1
        or any(c.isspace() or ord(c) < 32 for c in value)
        or "." not in value.partition("@")[2]
        or not value.partition("@")[0]
    ):
        raise rules.bad("email must be an address like name@example.com, or null")
    return value


def apply_patch(current: Prefs, body: dict[str, Any]) -> tuple[Prefs, bool, bool]:
    """``current`` with the fields of ``body`` replaced (``channels`` merged: ``default``
    removes an entry); returns (prefs, keywords changed, channels changed)."""
    unknown = set(body) - {"level", "channels", "delivery", "dnd", "keywords", "email"}
    if unknown:
        raise rules.bad(f"unknown field {sorted(unknown)[0]!r}")
    level = current.level
    if "level" in body:
        if body["level"] not in LEVELS:
            raise rules.bad(f"level must be one of: {', '.join(LEVELS)}")
        level = body["level"]
    channels = dict(current.channels)
    if "channels" in body:
        ch = body["channels"]
        if not isinstance(ch, dict):
            raise rules.bad("channels must be an object of channel id -> level")
        for cid, lv in ch.items():
            rules.check_clean(cid, "channel id")
            if lv not in CHANNEL_LEVELS:
                raise rules.bad(f"a channel's level must be one of: {', '.join(CHANNEL_LEVELS)}")
            if lv == "default":
                channels.pop(cid, None)
            else:
                channels[cid] = lv
        if len(channels) > MAX_CHANNEL_PREFS:
            raise rules.bad(f"at most {MAX_CHANNEL_PREFS} channel preferences")
    delivery = {t: dict(v) for t, v in current.delivery.items()}
    if "delivery" in body:
        d = body["delivery"]
        if not isinstance(d, dict) or len(d) > 100:
            raise rules.bad("delivery must be an object of type -> {in_app, push, email}")
        for t, chans in d.items():
            check_type(t, "a delivery type")
            if not isinstance(chans, dict) or not all(
                k in DELIVERY_CHANNELS and isinstance(v, bool) for k, v in chans.items()
            ):
                raise rules.bad(f"delivery.{t} must map in_app/push/email to true or false")
            delivery.setdefault(t, {}).update(chans)
    dnd = current.dnd
    if "dnd" in body:
        dnd = None if body["dnd"] is None else _dnd(body["dnd"])
    keywords = current.keywords
    if "keywords" in body:
        kw = body["keywords"]
        if not isinstance(kw, list) or len(kw) > MAX_KEYWORDS:
            raise rules.bad(f"keywords must be a list of at most {MAX_KEYWORDS} words")
        out: list[str] = []
        for k in kw:
            if not isinstance(k, str) or not k.strip() or len(k) > MAX_KEYWORD_CHARS:
                raise rules.bad(f"a keyword must be 1 to {MAX_KEYWORD_CHARS} characters")
            out.append(rules.check_clean(k.strip().lower(), "keyword"))
        keywords = tuple(dict.fromkeys(out))
    email = check_email(body["email"]) if "email" in body else current.email
    prefs = Prefs(level, channels, delivery, dnd, keywords, email, current.email_unsubscribed)
    return prefs, keywords != current.keywords, channels != current.channels


def as_json(p: Prefs) -> dict[str, Any]:
    return {
        "level": p.level,
        "channels": dict(sorted(p.channels.items())),
        "delivery": p.delivery,
        "dnd": None if p.dnd is None else p.dnd.as_json(),
        "keywords": list(p.keywords),
        "email": p.email,
        "email_unsubscribed": p.email_unsubscribed,
    }


@dataclass(frozen=True, slots=True)
class Decision:
    """What one notification does for one recipient. ``store`` false: nothing at all."""

    store: bool
    alert: bool = False
    push: bool = False
    email: bool = False


DROP = Decision(False)


def decide(
    p: Prefs, *, type_: str, priority: str, channel_id: str | None, now: datetime
) -> Decision:
    """The one rule: mute and the levels drop (unless urgent), the per-type delivery
    switches pick the channels (a type switched off everywhere is dropped), and
    do-not-disturb (unless urgent) keeps it in the inbox silently."""
    urgent = priority == URGENT
    chan = p.channels.get(channel_id, "default") if channel_id is not None else "default"
    if not urgent:
        if chan == "mute":
            return DROP
        effective = {"default": p.level, "mentions": "mentions_and_dms"}.get(chan, chan)
        if effective == "nothing":
            return DROP
        if effective == "mentions_and_dms" and type_ in CHAT_TYPES and type_ not in DIRECT_TYPES:
            return DROP
    d = p.delivery_of(type_)
    if not any(d.values()):
        return DROP
    quiet = not urgent and p.dnd is not None and p.dnd.active(now)
    return Decision(
        store=True,
        alert=(d[IN_APP] or urgent) and not quiet,
        push=(d[PUSH] or urgent) and not quiet,
        email=d[EMAIL] and not quiet and not p.email_unsubscribed,
    )
