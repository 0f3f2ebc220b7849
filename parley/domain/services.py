"""The domain services one running Parley holds, as the REST layer receives them."""

from __future__ import annotations

from dataclasses import dataclass

from parley.core.ports import PresenceLookup, TokenCheck
from parley.domain.chat import ChatService
from parley.domain.conversation import ConversationService
from parley.domain.files import FileService
from parley.domain.previews import PreviewService
from parley.domain.search import SearchService


@dataclass(frozen=True, slots=True)
class Services:
    chat: ChatService
    conversation: ConversationService
    files: FileService
    search: SearchService
    previews: PreviewService
    #: Checks a bearer token (the broker's verifier).
    verify: TokenCheck
    #: Presence as the broker sees it; ``None`` when no broker runs in this process.
    presence: PresenceLookup | None = None
