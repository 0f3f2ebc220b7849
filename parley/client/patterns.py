"""Which patterns take part in recovery: those that can match a channel-log event are
resumed with ``since``; those that match all of it let the client tell a gap (a skipped
seq) from an event it did not ask for."""

from __future__ import annotations


def covers_channel_log(parts: list[str]) -> bool:
    """Does a pattern match every channel-log event of every channel
    (``events.{org}.conversations.conversation.{event}.{channel}``)? Then the client can
    tell a gap from an event the pattern does not want."""
    template = ["conversations", "conversation", None, None]  # None: any value
    for i, want in enumerate(template):
        seg = parts[2 + i] if len(parts) > 2 + i else None
        if seg == ">":
            return True
        if seg is None or (seg != "*" and (want is None or seg != want)):
            return False
    return len(parts) == 6


def matches_channel_log(parts: list[str], org: str) -> bool:
    """Can a pattern match some channel-log event (then it is resumed with ``since``)?"""
    probe = ["events", org, "conversations", "conversation"]
    for i, seg in enumerate(parts[:4]):
        if seg == ">":
            return True
        if seg != "*" and seg != probe[i]:
            return False
    return len(parts) >= 6 or (len(parts) > 4 and parts[-1] == ">")
