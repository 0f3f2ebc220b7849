"""One connection as the hub sees it (sans-IO): identity, subscriptions, where frames go."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from parley.broker.outbox import Outbox
from parley.core.claims import Claims
from parley.core.codes import CloseCode
from parley.core.ratelimit import TokenBucket


@dataclass(slots=True, eq=False)
class UserState:
    """Shared by every connection of one user: the channels they belong to, and the
    connections themselves (so the hub can close them all, :meth:`Hub.disconnect_user`).

    While ``pending`` is a list the channel set is being loaded from the store and
    membership changes are recorded there, to be replayed over the loaded snapshot."""

    org: str
    user_id: str
    channels: set[str] = field(default_factory=set)
    pending: list[tuple[str, bool]] | None = None
    clients: set[Client] = field(default_factory=set)
    #: Publishes of all the user's connections together (``Limits.user_publish_rate``),
    #: created at the first publish.
    publish_bucket: TokenBucket | None = None

    def apply(self, channel_id: str, member: bool) -> None:
        if self.pending is not None:
            self.pending.append((channel_id, member))
        if member:
            self.channels.add(channel_id)
        else:
            self.channels.discard(channel_id)

    def loaded(self, snapshot: set[str]) -> None:
        """Install the first loader's snapshot; a later one (another connection of the same
        user that loaded concurrently) may be stale and is ignored."""
        if self.pending is None:
            return
        pending, self.pending = self.pending, None
        self.channels = set(snapshot)
        for channel_id, member in pending:
            self.apply(channel_id, member)


class Client:
    """Frames are queued with :meth:`send`, which never awaits. An overflowing outbox
    calls ``on_overflow`` (the connection then closes as a slow consumer); :meth:`close`
    calls ``on_close(code, reason)`` (the connection starts its close handshake)."""

    __slots__ = (
        "claims",
        "entries",
        "on_close",
        "on_overflow",
        "outbox",
        "patterns",
        "recovering",
        "session_id",
        "user",
    )

    def __init__(
        self,
        session_id: str,
        claims: Claims,
        outbox: Outbox,
        on_overflow: Callable[[], None],
        on_close: Callable[[CloseCode, str], None] | None = None,
    ) -> None:
        self.session_id = session_id
        self.claims = claims
        self.outbox = outbox
        self.on_overflow = on_overflow
        #: Starts closing the connection; never awaits (``Connection.close_soon``).
        self.on_close = on_close
        #: Subscribed pattern -> its trie entries (the pattern narrowed to what the
        #: connection may read, broker/access.py).
        self.patterns: dict[str, list[list[str]]] = {}
        #: Trie entry -> how many of the subscriptions hold it (two may share one).
        self.entries: dict[tuple[str, ...], int] = {}
        self.user: UserState | None = None
        #: channel id -> live (seq, frame) held back while that channel is being recovered.
        self.recovering: dict[str, list[tuple[int, bytes]]] | None = None

    def send(self, frame: bytes) -> bool:
        """Queue a frame; False if it was not (closing, or the outbox overflowed)."""
        if self.outbox.put(frame):
            return True
        if not self.outbox.closed:
            self.on_overflow()
        return False

    def close(self, code: CloseCode, reason: str) -> bool:
        """Start closing the connection (never awaits); False if it cannot be closed
        from here (no close callback)."""
        if self.on_close is None:
            return False
        self.on_close(code, reason)
        return True

    def member_of(self, channel_id: str) -> bool:
        user = self.user
        return user is not None and channel_id in user.channels

    def hold_back(self, channel_id: str, seq: int, frame: bytes) -> bool:
        """Buffer a live channel event during that channel's recovery."""
        rec = self.recovering
        if rec is None:
            return False
        buf = rec.get(channel_id)
        if buf is None:
            return False
        if len(buf) >= self.outbox.max_frames:
            self.on_overflow()
        else:
            buf.append((seq, frame))
        return True
