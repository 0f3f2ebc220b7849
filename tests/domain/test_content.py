"""The sans-IO content rules: the Markdown subset and the mention grammar."""

from __future__ import annotations

import pytest

from parley.core.errors import ClientError
from parley.domain import content


def test_markdown_subset() -> None:
    text = "**b** _i_ ~~s~~ `c`\n```python\nprint('@x')\n```\n~~~\nraw\n~~~\n````\n```\n````"
    prose, blocks = content.split_code(text)
    assert blocks == [("python", "print('@x')"), ("", "raw"), ("", "```")]
    assert prose == "**b** _i_ ~~s~~ `c`"
    assert content.check_rich_text("inline ```not a fence``` here") is not None
    for bad in ("```\nopen", "```bad!lang\nx\n```", "```" + "x" * 40 + "\n```"):
        with pytest.raises(ClientError):
            content.check_rich_text(bad)


def test_mention_grammar() -> None:
    got = content.parse_mentions(
        "@alice, @bob.smith. @team-x (@carol) mail a@b.c `@code` @Here\n```\n@block\n```"
    )
    assert got.handles == ["alice", "bob.smith", "team-x", "carol"]
    assert got.everyone is True
    assert content.parse_mentions("no one @ all").handles == []
