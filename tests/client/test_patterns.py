from __future__ import annotations

import pytest

from parley.client.patterns import covers_channel_log, matches_channel_log


@pytest.mark.parametrize(
    ("pattern", "covers", "matches"),
    [
        ("events.acme.>", True, True),
        ("events.acme.conversations.>", True, True),
        ("events.acme.conversations.conversation.>", True, True),
        ("events.acme.*.conversation.*.*", True, True),
        ("events.acme.conversations.conversation.*.*", True, True),
        ("events.acme.conversations.conversation.message_posted.*", False, True),
        ("events.acme.conversations.conversation.*.ch_1", False, True),
        ("events.acme.conversations.*", False, False),
        ("events.acme.client.>", False, False),
        ("events.acme.tasks.>", False, False),
        ("events.acme.users.user.mentioned.bob", False, False),
    ],
)
def test_which_patterns_cover_or_match_the_channel_log(
    pattern: str, covers: bool, matches: bool
) -> None:
    parts = pattern.split(".")
    assert covers_channel_log(parts) is covers
    assert matches_channel_log(parts, "acme") is matches
