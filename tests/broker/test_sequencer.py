"""Per-channel order across nodes (sans-IO): release in seq order, hold on a gap, read the
missing range from the store at the deadline, first sight, resync, forget."""

from __future__ import annotations

from parley.broker.sequencer import Gap, Sequencer

K = ("acme", "ch")


def seq() -> Sequencer[tuple[str, str], str]:
    return Sequencer(0.1, fetch_limit=100)


def test_in_order_events_go_at_once_and_duplicates_are_dropped() -> None:
    s = seq()
    assert s.offer(K, 1, "a", 0.0) == [(1, "a")]
    assert s.offer(K, 2, "b", 0.0) == [(2, "b")]
    assert s.offer(K, 2, "b", 0.0) == []
    assert s.offer(K, 1, "a", 0.0) == []
    assert s.duplicates == 2
    assert s.next_deadline() == float("inf")


def test_a_gap_holds_later_events_until_the_missing_one_arrives() -> None:
    s = seq()
    s.offer(K, 1, "a", 0.0)
    assert s.offer(K, 3, "c", 1.0) == []
    assert s.offer(K, 4, "d", 1.0) == []
    assert s.next_deadline() == 1.1
    assert s.offer(K, 2, "b", 1.05) == [(2, "b"), (3, "c"), (4, "d")]
    assert s.next_deadline() == float("inf")
    assert s.holding == 0


def test_at_the_deadline_the_missing_range_is_read_from_the_store() -> None:
    s = seq()
    s.offer(K, 1, "a", 0.0)
    s.offer(K, 4, "d", 1.0)
    assert s.due(1.05) == ([], [])
    released, gaps = s.due(1.1)
    assert released == []
    assert gaps == [Gap(K, 1, 100)]
    assert s.next_deadline() == float("inf")  # reading
    assert s.offer(K, 5, "e", 1.2) == []
    # the store has 2..5 (4 and 5 arrived live too): each once, in order
    out = s.filled(K, [(2, "b"), (3, "c"), (4, "D"), (5, "E")], 1.3)
    assert out == [(2, "b"), (3, "c"), (4, "d"), (5, "e")]
    assert s.offer(K, 6, "f", 1.3) == [(6, "f")]
    assert s.filled_events == 2


def test_a_range_the_store_does_not_have_is_skipped() -> None:
    s = seq()
    s.offer(K, 1, "a", 0.0)
    s.offer(K, 3, "c", 0.0)
    assert s.due(1.0) == ([], [Gap(K, 1, 100)])
    assert s.filled(K, [], 1.0) == [(3, "c")]
    assert s.skipped == 1
    assert s.offer(K, 4, "d", 1.0) == [(4, "d")]


def test_first_sight_waits_for_a_predecessor_in_flight_then_goes() -> None:
    s = seq()
    assert s.offer(K, 7, "g", 0.0) == []
    assert s.offer(K, 6, "f", 0.05) == [(6, "f"), (7, "g")]
    other = ("acme", "other")
    assert s.offer(other, 9, "i", 1.0) == []
    released, gaps = s.due(1.1)
    assert released == [(other, [(9, "i")])]
    assert gaps == []  # not read from the store: this node did not follow it before
    assert s.offer(other, 10, "j", 1.2) == [(10, "j")]


def test_resync_reads_each_followed_channel_after_its_last_event() -> None:
    s = seq()
    s.offer(K, 1, "a", 0.0)
    s.offer(("acme", "b"), 1, "x", 0.0)
    gaps = s.resync(5.0)
    assert sorted(g.key for g in gaps) == [("acme", "b"), K]
    assert all(g.after == 1 for g in gaps)
    assert s.offer(K, 3, "c", 5.0) == []  # held while reading
    assert s.filled(K, [(2, "b"), (3, "c")], 5.1) == [(2, "b"), (3, "c")]
    assert s.filled(("acme", "b"), [], 5.1) == []
    assert s.holding == 0
    assert s.offer(("acme", "b"), 2, "y", 5.2) == [(2, "y")]


def test_forget_releases_what_was_held_and_starts_over() -> None:
    s = seq()
    s.offer(K, 1, "a", 0.0)
    s.offer(K, 3, "c", 0.0)
    assert s.forget(lambda k: k == K) == [(K, [(3, "c")])]
    assert not s.tracked(K)
    assert len(s) == 0


def test_followed_channels_are_capped() -> None:
    s: Sequencer[int, str] = Sequencer(0.1, max_channels=10)
    for ch in range(25):
        s.offer(ch, 1, "x", 0.0)
    assert len(s) <= 10
    assert s.tracked(24)
