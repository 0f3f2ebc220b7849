"""Topic permissions (broker/access.py): namespaces, narrowing, publishing."""

from __future__ import annotations

import pytest

from parley.broker.access import DEFAULT_POLICY, TopicPolicy, covers
from parley.core.claims import Claims
from parley.core.topics import parse_pattern
from tests.support.broker import claims

POLICY = TopicPolicy.parse(
    """{"client": {"subscribe": ["any"], "publish": ["any"]},
        "billing": {"subscribe": ["role:billing"], "publish": ["role:billing-bot"]},
        "teams.ops": {"subscribe": ["role:ops"]}}"""
)


def narrowed(pattern: str, who: Claims, extra: tuple[str, ...] = ()) -> list[str]:
    return [".".join(e) for e in POLICY.narrow(parse_pattern(pattern), who, extra)]


def test_a_plain_user_reads_his_channels_his_user_topics_and_granted_namespaces() -> None:
    assert narrowed("events.acme.>", claims("pat")) == [
        "events.acme.conversations.>",
        "events.acme.tasks.>",
        "events.acme.users.*.*.pat",
        "events.acme.locks.>",  # the org's entity locks
        "events.acme.client.>",
    ]
    assert narrowed("events.acme.billing.>", claims("pat")) == []
    assert narrowed("events.acme.*.invoice.paid.*", claims("pat")) == [
        "events.acme.conversations.invoice.paid.*",
        "events.acme.tasks.invoice.paid.*",
        "events.acme.users.invoice.paid.pat",
        "events.acme.locks.invoice.paid.*",
        "events.acme.client.invoice.paid.*",
    ]


def test_roles_and_token_grants_add_namespaces() -> None:
    acct = claims("ann", roles=("billing", "ops"))
    assert "events.acme.billing.>" in narrowed("events.acme.>", acct)
    assert "events.acme.teams.ops.>" in narrowed("events.acme.>", acct)
    assert narrowed("events.acme.teams.*.x", acct) == ["events.acme.teams.ops.x"]
    grant = ("events.acme.billing.invoice.*.i7",)
    assert narrowed("events.acme.billing.>", claims("pat"), grant) == list(grant)
    token_claims = Claims("pat", "acme", 4e9, topics=grant)
    assert narrowed("events.acme.billing.>", token_claims) == list(grant)


def test_a_service_reads_its_whole_org() -> None:
    svc = claims("svc", roles=("service",))
    assert narrowed("events.acme.>", svc) == ["events.acme.>"]
    assert narrowed("events.acme.billing.x", svc) == ["events.acme.billing.x"]


def test_entries_another_entry_covers_are_dropped() -> None:
    grant = ("events.acme.client.x.>", "events.acme.>")  # a token granting wide and narrow
    assert narrowed("events.acme.client.>", claims("pat"), grant) == ["events.acme.client.>"]
    assert covers(parse_pattern("a.>"), parse_pattern("a.b.*"))
    assert not covers(parse_pattern("a.b.*"), parse_pattern("a.>"))


@pytest.mark.parametrize(
    ("who", "topic", "allowed"),
    [
        (claims("pat"), "events.acme.client.x", True),
        (claims("pat"), "events.acme.client", False),  # below the prefix only
        (claims("pat"), "events.acme.billing.invoice.paid.i1", False),
        (claims("bot", roles=("billing-bot",)), "events.acme.billing.invoice.paid.i1", True),
        (claims("ann", roles=("ops",)), "events.acme.teams.ops.x", False),  # read-only
        (claims("svc", roles=("service",)), "events.acme.billing.x", True),
        (claims("svc", roles=("service",)), "events.acme.conversations.x.y.z", False),
        (claims("p", roles=("publisher",)), "events.acme.orders.x", True),
    ],
)
def test_may_publish(who: Claims, topic: str, allowed: bool) -> None:
    assert POLICY.may_publish(who, topic.split(".")) is allowed


def test_default_grants_the_client_namespace_only() -> None:
    assert [ns.prefix for ns in DEFAULT_POLICY.namespaces] == [("client",)]
    assert TopicPolicy.parse("").namespaces == ()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{nope", "not JSON"),
        ("[]", "must be a JSON object"),
        ('{"conversations": {}}', "Parley's own"),
        ('{"users.x": {}}', "Parley's own"),
        ('{"bad name": {}}', "not a dotted topic prefix"),
        ('{"b": {"read": []}}', "rules are subscribe and publish"),
        ('{"b": {"subscribe": ["admin"]}}', 'must list "any" or "role:NAME"'),
        ('{"b": {"publish": "any"}}', 'must list "any" or "role:NAME"'),
    ],
)
def test_bad_namespaces_are_refused_at_start(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TopicPolicy.parse(text)
