from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from parley.broker.recovery import Recovered, merge


def ev(*seqs: int) -> list[tuple[int, str]]:
    return [(s, f"e{s}") for s in seqs]


def test_nothing_missed_nothing_live() -> None:
    assert merge(5, [], [], truncated=False) == Recovered(items=[], complete=True, replayed_to=5)


def test_stored_only_in_order() -> None:
    r = merge(2, ev(3, 4, 5), [], truncated=False)
    assert r == Recovered(items=ev(3, 4, 5), complete=True, replayed_to=5)


def test_live_after_stored_appended() -> None:
    r = merge(0, ev(1, 2), ev(3, 4), truncated=False)
    assert r == Recovered(items=ev(1, 2, 3, 4), complete=True, replayed_to=2)


def test_live_overlapping_stored_is_deduped() -> None:
    r = merge(0, ev(1, 2, 3), ev(2, 3, 4), truncated=False)
    assert r == Recovered(items=ev(1, 2, 3, 4), complete=True, replayed_to=3)


def test_live_at_or_before_since_dropped() -> None:
    r = merge(5, [], ev(4, 5, 6), truncated=False)
    assert r == Recovered(items=ev(6), complete=True, replayed_to=5)


def test_stale_stored_skipped() -> None:
    r = merge(3, ev(2, 3, 4), [], truncated=False)
    assert r == Recovered(items=ev(4), complete=True, replayed_to=4)


def test_duplicate_stored_once() -> None:
    r = merge(0, ev(1, 1, 2, 2), [], truncated=False)
    assert r == Recovered(items=ev(1, 2), complete=True, replayed_to=2)


def test_truncated_is_incomplete() -> None:
    r = merge(0, ev(1, 2), [], truncated=True)
    assert r == Recovered(items=ev(1, 2), complete=False, replayed_to=2)


def test_gap_in_stored_stops_there() -> None:
    r = merge(0, ev(1, 2, 4, 5), [], truncated=False)
    assert r == Recovered(items=ev(1, 2), complete=False, replayed_to=2)


def test_gap_right_after_since() -> None:
    r = merge(10, ev(12, 13), [], truncated=False)
    assert r == Recovered(items=[], complete=False, replayed_to=10)


def test_gap_between_stored_and_live_is_not_a_miss() -> None:
    """Live events were held back only for the connection's patterns, so seqs 3 and 4
    belong to events it does not receive: nothing was missed."""
    r = merge(0, ev(1, 2), ev(5, 6), truncated=False)
    assert r == Recovered(items=ev(1, 2, 5, 6), complete=True, replayed_to=2)


def test_gap_in_stored_still_appends_newer_live() -> None:
    r = merge(0, ev(1, 3), ev(4), truncated=False)
    assert r == Recovered(items=[(1, "e1"), (4, "e4")], complete=False, replayed_to=1)


def test_live_duplicates_delivered_once() -> None:
    r = merge(0, ev(1), ev(2, 2, 3), truncated=False)
    assert r == Recovered(items=ev(1, 2, 3), complete=True, replayed_to=1)


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[int, int, int, int]:
    """(since, committed, subscribed_at, end): the log holds 1..end; the client saw up to
    ``since``; the log read returned since+1..committed; live buffering started after
    ``subscribed_at`` (before the read, so subscribed_at <= committed) and got everything
    published since, up to ``end``."""
    end = draw(st.integers(0, 60))
    since = draw(st.integers(0, end))
    committed = draw(st.integers(since, end))
    subscribed_at = draw(st.integers(0, committed))
    return since, committed, subscribed_at, end


@given(scenarios())
def test_merge_delivers_each_missed_event_once_in_order(
    scenario: tuple[int, int, int, int],
) -> None:
    since, committed, subscribed_at, end = scenario
    stored = ev(*range(since + 1, committed + 1))
    live = ev(*range(subscribed_at + 1, end + 1))
    r = merge(since, stored, live, truncated=False)
    assert r.items == ev(*range(since + 1, end + 1))
    assert r.complete is True
    assert r.replayed_to == committed


@given(scenarios(), st.integers(0, 60))
def test_merge_with_replay_bound_is_a_prefix(
    scenario: tuple[int, int, int, int], bound: int
) -> None:
    since, committed, subscribed_at, end = scenario
    full = ev(*range(since + 1, committed + 1))
    stored = full[:bound]
    truncated = len(full) > bound
    live = ev(*range(subscribed_at + 1, end + 1))
    r = merge(since, stored, live, truncated=truncated)
    seqs = [s for s, _ in r.items]
    assert seqs == sorted(set(seqs))
    assert r.replayed_to == since + len(stored)
    assert r.complete is (not truncated)
    assert seqs[: len(stored)] == list(range(since + 1, since + len(stored) + 1))
    assert seqs[len(stored) :] == [
        s for s in range(subscribed_at + 1, end + 1) if s > r.replayed_to
    ]
