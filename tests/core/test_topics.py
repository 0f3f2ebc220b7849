from __future__ import annotations

import pytest

from parley.core.codes import ErrorCode
from parley.core.errors import ClientError
from parley.core.topics import (
    MAX_SEGMENTS,
    MAX_TOPIC_LENGTH,
    check_org,
    intersect,
    is_channel_topic,
    is_segment,
    matches,
    parse_pattern,
    parse_topic,
)


@pytest.mark.parametrize(
    "topic",
    [
        "events.acme",
        "events.acme.crm.contact.created.42",
        "a.B.c_d.e-f.0",
        ".".join(["s"] * MAX_SEGMENTS),
        "events." + "x" * (MAX_TOPIC_LENGTH - len("events.")),
    ],
)
def test_parse_topic_valid(topic: str) -> None:
    assert parse_topic(topic) == topic.split(".")


BAD_COMMON = [
    "",
    "events",  # one segment: too few
    ".".join(["s"] * (MAX_SEGMENTS + 1)),  # too many
    "events." + "x" * (MAX_TOPIC_LENGTH - len("events.") + 1),  # too long
    "events..acme",  # empty segment
    ".events.acme",
    "events.acme.",
    "events.ac me",
    "events.acme/x",
    "events.acmé",  # non-ASCII
    "events.acme\n",
    "events.a+b",
]


@pytest.mark.parametrize(
    "topic", [*BAD_COMMON, "events.*", "events.acme.>", "events.>.x", "events.a*"]
)
def test_parse_topic_invalid(topic: str) -> None:
    with pytest.raises(ClientError) as exc:
        parse_topic(topic)
    assert exc.value.code is ErrorCode.INVALID_TOPIC


@pytest.mark.parametrize("value", [None, 42, b"events.acme", ["events", "acme"]])
def test_parse_non_string(value: object) -> None:
    for parse in (parse_topic, parse_pattern):
        with pytest.raises(ClientError) as exc:
            parse(value)
        assert exc.value.code is ErrorCode.INVALID_TOPIC


@pytest.mark.parametrize(
    "pattern",
    ["events.acme", "events.acme.*", "events.acme.>", "events.*.*.x", "*.*", "events.*.>", "*.>"],
)
def test_parse_pattern_valid(pattern: str) -> None:
    assert parse_pattern(pattern) == pattern.split(".")


@pytest.mark.parametrize(
    "pattern",
    [*BAD_COMMON, "events.>.x", ">.events", "events.a>", "events.a*", "events.**", "events.>>"],
)
def test_parse_pattern_invalid(pattern: str) -> None:
    with pytest.raises(ClientError) as exc:
        parse_pattern(pattern)
    assert exc.value.code is ErrorCode.INVALID_TOPIC


def test_multi_not_last_message() -> None:
    with pytest.raises(ClientError, match="last segment"):
        parse_pattern("events.>.x")


def test_is_segment() -> None:
    assert is_segment("a-B_9")
    assert not is_segment("")
    assert not is_segment("*")
    assert not is_segment("a.b")


def test_check_org_accepts_own_org() -> None:
    check_org(parse_pattern("events.acme.>"), "acme")
    check_org(parse_topic("events.acme.x"), "acme")
    check_org(parse_pattern("events.acme"), "acme")


@pytest.mark.parametrize(
    "pattern",
    [
        "events.other.x",  # another org
        "events.*.x",  # wildcard in org segment
        "events.>",
        "other.acme.x",  # wrong namespace
        "*.acme.x",
        "*.>",
        "events.ACME.x",  # case-sensitive
    ],
)
def test_check_org_refuses(pattern: str) -> None:
    with pytest.raises(ClientError) as exc:
        check_org(parse_pattern(pattern), "acme")
    assert exc.value.code is ErrorCode.FORBIDDEN


@pytest.mark.parametrize(
    ("pattern", "topic", "expected"),
    [
        ("events.acme.a", "events.acme.a", True),
        ("events.acme.a", "events.acme.b", False),
        ("events.acme.a", "events.acme.a.b", False),
        ("events.acme.a.b", "events.acme.a", False),
        ("events.*.a", "events.acme.a", True),
        ("events.*.a", "events.acme.b", False),
        ("events.*", "events.acme.a", False),
        ("events.acme.*", "events.acme", False),
        ("events.>", "events.acme", True),
        ("events.>", "events.acme.a.b.c", True),
        ("events.acme.>", "events.acme", False),  # '>' needs at least one segment
        ("events.*.>", "events.acme", False),
        ("events.*.>", "events.acme.x", True),
        ("*.*", "a.b", True),
        ("*.*", "a.b.c", False),
    ],
)
def test_matches(pattern: str, topic: str, expected: bool) -> None:
    assert matches(parse_pattern(pattern), parse_topic(topic)) is expected


@pytest.mark.parametrize(
    ("a", "b", "meet"),
    [
        ("events.acme.>", "events.acme.client.>", "events.acme.client.>"),
        ("events.acme.>", "events.acme.users.*.*.bob", "events.acme.users.*.*.bob"),
        ("events.acme.*.x", "events.acme.client.>", "events.acme.client.x"),
        ("a.>", "*.b.>", "a.b.>"),
        ("a.*", "*.>", "a.*"),
        ("a.>", "a.b.c", "a.b.c"),
        ("a.b", "a.c", None),
        ("a.b", "a.b.c", None),
        ("a.*.c", "a.b.*", "a.b.c"),
        ("events.acme.billing.>", "events.acme.client.>", None),
    ],
)
def test_intersect(a: str, b: str, meet: str | None) -> None:
    """The meet matches exactly the topics both match (checked on sample topics)."""
    pa, pb = a.split("."), b.split(".")
    for x, y in ((pa, pb), (pb, pa)):
        got = intersect(x, y)
        assert (None if got is None else ".".join(got)) == meet
    samples = ["a.b", "a.c", "a.b.c", "a.b.c.d", "a.x.c", "events.acme.client.x"]
    samples += ["events.acme.client.a.b", "events.acme.users.u.m.bob", "events.acme.billing.i"]
    for t in samples:
        both = matches(pa, t.split(".")) and matches(pb, t.split("."))
        assert both == (meet is not None and matches(meet.split("."), t.split(".")))


def test_is_channel_topic() -> None:
    assert is_channel_topic("events.acme.tasks.task.created.t1")
    assert is_channel_topic("events.acme.conversations.conversation.message_posted.c1")
    assert not is_channel_topic("events.acme.client.tasks.x")
    assert not is_channel_topic("events.acme.tasks")
