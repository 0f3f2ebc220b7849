"""Topic grammar and tenancy (sans-IO).

A topic is 2 to 16 dot-separated segments of ``[A-Za-z0-9_-]+``. The first segment is the
namespace; under ``events`` the second segment is the org (tenant):
``events.{org}.{source}.{resource}.{event}.{resourceId}``. In patterns ``*`` matches exactly
one segment and ``>`` (last segment only) matches one or more trailing segments.
"""

from __future__ import annotations

import re

from parley.core.codes import ErrorCode
from parley.core.errors import ClientError

SINGLE = "*"
MULTI = ">"
MIN_SEGMENTS = 2
MAX_SEGMENTS = 16
MAX_TOPIC_LENGTH = 512
NAMESPACE = "events"

_SEGMENT = re.compile(r"[A-Za-z0-9_-]+")


def is_segment(s: str) -> bool:
    return _SEGMENT.fullmatch(s) is not None


def _split(text: object, what: str) -> list[str]:
    if not isinstance(text, str) or not text:
        raise ClientError(ErrorCode.INVALID_TOPIC, f"{what} must be a non-empty string")
    if len(text) > MAX_TOPIC_LENGTH:
        raise ClientError(ErrorCode.INVALID_TOPIC, f"{what} longer than {MAX_TOPIC_LENGTH}")
    parts = text.split(".")
    if not MIN_SEGMENTS <= len(parts) <= MAX_SEGMENTS:
        raise ClientError(
            ErrorCode.INVALID_TOPIC,
            f"{what} must have {MIN_SEGMENTS} to {MAX_SEGMENTS} segments",
        )
    return parts


def parse_topic(topic: object) -> list[str]:
    """Validate a concrete topic (no wildcards); return its segments."""
    parts = _split(topic, "topic")
    for p in parts:
        if not is_segment(p):
            raise ClientError(ErrorCode.INVALID_TOPIC, f"bad topic segment {p!r}")
    return parts


def parse_pattern(pattern: object) -> list[str]:
    """Validate a subscription pattern; return its segments."""
    parts = _split(pattern, "pattern")
    last = len(parts) - 1
    for i, p in enumerate(parts):
        if p == SINGLE or (p == MULTI and i == last):
            continue
        if p == MULTI:
            raise ClientError(ErrorCode.INVALID_TOPIC, "'>' may only be the last segment")
        if not is_segment(p):
            raise ClientError(ErrorCode.INVALID_TOPIC, f"bad pattern segment {p!r}")
    return parts


def check_org(parts: list[str], org: str) -> None:
    """Refuse topics/patterns outside the org: namespace ``events`` and org segment literal."""
    if parts[0] != NAMESPACE:
        raise ClientError(ErrorCode.FORBIDDEN, f"topics must start with '{NAMESPACE}.{org}.'")
    if parts[1] != org:
        raise ClientError(ErrorCode.FORBIDDEN, f"topic outside your org {org!r}")


def matches(pattern: list[str], topic: list[str]) -> bool:
    """Reference matcher (used by tests and for filtering replays)."""
    for i, p in enumerate(pattern):
        if p == MULTI:
            return len(topic) > i
        if i >= len(topic) or (p != SINGLE and p != topic[i]):
            return False
    return len(pattern) == len(topic)


def intersect(a: list[str], b: list[str]) -> list[str] | None:
    """The pattern matching exactly the topics both patterns match, or None if none.

    (Two patterns of this grammar always meet in one pattern: segment by segment a literal
    beats ``*``, and a ``>`` takes the other side's remaining segments.)"""
    out: list[str] = []
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x == MULTI:
            return out + b[i:]
        if y == MULTI:
            return out + a[i:]
        if x == SINGLE:
            out.append(y)
        elif y == SINGLE or x == y:
            out.append(x)
        else:
            return None
    return out if len(a) == len(b) else None


# -- the topics Parley itself publishes on ------------------------------------------------

