"""Notification preferences, sans-IO: validation and the one decision per recipient."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from parley.core.errors import ClientError
from parley.domain.notify_prefs import Prefs, apply_patch, as_json, decide

# A Wednesday, 21:30 UTC = 22:30 in Paris (winter).
NOW = datetime(2026, 12, 2, 21, 30, tzinfo=UTC)


def prefs(**body: Any) -> Prefs:
    p, _, _ = apply_patch(Prefs(), body)
    return p


def test_defaults_mentions_and_dms() -> None:
    p = Prefs()
    d = decide(p, type_="mention", priority="normal", channel_id="ch_1", now=NOW)
    assert (d.store, d.alert, d.push, d.email) == (True, True, True, True)
    assert not decide(p, type_="message", priority="normal", channel_id="ch_1", now=NOW).store
    assert not decide(p, type_="reaction", priority="low", channel_id="ch_1", now=NOW).store
    assert decide(p, type_="deploy.failed", priority="low", channel_id=None, now=NOW).store


def test_channel_levels_and_mute_urgent_cuts_through() -> None:
    p = prefs(level="nothing", channels={"ch_all": "all", "ch_mute": "mute", "ch_m": "mentions"})
    assert decide(p, type_="message", priority="normal", channel_id="ch_all", now=NOW).store
    assert not decide(p, type_="mention", priority="high", channel_id="ch_other", now=NOW).store
    assert decide(p, type_="mention", priority="normal", channel_id="ch_m", now=NOW).store
    assert not decide(p, type_="message", priority="normal", channel_id="ch_m", now=NOW).store
    assert not decide(p, type_="mention", priority="high", channel_id="ch_mute", now=NOW).store
    urgent = decide(p, type_="mention", priority="urgent", channel_id="ch_mute", now=NOW)
    assert (urgent.store, urgent.alert, urgent.push) == (True, True, True)


def test_delivery_per_type_and_email_unsubscribe() -> None:
    p = prefs(delivery={"mention": {"email": False}, "reaction": {"in_app": True}})
    d = decide(p, type_="mention", priority="normal", channel_id=None, now=NOW)
    assert (d.push, d.email) == (True, False)
    r = decide(p, type_="reaction", priority="low", channel_id=None, now=NOW)
    assert (r.store, r.alert, r.push, r.email) == (True, True, False, False)
    off = prefs(delivery={"dm": {"in_app": False, "push": False, "email": False}})
    assert not decide(off, type_="dm", priority="high", channel_id=None, now=NOW).store


def test_dnd_window_in_a_time_zone_over_midnight() -> None:
    p = prefs(dnd={"start": "22:00", "end": "07:00", "time_zone": "Europe/Paris", "days": [3]})
    quiet = decide(p, type_="mention", priority="normal", channel_id=None, now=NOW)
    assert (quiet.store, quiet.alert, quiet.push, quiet.email) == (True, False, False, False)
    loud = decide(p, type_="mention", priority="urgent", channel_id=None, now=NOW)
    assert (loud.alert, loud.push) == (True, True)
    # Thursday 05:00 Paris: still Wednesday's window; Thursday 22:30: not a listed day.
    assert p.dnd is not None
    assert p.dnd.active(datetime(2026, 12, 3, 4, 0, tzinfo=UTC))
    assert not p.dnd.active(datetime(2026, 12, 3, 21, 30, tzinfo=UTC))
    assert not p.dnd.active(datetime(2026, 12, 2, 12, 0, tzinfo=UTC))
    snooze = prefs(dnd={"until": "2026-12-02T22:00:00Z"})
    assert snooze.dnd is not None and snooze.dnd.active(NOW)
    assert not snooze.dnd.active(datetime(2026, 12, 2, 22, 0, tzinfo=UTC))


def test_patch_merges_channels_and_normalizes_keywords() -> None:
    p = prefs(channels={"a": "mute", "b": "all"}, keywords=["Deploy", "deploy", " oncall "])
    p2, kw_changed, ch_changed = apply_patch(p, {"channels": {"a": "default"}})
    assert p2.channels == {"b": "all"} and ch_changed and not kw_changed
    assert p.keywords == ("deploy", "oncall")
    out = as_json(p2)
    assert out["keywords"] == ["deploy", "oncall"] and out["level"] == "mentions_and_dms"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"level": "some"}, "level"),
        ({"channels": {"a": "loud"}}, "level"),
        ({"delivery": {"mention": {"sms": True}}}, "in_app/push/email"),
        ({"dnd": {"start": "25:00", "end": "07:00"}}, "HH:MM"),
        ({"dnd": {"start": "22:00"}}, "go together"),
        ({"dnd": {"time_zone": "Mars/Base"}}, "time zone"),
        ({"dnd": {"days": [0]}}, "weekdays"),
        ({"keywords": ["x" * 65]}, "keyword"),
        ({"email": "not-an-address"}, "email"),
        ({"colour": "red"}, "unknown field"),
    ],
)
def test_bad_preferences_are_refused(body: dict[str, Any], message: str) -> None:
    with pytest.raises(ClientError, match=message):
        apply_patch(Prefs(), body)
