"""Event names: the channel log's (each with a seq) and the ephemeral channel events
(no seq, not replayed). Each is the ``{event}`` segment of the channel topic."""

from __future__ import annotations

from enum import StrEnum


class EventName(StrEnum):
    """Channel-log event names; each is the ``{event}`` segment of the broker topic."""

    MESSAGE_POSTED = "message_posted"
    MESSAGE_EDITED = "message_edited"
    MESSAGE_DELETED = "message_deleted"
    MEMBER_ADDED = "member_added"
    MEMBER_REMOVED = "member_removed"
    CHANNEL_UPDATED = "channel_updated"
    # conversation features (docs/conversation.md)
    REACTION_ADDED = "reaction_added"
    REACTION_REMOVED = "reaction_removed"
    MESSAGE_PINNED = "message_pinned"
    MESSAGE_UNPINNED = "message_unpinned"
    TASK_CREATED = "task_created"
    TASK_COMPLETED = "task_completed"
    # notes (docs/notes-locks.md)
    NOTE_CREATED = "note_created"
    NOTE_EDITED = "note_edited"
    NOTE_DELETED = "note_deleted"


class Ephemeral(StrEnum):
    """Channel events that are pushed to the channel's members but not kept in the log."""

    READ_RECEIPT = "read_receipt"
    MESSAGE_STREAM = "message_stream"
    TYPING = "typing"
    LINK_PREVIEW = "link_preview"
