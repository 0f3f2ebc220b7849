"""Who may read and publish which topics inside an org (sans-IO), see docs/protocol.md.

A connection reads:

* channel topics (``events.{org}.conversations.>``, ``events.{org}.tasks.>``), delivered
  only while its user is a member of the event's channel (the hub filters);
* its own user topics (``events.{org}.users.*.*.{sub}``);
* the org's lock events (``events.{org}.locks.>``);
* the namespaces (topic prefixes under ``events.{org}.``) whose ``subscribe`` grants match
  its roles, as configured (``BrokerConfig.topic_namespaces``);
* the patterns its token's ``topics`` claim grants, or a subscription token sent with the
  ``subscribe`` op grants (a backend's fine-grained, short-lived grant);
* with the ``service`` role: its whole org.

A subscription pattern is *narrowed* to what the connection may read: ``events.acme.>``
becomes one trie entry per readable prefix it covers (an intersection of patterns, computed
once at subscribe time), so fan-out does no per-event permission work; a pattern that
covers nothing readable is refused.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from parley.core.claims import Claims
from parley.core.topics import (
    CHANNEL_SOURCES,
    CONVERSATION_SOURCE,
    MULTI,
    NAMESPACE,
    ORG_SOURCES,
    SINGLE,
    USER_SOURCE,
    intersect,
    is_segment,
    parse_pattern,
)

#: Anyone in the org (any authenticated connection).
ANY = "any"
ROLE_PREFIX = "role:"
#: Publishes anywhere in its org but the channel log (docs/protocol.md, "Who may publish").
PUBLISHER_ROLE = "publisher"
#: Sources Parley owns; a namespace may not be configured on them.
RESERVED_SOURCES = frozenset({*CHANNEL_SOURCES, USER_SOURCE, *ORG_SOURCES})

#: The default: client-to-client signalling under ``events.{org}.client.>`` for everyone.
DEFAULT_TOPIC_NAMESPACES = '{"client": {"subscribe": ["any"], "publish": ["any"]}}'


@dataclass(frozen=True, slots=True)
class Namespace:
    #: Segments after ``events.{org}.`` (``("billing",)`` for ``events.{org}.billing.>``).
    prefix: tuple[str, ...]
    #: Grants: ``"any"`` or ``"role:NAME"``.
    subscribe: frozenset[str]
    publish: frozenset[str]


def _granted(grants: frozenset[str], claims: Claims) -> bool:
    return ANY in grants or any(ROLE_PREFIX + r in grants for r in claims.roles)


class TopicPolicy:
    def __init__(self, namespaces: tuple[Namespace, ...] = ()) -> None:
        self.namespaces = namespaces

    @classmethod
    def parse(cls, text: str) -> TopicPolicy:
        """From JSON ``{"billing": {"subscribe": ["role:billing"], "publish": [...]}}``
        (keys are dotted prefixes; ``PARLEY_TOPIC_NAMESPACES``). Raises ValueError."""
        try:
            raw = json.loads(text) if text.strip() else {}
        except ValueError as exc:
            raise ValueError(f"topic namespaces are not JSON: {exc}") from None
        if not isinstance(raw, dict):
            raise ValueError("topic namespaces must be a JSON object of prefix: rules")
        out: list[Namespace] = []
        for name, rules in raw.items():
            prefix = tuple(str(name).split("."))
            if not all(is_segment(p) for p in prefix) or len(prefix) > 8:
                raise ValueError(f"topic namespace {name!r} is not a dotted topic prefix")
            if prefix[0] in RESERVED_SOURCES:
                raise ValueError(f"topic namespace {name!r}: {prefix[0]!r} is Parley's own")
            if not isinstance(rules, dict) or set(rules) - {"subscribe", "publish"}:
                raise ValueError(f"topic namespace {name!r}: rules are subscribe and publish")
            grants: dict[str, frozenset[str]] = {}
            for key in ("subscribe", "publish"):
                value = rules.get(key, [])
                if not isinstance(value, list) or not all(
                    isinstance(g, str)
                    and (g == ANY or (g.startswith(ROLE_PREFIX) and len(g) > len(ROLE_PREFIX)))
                    for g in value
                ):
                    raise ValueError(
                        f'topic namespace {name!r}: {key} must list "any" or "role:NAME"'
                    )
                grants[key] = frozenset(value)
            out.append(Namespace(prefix, grants["subscribe"], grants["publish"]))
        return cls(tuple(out))

    # -- reading --------------------------------------------------------------------------
    def readable(self, claims: Claims, extra: tuple[str, ...] = ()) -> list[list[str]]:
        """The patterns ``claims`` may read (``extra``: a subscription token's grants)."""
        org = claims.org
        if claims.is_service:
            return [[NAMESPACE, org, MULTI]]
        out = [[NAMESPACE, org, source, MULTI] for source in sorted(CHANNEL_SOURCES)]
        out.append([NAMESPACE, org, USER_SOURCE, SINGLE, SINGLE, claims.sub])
        out.extend([NAMESPACE, org, source, MULTI] for source in sorted(ORG_SOURCES))
        for ns in self.namespaces:
            if _granted(ns.subscribe, claims):
                out.append([NAMESPACE, org, *ns.prefix, MULTI])
        for pattern in (*claims.topics, *extra):
            out.append(parse_pattern(pattern))
        return out

    def narrow(
        self, parts: list[str], claims: Claims, extra: tuple[str, ...] = ()
    ) -> list[list[str]]:
        """The trie entries a subscription to ``parts`` gets: its intersections with every
        readable pattern, without duplicates or entries another one covers; ``[]`` if the
        pattern covers nothing readable."""
        found: list[list[str]] = []
        for allowed in self.readable(claims, extra):
            meet = intersect(parts, allowed)
            if meet is not None and meet not in found:
                found.append(meet)
        return [e for e in found if not any(o is not e and covers(o, e) for o in found)]

    # -- publishing -----------------------------------------------------------------------
    def may_publish(self, claims: Claims, parts: list[str]) -> bool:
        """Services (and the ``publisher`` role) publish anywhere in their org below a
        source segment, except the channel log's source, which only the log writes; other
        clients in namespaces whose ``publish`` grants their roles, below the prefix."""
        source = parts[2] if len(parts) > 2 else None
        if source is None or source == CONVERSATION_SOURCE:
            return False
        if claims.is_service or PUBLISHER_ROLE in claims.roles:
            return True
        rest = parts[2:]
        return any(
            len(rest) > len(ns.prefix) and tuple(rest[: len(ns.prefix)]) == ns.prefix
            for ns in self.publishable(claims)
        )

    def publishable(self, claims: Claims) -> list[Namespace]:
        """The namespaces whose ``publish`` grants these claims' roles."""
        return [ns for ns in self.namespaces if _granted(ns.publish, claims)]


def covers(a: list[str], b: list[str]) -> bool:
    """Whether pattern ``a`` matches every topic pattern ``b`` matches."""
    meet = intersect(a, b)
    return meet == b


DEFAULT_POLICY = TopicPolicy.parse(DEFAULT_TOPIC_NAMESPACES)
