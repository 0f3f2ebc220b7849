"""The conversation blueprints (docs/conversation.md) and their service, for ``create_app``."""

from __future__ import annotations

from quart import Quart

from parley.api import bookmarks, edits, pins, reactions, tasks, teams, threads
from parley.api.convschemas import EXTENSION
from parley.chat import ChatService
from parley.conversation import ConversationService
from parley.store.conversation import ConversationStoreMixin

BLUEPRINTS = (threads.bp, edits.bp, reactions.bp, pins.bp, bookmarks.bp, teams.bp, tasks.bp)


def install_conversation(app: Quart, chat: ChatService) -> ConversationService | None:
    """Make the service (``api.convschemas.conv()``), run its mention step after every
    post of ``chat`` (REST and WebSocket) and offer its WebSocket ops. A store without the
    conversation tables (a test double) leaves the routes answering 503."""
    if not isinstance(chat.store, ConversationStoreMixin):
        return None
    conversation = ConversationService(chat.store, chat.sink)
    chat.post_hooks.append(conversation.after_post)
    chat.conversation = conversation
    app.extensions[EXTENSION] = conversation
    return conversation
