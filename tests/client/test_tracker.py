from __future__ import annotations

from parley.client.tracker import Tracker


def test_in_order_duplicates_dropped() -> None:
    t: Tracker[str] = Tracker()
    assert t.offer("c", 5, "e5") == ["e5"]  # first seen: the baseline
    assert t.offer("c", 6, "e6") == ["e6"]
    assert t.offer("c", 6, "again") == []
    assert t.offer("c", 3, "old") == []
    assert t.positions == {"c": 6}


def test_a_gap_keeps_events_aside_until_filled() -> None:
    t: Tracker[str] = Tracker()
    t.offer("c", 1, "e1")
    assert t.offer("c", 4, "e4") == []
    assert t.offer("c", 5, "e5") == []
    assert t.gaps() == ["c"]
    # The fill replays 2..5; 4 and 5 come again and are dropped as kept.
    assert t.offer("c", 2, "e2") == ["e2"]
    assert t.offer("c", 3, "e3") == ["e3", "e4", "e5"]
    assert t.offer("c", 4, "dup") == []
    assert t.settle("c", 5, complete=True) == []
    assert t.gaps() == [] and t.positions == {"c": 5}


def test_settle_delivers_past_seqs_the_patterns_do_not_match() -> None:
    """A complete recovery that replayed nothing for 2..3 (events outside the patterns):
    what was kept aside goes out, in order."""
    t: Tracker[str] = Tracker()
    t.offer("c", 1, "e1")
    t.offer("c", 5, "e5")
    t.offer("c", 4, "e4")
    assert t.settle("c", 3, complete=True) == ["e4", "e5"]
    assert t.positions["c"] == 5 and t.gaps() == []


def test_an_incomplete_recovery_is_filled_again() -> None:
    t: Tracker[str] = Tracker()
    t.offer("c", 1, "e1")
    t.offer("c", 9, "e9")
    assert t.offer("c", 2, "e2") == ["e2"]
    assert t.settle("c", 2, complete=False) == []
    assert t.gaps() == ["c"]
    assert t.since(["c"]) == {"c": 2}
    for s in range(3, 9):
        t.offer("c", s, f"e{s}")
    assert t.settle("c", 9, complete=True) == []
    assert t.gaps() == [] and t.positions["c"] == 9


def test_without_gap_detection_events_pass_in_arrival_order() -> None:
    t: Tracker[str] = Tracker(detect_gaps=False)
    t.offer("c", 1, "e1")
    assert t.offer("c", 3, "e3") == ["e3"]
    assert t.offer("c", 2, "late") == []
    assert t.gaps() == []


def test_a_new_channel_starts_at_its_recovery_position_and_forget() -> None:
    t: Tracker[str] = Tracker()
    assert t.settle("n", 7, complete=True) == []
    assert t.offer("n", 7, "old") == []
    assert t.offer("n", 8, "e8") == ["e8"]
    t.forget("n")
    assert t.positions == {} and t.since() == {}
