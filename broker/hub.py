"""The hub: local subscriptions and synchronous fan-out (STYLE 5, 10).

Publishing serializes an event once, builds its frame once (the encoders are in
:mod:`broker.protocol`) and queues the same bytes on every matching connection with a
non-blocking put. Channel events (topic
``events.{org}.conversations.conversation.{event}.{channel_id}``) reach only connections
whose user is a member of the channel; membership changes flowing through the log keep
that filter current, so removal stops delivery at once and being added starts it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from parley.broker.client import Client, UserState
from parley.broker.presence import Presence, PresenceConfig
from parley.broker.protocol import channel_ephemeral_frame, channel_event_frame, event_frame
from parley.broker.trie import TopicTrie
from parley.core.codes import CloseCode
from parley.core.events import EventName
from parley.core.records import ChannelEvent
from parley.core.times import utc_now
from parley.core.topics import channel_topic, is_channel_topic, user_topic_owner


class Hub:
    def __init__(self, presence: PresenceConfig | None = None) -> None:
        self._trie: TopicTrie[Client] = TopicTrie()
        self._users: dict[tuple[str, str], UserState] = {}
        #: Presence and typing (docs/presence.md); flushed by ``presence.run()``.
        self.presence = Presence(self, presence or PresenceConfig())
        self.published = 0
        self.delivered = 0
        #: Called with (topic, data) of every client publish (WS ``publish``) after its
        #: fan-out, e.g. by notification rules; each must not await or block.
        self.publish_observers: list[Callable[[str, Any], None]] = []
        #: Told ``(org, user_id)`` when a user's last connection detaches (ConnectionWatch).
        self._gone: list[Callable[[str, str], None]] = []

    # -- connections ----------------------------------------------------------
    def attach(self, client: Client, *, loading: bool) -> UserState:
        """Register a connection's user. With ``loading`` the user's channel set is about
        to be loaded: call :meth:`UserState.loaded` with the snapshot."""
        key = (client.claims.org, client.claims.sub)
        user = self._users.get(key)
        if user is None:
            user = self._users[key] = UserState(client.claims.org, client.claims.sub)
            if loading:
                user.pending = []
        user.clients.add(client)
        client.user = user
        self.presence.connected(client, user)
        return user

    def user_loaded(self, user: UserState, snapshot: set[str]) -> None:
        """Install a loaded channel set (see :meth:`UserState.loaded`)."""
        user.loaded(snapshot)
        self.presence.reindex(user)

    def detach(self, client: Client) -> None:
        for entry in client.entries:
            self._trie.remove(entry, client)
        client.entries.clear()
        client.patterns.clear()
        user = client.user
        if user is not None:
            self.presence.disconnected(client)
            client.user = None
            user.clients.discard(client)
            if not user.clients:
                self._users.pop((user.org, user.user_id), None)
                for callback in self._gone:
                    callback(user.org, user.user_id)

    def on_user_gone(self, callback: Callable[[str, str], None]) -> None:
        """``callback(org, user_id)`` when a user's last connection detaches (never awaits)."""
        self._gone.append(callback)

    def connections_of(self, org: str, user_id: str) -> int:
        user = self._users.get((org, user_id))
        return 0 if user is None else len(user.clients)

    def disconnect_user(self, org: str, user_id: str, code: CloseCode, reason: str) -> int:
        """Close every local connection of the user with ``code`` and ``reason`` (e.g. a
        deleted account, :class:`parley.core.ports.SessionControl`); return how many
        closes were started. Never awaits: each connection detaches as it starts its
        close, so it gets no delivery after this."""
        user = self._users.get((org, user_id))
        if user is None:
            return 0
        n = 0
        for client in list(user.clients):
            n += client.close(code, reason)
        return n

    # -- subscriptions --------------------------------------------------------
    def subscribe(
        self,
        client: Client,
        pattern: str,
        parts: list[str],
        entries: list[list[str]] | None = None,
    ) -> bool:
        """Subscribe ``client`` to ``pattern``, in the trie as ``entries`` (the pattern
        narrowed to what it may read; default: ``parts`` as is)."""
        if pattern in client.patterns:
            return False
        entries = [parts] if entries is None else entries
        client.patterns[pattern] = entries
        for entry in entries:
            key = tuple(entry)
            held = client.entries.get(key, 0)
            client.entries[key] = held + 1
            if not held:
                self._trie.insert(entry, client)
        return True

    def unsubscribe(self, client: Client, pattern: str) -> bool:
        entries = client.patterns.pop(pattern, None)
        if entries is None:
            return False
        for entry in entries:
            key = tuple(entry)
            held = client.entries.pop(key)
            if held > 1:
                client.entries[key] = held - 1
            else:
                self._trie.remove(entry, client)
        return True

    @property
    def subscription_count(self) -> int:
        return len(self._trie)

    # -- publishing (EventSink) -------------------------------------------------
    def publish(
        self, topic: str, data: Any, *, ts: datetime | None = None, members_of: str | None = None
    ) -> int:
        """``members_of``: only to members of that channel (see :class:`EventSink`). An
        event on a channel source published without it (a service's own) reaches services
        only: whose channel it is, is not known."""
        self.published += 1
        subs = self._trie.match(topic)
        if not subs:
            return 0
        frame = event_frame(topic, data, ts or utc_now())
        owner = user_topic_owner(topic)
        n = 0
        if members_of is None and is_channel_topic(topic):
            for client in subs:
                if client.claims.is_service and (owner is None or client.claims.sub == owner):
                    n += client.send(frame)
        elif members_of is not None:
            for client in subs:
                if client.member_of(members_of) and (owner is None or client.claims.sub == owner):
                    n += client.send(frame)
        else:
            for client in subs:
                if owner is None or client.claims.sub == owner:
                    n += client.send(frame)
        self.delivered += n
        return n

    def client_published(self, topic: str, data: Any) -> None:
        """A client published ``data`` on ``topic``: tell the observers."""
        for observe in self.publish_observers:
            observe(topic, data)

    def publish_channel_events(self, events: Sequence[ChannelEvent]) -> None:
        for ev in events:
            self._publish_channel_event(ev)

    def _publish_channel_event(self, ev: ChannelEvent) -> None:
        self.published += 1
        added = ev.event == EventName.MEMBER_ADDED
        removed = ev.event == EventName.MEMBER_REMOVED
        target = ev.data.get("user_id") if (added or removed) else None
        target_state = self._users.get((ev.org, target)) if isinstance(target, str) else None
        if added and target_state is not None:
            target_state.apply(ev.channel_id, True)
            self.presence.reindex(target_state)
        subs = self._trie.match(ev.topic)
        if subs:
            frame = channel_event_frame(ev)
            n = 0
            for client in subs:
                if not client.member_of(ev.channel_id):
                    continue
                if client.hold_back(ev.channel_id, ev.seq, frame):
                    n += 1
                else:
                    n += client.send(frame)
            self.delivered += n
        if removed and target_state is not None:
            target_state.apply(ev.channel_id, False)
            self.presence.reindex(target_state)

    def publish_channel_ephemeral(
        self, org: str, channel_id: str, event: str, data: Any, *, except_user: str | None = None
    ) -> int:
        """``except_user``: not to that user's own connections (e.g. their typing)."""
        self.published += 1
        topic = channel_topic(org, event, channel_id)
        subs = self._trie.match(topic)
        if not subs:
            return 0
        frame = channel_ephemeral_frame(topic, channel_id, event, data, utc_now())
        n = 0
        for client in subs:
            if client.member_of(channel_id) and client.claims.sub != except_user:
                n += client.send(frame)
        self.delivered += n
        return n
