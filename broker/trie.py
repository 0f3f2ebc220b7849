"""Subscription trie: which subscribers does a published topic reach? (sans-IO)

Shaped like nats-server's sublist: every node keeps a dict of literal children, one slot
for the ``*`` child and one set of subscribers whose pattern ends in ``>`` right below it.
Patterns are segment lists already validated by :func:`broker.topics.parse_pattern`.

Complexity, with ``k`` the number of segments of a topic (at most 16):

* ``insert`` / ``remove``: O(k). Removal prunes nodes left empty, so the trie holds no
  garbage after unsubscribe storms.
* ``match`` on a cache hit: one dict lookup, no allocation -- it returns the very tuple
  computed on the miss. On a miss: O(number of trie paths the topic can follow), which is
  at most ``2**k`` with ``*`` at every level and ``k + 1`` without ``*``; plus O(result).
* Every ``insert``/``remove`` that changes the trie bumps :attr:`TopicTrie.generation` and
  drops the match cache. (nats-server checks a generation id on every lookup because
  readers run concurrently with writers under a read lock; here everything runs on one
  Trio thread and nothing awaits, so dropping the cache eagerly is equivalent and keeps
  the lookup path to a single dict access.) When the cache exceeds ``cache_size``
  entries it is emptied wholesale.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from itertools import chain
from typing import Generic, TypeVar

from parley.core.topics import MULTI, SINGLE

S = TypeVar("S", bound=Hashable)

DEFAULT_CACHE_SIZE = 4096


class _Node(Generic[S]):
    __slots__ = ("children", "multi", "star", "subs")

    def __init__(self) -> None:
        self.children: dict[str, _Node[S]] = {}
        self.star: _Node[S] | None = None
        #: Subscribers of patterns ending at this node (dicts keep insertion order).
        self.subs: dict[S, None] = {}
        #: Subscribers of patterns ending with ``>`` right below this node.
        self.multi: dict[S, None] = {}

    def is_empty(self) -> bool:
        return not (self.children or self.subs or self.multi) and self.star is None


class TopicTrie(Generic[S]):
    """Subscribers indexed by pattern; :meth:`match` answers a concrete topic string."""

    __slots__ = ("_cache", "_cache_size", "_count", "_root", "generation")

    def __init__(self, *, cache_size: int = DEFAULT_CACHE_SIZE) -> None:
        self._root: _Node[S] = _Node()
        self._count = 0
        self._cache: dict[str, tuple[S, ...]] = {}
        self._cache_size = cache_size
        #: Bumped by every insert/remove that changed the trie.
        self.generation = 0

    def __len__(self) -> int:
        """Number of (pattern, subscriber) entries."""
        return self._count

    def is_empty(self) -> bool:
        return self._root.is_empty()

    def insert(self, pattern: Sequence[str], sub: S) -> bool:
        """Add ``sub`` under ``pattern``; False if that entry already existed."""
        last = _check(pattern)
        ends_multi = pattern[last] == MULTI
        node = self._root
        for seg in pattern[:last] if ends_multi else pattern:
            if seg == SINGLE:
                nxt = node.star
                if nxt is None:
                    nxt = node.star = _Node()
            else:
                nxt = node.children.get(seg)
                if nxt is None:
                    nxt = node.children[seg] = _Node()
            node = nxt
        bucket = node.multi if ends_multi else node.subs
        if sub in bucket:
            return False
        bucket[sub] = None
        self._changed(+1)
        return True

    def remove(self, pattern: Sequence[str], sub: S) -> bool:
        """Remove ``sub`` from ``pattern``; False if there was no such entry."""
        last = _check(pattern)
        path: list[tuple[_Node[S], str]] = []  # (parent, segment) pairs, root first
        node = self._root
        ends_multi = pattern[last] == MULTI
        for seg in pattern[:last] if ends_multi else pattern:
            nxt = node.star if seg == SINGLE else node.children.get(seg)
            if nxt is None:
                return False
            path.append((node, seg))
            node = nxt
        bucket = node.multi if ends_multi else node.subs
        if sub not in bucket:
            return False
        del bucket[sub]
        while path and node.is_empty():
            parent, seg = path.pop()
            if seg == SINGLE:
                parent.star = None
            else:
                del parent.children[seg]
            node = parent
        self._changed(-1)
        return True

    def match(self, topic: str) -> tuple[S, ...]:
        """Subscribers whose pattern matches ``topic`` (a valid dotted topic), each once.

        The tuple is shared with the cache: iterate it, never rely on its identity. It is a
        snapshot, so inserting or removing (e.g. dropping a slow consumer) while iterating
        it is safe -- but it may still hold a subscriber removed meanwhile.
        """
        hit = self._cache.get(topic)
        if hit is not None:
            return hit
        result = self.match_parts(topic.split("."))
        if self._cache_size:
            cache = self._cache
            if len(cache) >= self._cache_size:
                cache.clear()
            cache[topic] = result
        return result

    def match_parts(self, topic: Sequence[str]) -> tuple[S, ...]:
        """Uncached :meth:`match` for a topic already split into segments."""
        found: list[dict[S, None]] = []
        _collect(self._root, topic, 0, found)
        if not found:
            return ()
        if len(found) == 1:
            return tuple(found[0])
        return tuple(dict.fromkeys(chain.from_iterable(found)))

    def _changed(self, delta: int) -> None:
        self._count += delta
        self.generation += 1
        if self._cache:
            self._cache.clear()


def _check(pattern: Sequence[str]) -> int:
    """Index of the last segment; a ``>`` elsewhere is our bug (input was not validated)."""
    last = len(pattern) - 1
    if last < 0:
        raise ValueError("empty pattern")
    if MULTI in pattern[:last]:
        raise ValueError(f"'>' before the last segment of {pattern!r}")
    return last


def _collect(node: _Node[S], topic: Sequence[str], i: int, found: list[dict[S, None]]) -> None:
    """Append to ``found`` every subscriber dict under ``node`` that ``topic[i:]`` reaches."""
    n = len(topic)
    while True:
        if i == n:
            if node.subs:
                found.append(node.subs)
            return
        if node.multi:  # '>' needs at least one more segment: i < n holds here
            found.append(node.multi)
        star = node.star
        if star is not None:
            _collect(star, topic, i + 1, found)
        nxt = node.children.get(topic[i])
        if nxt is None:
            return
        node = nxt
        i += 1
