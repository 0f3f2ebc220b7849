"""The domain services one running Parley holds, one per feature, as the REST layer and
the WebSocket ops receive them (built by ``parley.app.build_services``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from parley.core.ports import PresenceLookup, TokenCheck
from parley.domain.accounts import AccountService
from parley.domain.blocks import BlockService
from parley.domain.bookmarks import BookmarkService
from parley.domain.channels import ChannelService
from parley.domain.edits import EditService
from parley.domain.events import EventService
from parley.domain.federation import FederationService
from parley.domain.files import FileService
from parley.domain.idempotency import IdempotencyService
from parley.domain.matrix import MatrixInbound
from parley.domain.members import MemberService
from parley.domain.mentions import MentionService
from parley.domain.messages import MessageService
from parley.domain.pins import PinService
from parley.domain.previews import PreviewService
from parley.domain.profiles import ProfileService
from parley.domain.ratelimits import RestRateLimits
from parley.domain.reactions import ReactionService
from parley.domain.receipts import ReceiptService
from parley.domain.relay import Outbox
from parley.domain.retention import RetentionService
from parley.domain.search import SearchService
from parley.domain.shares import ShareService
from parley.domain.streams import StreamService
from parley.domain.tasks import TaskService
from parley.domain.teams import TeamService
from parley.domain.threads import ThreadService


@dataclass(frozen=True, slots=True)
class Services:
    channels: ChannelService
    members: MemberService
    messages: MessageService
    receipts: ReceiptService
    profiles: ProfileService
    events: EventService
    streams: StreamService
    threads: ThreadService
    shares: ShareService
    edits: EditService
    reactions: ReactionService
    pins: PinService
    bookmarks: BookmarkService
    mentions: MentionService
    teams: TeamService
    tasks: TaskService
    files: FileService
    search: SearchService
    previews: PreviewService
    #: Privacy (docs/privacy.md).
    blocks: BlockService
    accounts: AccountService
    retention: RetentionService
    idempotency: IdempotencyService
    #: Federated channels (docs/federation.md).
    federation: FederationService
    #: Checks a bearer token (the broker's verifier).
    verify: TokenCheck
    #: Presence as the broker sees it; ``None`` when no broker runs in this process.
    presence: PresenceLookup | None = None
    #: REST rate limits per token (docs/rest.md, Limits).
    rate_limits: RestRateLimits = field(default_factory=RestRateLimits)
    #: The Matrix application service's inbound side; ``None`` without a Matrix bridge.
    matrix: MatrixInbound | None = None
    #: The federation outbox (its task runs in ``parley.app.serve``).
    outbox: Outbox | None = None
