from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    precondition,
    rule,
)

from parley.broker.trie import TopicTrie, _Node
from parley.core.topics import matches


def seg(s: str) -> list[str]:
    return s.split(".")


def nonroot_empty_nodes(trie: TopicTrie[str]) -> int:
    """Count nodes below the root that hold nothing (should always be 0: pruned)."""
    empty = 0
    stack: list[_Node[str]] = [trie._root]
    while stack:
        node = stack.pop()
        kids = list(node.children.values())
        if node.star is not None:
            kids.append(node.star)
        for kid in kids:
            if kid.is_empty():
                empty += 1
            stack.append(kid)
    return empty


# --- unit tests ------------------------------------------------------------------------


def test_literal() -> None:
    t: TopicTrie[str] = TopicTrie()
    assert t.insert(seg("events.acme.a"), "s1")
    assert t.match("events.acme.a") == ("s1",)
    assert t.match("events.acme.b") == ()
    assert t.match("events.acme") == ()
    assert t.match("events.acme.a.b") == ()


def test_single_wildcard_matches_exactly_one_segment() -> None:
    t: TopicTrie[str] = TopicTrie()
    t.insert(seg("events.*.a"), "s1")
    assert t.match("events.acme.a") == ("s1",)
    assert t.match("events.other.a") == ("s1",)
    assert t.match("events.a") == ()
    assert t.match("events.acme.x.a") == ()
    t.insert(seg("events.acme.*"), "s2")
    assert t.match("events.acme.zzz") == ("s2",)
    assert t.match("events.acme") == ()
    assert t.match("events.acme.zzz.y") == ()


def test_multi_wildcard_needs_at_least_one_segment() -> None:
    t: TopicTrie[str] = TopicTrie()
    t.insert(seg("events.acme.>"), "s1")
    assert t.match("events.acme") == ()
    assert t.match("events.acme.a") == ("s1",)
    assert t.match("events.acme.a.b.c") == ("s1",)
    assert t.match("events.other.a") == ()


def test_multi_wildcard_after_single() -> None:
    t: TopicTrie[str] = TopicTrie()
    t.insert(seg("events.*.>"), "s1")
    assert t.match("events.acme") == ()
    assert t.match("events.acme.x") == ("s1",)
    assert t.match("events.acme.x.y") == ("s1",)


def test_overlapping_patterns() -> None:
    t: TopicTrie[str] = TopicTrie()
    t.insert(seg("events.acme.a.b"), "lit")
    t.insert(seg("events.acme.*.b"), "star")
    t.insert(seg("events.acme.>"), "multi")
    t.insert(seg("events.*.*.*"), "stars")
    t.insert(seg("events.acme.a.c"), "other")
    assert set(t.match("events.acme.a.b")) == {"lit", "star", "multi", "stars"}
    assert set(t.match("events.acme.z.b")) == {"star", "multi", "stars"}
    assert set(t.match("events.acme.a.b.c")) == {"multi"}
    assert set(t.match("events.x.a.b")) == {"stars"}


def test_same_sub_under_two_patterns() -> None:
    t: TopicTrie[str] = TopicTrie()
    assert t.insert(seg("events.acme.a"), "s1")
    assert t.insert(seg("events.acme.*"), "s1")
    assert t.insert(seg("events.>"), "s1")
    assert not t.insert(seg("events.acme.a"), "s1")
    assert len(t) == 3
    assert t.match("events.acme.a") == ("s1",)
    assert t.remove(seg("events.acme.a"), "s1")
    assert len(t) == 2
    assert t.match("events.acme.a") == ("s1",)


def test_several_subs_same_pattern_keep_insertion_order() -> None:
    t: TopicTrie[str] = TopicTrie()
    for s in ("c", "a", "b"):
        t.insert(seg("events.acme.a"), s)
    assert t.match("events.acme.a") == ("c", "a", "b")
    assert len(t) == 3


def test_remove_missing_returns_false() -> None:
    t: TopicTrie[str] = TopicTrie()
    assert not t.remove(seg("events.acme.a"), "s1")
    t.insert(seg("events.acme.a"), "s1")
    gen = t.generation
    assert not t.remove(seg("events.acme.a"), "s2")
    assert not t.remove(seg("events.acme.b"), "s1")
    assert not t.remove(seg("events.acme.*"), "s1")
    assert not t.remove(seg("events.acme.>"), "s1")
    assert not t.remove(seg("events.acme"), "s1")
    assert not t.remove(seg("events.acme.a.b"), "s1")
    assert t.generation == gen
    assert len(t) == 1
    assert t.match("events.acme.a") == ("s1",)


def test_remove_prunes_and_empties() -> None:
    t: TopicTrie[str] = TopicTrie()
    t.insert(seg("events.acme.a.b"), "s1")
    t.insert(seg("events.acme.*.c"), "s2")
    t.insert(seg("events.acme.>"), "s3")
    t.insert(seg("events.acme"), "s4")
    assert not t.is_empty()
    assert t.remove(seg("events.acme.a.b"), "s1")
    assert "a" not in t._root.children["events"].children["acme"].children
    assert nonroot_empty_nodes(t) == 0
    assert t.remove(seg("events.acme"), "s4")
    assert t.remove(seg("events.acme.>"), "s3")
    assert nonroot_empty_nodes(t) == 0
    assert not t.is_empty()
    assert t.remove(seg("events.acme.*.c"), "s2")
    assert t.is_empty()
    assert len(t) == 0
    assert t.match("events.acme.a.c") == ()