#: Channel events: ``events.{org}.conversations.conversation.{event}.{channel_id}``; they
#: reach only members of the channel.
CONVERSATION_SOURCE = "conversations"
#: User topics ``events.{org}.users.{resource}.{event}.{user_id}`` (e.g. mentions) reach
#: only connections of that user, whatever pattern matched them.
USER_SOURCE = "users"
#: Task events: ``events.{org}.tasks.task.{event}.{task_id}``; they reach only members of
#: the task's channel.
TASK_SOURCE = "tasks"
#: Entity locks: ``events.{org}.locks.lock.{event}.{entity_segment(entity)}``; anyone in
#: the org reads them (locks are org-scoped, docs/notes-locks.md).
LOCK_SOURCE = "locks"
#: Sources Parley publishes on that every connection of the org may read.
ORG_SOURCES = frozenset({LOCK_SOURCE})
#: Sources whose events belong to one channel: delivered to its members only.
CHANNEL_SOURCES = frozenset({CONVERSATION_SOURCE, TASK_SOURCE})


def channel_topic(org: str, event: str, channel_id: str) -> str:
    return f"{NAMESPACE}.{org}.{CONVERSATION_SOURCE}.conversation.{event}.{channel_id}"


def is_channel_topic(topic: str) -> bool:
    """Whether a topic is under a channel source (its events belong to one channel)."""
    parts = topic.split(".", 3)
    return len(parts) > 3 and parts[2] in CHANNEL_SOURCES and parts[0] == NAMESPACE


def user_topic_owner(topic: str) -> str | None:
    """The user a topic is private to, or None for any other topic."""
    parts = topic.split(".")
    return parts[5] if len(parts) == 6 and parts[2] == USER_SOURCE else None


def mention_topic(org: str, user_id: str) -> str:
    return f"{NAMESPACE}.{org}.{USER_SOURCE}.user.mentioned.{user_id}"


def task_topic(org: str, event: str, task_id: str) -> str:
    return f"{NAMESPACE}.{org}.{TASK_SOURCE}.task.{event}.{task_id}"


#: A user's notifications: ``events.{org}.users.notification.{event}.{user_id}`` with
#: event ``created``, ``updated`` (read/seen/archived on another device) or
#: ``preferences`` (changed preferences), to that user's connections only.
NOTIFICATION_EVENTS = ("created", "updated", "preferences")


def notification_topic(org: str, event: str, user_id: str) -> str:
    return f"{NAMESPACE}.{org}.{USER_SOURCE}.notification.{event}.{user_id}"


def note_topic(org: str, event: str, owner: str) -> str:
    """A user note's events (``note_created`` ...): private to its owner."""
    return f"{NAMESPACE}.{org}.{USER_SOURCE}.note.{event}.{owner}"


_SEGMENT_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-")


def entity_segment(entity: str) -> str:
    """An entity id as one topic segment: letters, digits and ``-`` as they are, every
    other byte of its UTF-8 as ``_xx`` (lowercase hex), so ``case:4711`` is
    ``case_3a4711`` and ``note_01j`` is ``note_5f01j``: reversible, never ambiguous."""
    out: list[str] = []
    for ch in entity:
        if ch in _SEGMENT_SAFE:
            out.append(ch)
        else:
            out.extend(f"_{b:02x}" for b in ch.encode("utf-8"))
    return "".join(out)


def lock_topic(org: str, event: str, entity: str) -> str:
    return f"{NAMESPACE}.{org}.{LOCK_SOURCE}.lock.{event}.{entity_segment(entity)}"


def user_lock_topic(org: str, event: str, owner: str) -> str:
    """Lock events of a user's own note: private to its owner."""
    return f"{NAMESPACE}.{org}.{USER_SOURCE}.lock.{event}.{owner}"


def reminder_topic(org: str, user_id: str) -> str:
    """A user's reminders (on a message) fire here (docs/automation.md)."""
    return f"{NAMESPACE}.{org}.{USER_SOURCE}.user.reminder.{user_id}"


def task_due_topic(org: str, user_id: str) -> str:
    """A task of the user (assigned to them, or created by them with no assignee) is due."""
    return f"{NAMESPACE}.{org}.{USER_SOURCE}.user.task_due.{user_id}"
