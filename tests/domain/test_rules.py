"""The pure rules: validators, permission checks, timestamps."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from parley.core.codes import ErrorCode
from parley.core.errors import ClientError
from parley.core.records import ChannelKind, Member, Role
from parley.domain import rules

NOW = datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)


def member(user: str, role: Role) -> Member:
    return Member(channel_id="ch", user_id=user, role=role, joined_at=NOW, read_seq=0)


def code_of(fn: object, *args: object) -> ErrorCode:
    with pytest.raises(ClientError) as info:
        fn(*args)  # type: ignore[operator]
    return info.value.code


def test_text_cap_counts_utf8_bytes() -> None:
    assert rules.check_text("é" * (rules.MAX_TEXT_BYTES // 2)) == "é" * (rules.MAX_TEXT_BYTES // 2)
    assert code_of(rules.check_text, "é" * (rules.MAX_TEXT_BYTES // 2 + 1)) is (
        ErrorCode.PAYLOAD_TOO_LARGE
    )
    assert code_of(rules.check_text, "  ") is ErrorCode.BAD_REQUEST


def test_initial_members_are_deduplicated_without_the_creator() -> None:
    got = rules.check_initial_members(ChannelKind.GROUP, "a", ["b", "a", "c", "b"])
    assert got == ["b", "c"]
    assert rules.check_initial_members(ChannelKind.DIRECT, "a", ["b", "b", "a"]) == ["b"]
    assert code_of(rules.check_initial_members, ChannelKind.DIRECT, "a", ["a"]) is (
        ErrorCode.BAD_REQUEST
    )


def test_direct_channels_need_no_name_but_groups_do() -> None:
    assert rules.check_channel_name(ChannelKind.DIRECT, "") == ""
    assert code_of(rules.check_channel_name, ChannelKind.GROUP, " ") is ErrorCode.BAD_REQUEST


@pytest.mark.parametrize(
    ("kind", "role", "allowed"),
    [
        (ChannelKind.GROUP, Role.MEMBER, True),
        (ChannelKind.DIRECT, Role.MEMBER, True),
        (ChannelKind.BROADCAST, Role.MEMBER, False),
        (ChannelKind.BROADCAST, Role.ADMIN, True),
        (ChannelKind.BROADCAST, Role.OWNER, True),
    ],
)
def test_who_posts(kind: ChannelKind, role: Role, allowed: bool) -> None:
    assert rules.can_post(kind, role) is allowed


@pytest.mark.parametrize(
    ("actor", "target", "allowed"),
    [
        (Role.MEMBER, Role.MEMBER, False),
        (Role.ADMIN, Role.MEMBER, True),
        (Role.ADMIN, Role.ADMIN, True),
        (Role.ADMIN, Role.OWNER, False),
        (Role.OWNER, Role.OWNER, True),
    ],
)
def test_who_removes_whom(actor: Role, target: Role, allowed: bool) -> None:
    a, t = member("a", actor), member("t", target)
    if allowed:
        rules.check_remove_member(ChannelKind.GROUP, a, t)
    else:
        assert code_of(rules.check_remove_member, ChannelKind.GROUP, a, t) is ErrorCode.FORBIDDEN
    rules.check_remove_member(ChannelKind.GROUP, t, t)  # leaving is always allowed


@pytest.mark.parametrize(
    "url",
    [
        "https://cdn.example/a.png",
        "http://localhost:8080/a?b=c",
    ],
)
def test_good_avatar_urls(url: str) -> None:
    assert rules.check_avatar_url(url) == url


@pytest.mark.parametrize(
    "url", ["data:image/png;base64,xx", "//cdn.example/a.png", "https://", "http://[::1"]
)
def test_bad_avatar_urls(url: str) -> None:
    assert code_of(rules.check_avatar_url, url) is ErrorCode.BAD_REQUEST


def test_limits() -> None:
    assert rules.check_limit(None, cap=500) == rules.DEFAULT_PAGE_LIMIT
    assert rules.check_limit(None, cap=10) == 10
    assert rules.check_limit(500, cap=10) == 10
    assert code_of(lambda: rules.check_limit(0, cap=10)) is ErrorCode.BAD_REQUEST