def test_cache_invalidated_on_insert_and_remove() -> None:
    t: TopicTrie[str] = TopicTrie()
    t.insert(seg("events.acme.a"), "s1")
    first = t.match("events.acme.a")
    assert first == ("s1",)
    assert t.match("events.acme.a") is first  # served from the cache
    gen = t.generation
    t.insert(seg("events.acme.*"), "s2")
    assert t.generation == gen + 1
    assert sorted(t.match("events.acme.a")) == ["s1", "s2"]
    assert t.match("events.acme.b") == ("s2",)
    t.remove(seg("events.acme.a"), "s1")
    assert t.match("events.acme.a") == ("s2",)
    assert not t.insert(seg("events.acme.*"), "s2")
    assert t.generation == gen + 2


def test_cache_is_bounded() -> None:
    t: TopicTrie[str] = TopicTrie(cache_size=4)
    t.insert(seg("events.>"), "s")
    for i in range(10):
        assert t.match(f"events.t{i}") == ("s",)
        assert len(t._cache) <= 4


def test_cache_disabled() -> None:
    t: TopicTrie[str] = TopicTrie(cache_size=0)
    t.insert(seg("events.a"), "s")
    assert t.match("events.a") == ("s",)
    assert t.match("events.a") == ("s",)
    assert not t._cache


def test_match_parts_equals_match() -> None:
    t: TopicTrie[str] = TopicTrie()
    t.insert(seg("events.*.x"), "s1")
    t.insert(seg("events.a.>"), "s2")
    got = t.match("events.a.x")
    assert sorted(got) == ["s1", "s2"]
    assert t.match_parts(["events", "a", "x"]) == got


@pytest.mark.parametrize("bad", [[], ["a", ">", "b"], [">", "a"]])
def test_unvalidated_pattern_is_our_bug(bad: list[str]) -> None:
    t: TopicTrie[str] = TopicTrie()
    with pytest.raises(ValueError):
        t.insert(bad, "s")
    with pytest.raises(ValueError):
        t.remove(bad, "s")


# --- property tests against the reference matcher ---------------------------------------

SEGS = ["a", "b", "c"]
literal = st.sampled_from(SEGS)
patterns = st.lists(st.sampled_from([*SEGS, "*"]), min_size=1, max_size=4).flatmap(
    lambda p: st.sampled_from([p, [*p, ">"]])
)
topics = st.lists(literal, min_size=1, max_size=5)
subs = st.sampled_from(["s0", "s1", "s2", "s3"])
entries = st.lists(st.tuples(patterns, subs), max_size=30)


def expected(model: set[tuple[tuple[str, ...], str]], topic: list[str]) -> set[str]:
    return {s for p, s in model if matches(list(p), topic)}


@settings(max_examples=300, deadline=None)
@given(entries, st.lists(topics, min_size=1, max_size=10))
def test_match_agrees_with_reference(
    items: list[tuple[list[str], str]], probe: list[list[str]]
) -> None:
    t: TopicTrie[str] = TopicTrie()
    model: set[tuple[tuple[str, ...], str]] = set()
    for p, s in items:
        assert t.insert(p, s) == ((tuple(p), s) not in model)
        model.add((tuple(p), s))
    assert len(t) == len(model)
    for topic in probe:
        got = t.match(".".join(topic))
        assert len(got) == len(set(got))
        assert set(got) == expected(model, topic)


@settings(max_examples=300, deadline=None)
@given(entries, st.randoms(use_true_random=False))
def test_remove_all_in_random_order_empties(
    items: list[tuple[list[str], str]], rnd: random.Random
) -> None:
    t: TopicTrie[str] = TopicTrie()
    for p, s in items:
        t.insert(p, s)
    unique = list(dict.fromkeys((tuple(p), s) for p, s in items))
    rnd.shuffle(unique)
    for pat, sub in unique:
        assert t.remove(list(pat), sub)
        assert not t.remove(list(pat), sub)
        assert nonroot_empty_nodes(t) == 0
    assert t.is_empty()
    assert len(t) == 0


class TrieMachine(RuleBasedStateMachine):
    """Interleaved inserts, removes and (cached) matches against a set model."""

    inserted = Bundle("inserted")

    def __init__(self) -> None:
        super().__init__()
        self.trie: TopicTrie[str] = TopicTrie(cache_size=8)
        self.model: set[tuple[tuple[str, ...], str]] = set()

    @rule(target=inserted, p=patterns, s=subs)
    def insert(self, p: list[str], s: str) -> tuple[tuple[str, ...], str]:
        key = (tuple(p), s)
        assert self.trie.insert(p, s) == (key not in self.model)
        self.model.add(key)
        return key

    @rule(key=consumes(inserted))
    def remove(self, key: tuple[tuple[str, ...], str]) -> None:
        assert self.trie.remove(list(key[0]), key[1]) == (key in self.model)
        self.model.discard(key)

    @rule(p=patterns, s=subs)
    def remove_maybe_missing(self, p: list[str], s: str) -> None:
        key = (tuple(p), s)
        assert self.trie.remove(p, s) == (key in self.model)
        self.model.discard(key)

    @rule(topic=topics)
    def match(self, topic: list[str]) -> None:
        got = self.trie.match(".".join(topic))
        assert len(got) == len(set(got))
        assert set(got) == expected(self.model, topic)

    @precondition(lambda self: bool(self.model))
    @rule()
    def remove_everything(self) -> None:
        for p, s in list(self.model):
            assert self.trie.remove(list(p), s)
        self.model.clear()
        assert self.trie.is_empty()

    @invariant()
    def sizes_agree(self) -> None:
        assert len(self.trie) == len(self.model)
        assert self.trie.is_empty() == (not self.model)
        assert nonroot_empty_nodes(self.trie) == 0


TrieMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
test_trie_machine = TrieMachine.TestCase
