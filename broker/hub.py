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
from parley.broker.cluster import ClusterLink
from parley.broker.presence import Presence, PresenceConfig
from parley.broker.protocol import channel_ephemeral_frame, channel_event_frame, event_frame
from parley.broker.trie import TopicTrie
from parley.core.codes import CloseCode
from parley.core.events import EventName
from parley.core.ports import BrokerBackend, ChannelLog
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
        #: The link to the other nodes (docs/cluster.md); None with the in-memory backend,
        #: where the local fan-out below is the whole path.
        self.link: ClusterLink | None = None

    def join_cluster(self, backend: BrokerBackend, log: ChannelLog, *, gap_wait: float) -> None:
        """Use ``backend`` to reach the other nodes (before any client attaches). A
        backend that is not ``clustered`` (in memory) changes nothing."""
        if backend.clustered:
            self.link = ClusterLink(self, backend, log, gap_wait=gap_wait)

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
        link = self.link
        for entry in client.entries:
            self._trie.remove(entry, client)
            if link is not None:
                link.interest(entry, False)
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

    def local_channels(self, org: str, user_id: str) -> set[str]:
        """The channels of a user connected here (empty if not)."""
        user = self._users.get((org, user_id))
        return set() if user is None else set(user.channels)

    def connections_of(self, org: str, user_id: str) -> int:
        user = self._users.get((org, user_id))
        return 0 if user is None else len(user.clients)

    def connections_anywhere(self, org: str, user_id: str) -> int:
        """The user's connections on every node (other nodes' counts are as of their last
        presence flush: the per-user limit is eventually consistent in a cluster)."""
        n = self.connections_of(org, user_id)
        if self.link is not None:
            n += self.presence.remote_connections(org, user_id)
        return n

    def disconnect_user(self, org: str, user_id: str, code: CloseCode, reason: str) -> int:
        """Close every connection of the user with ``code`` and ``reason`` (e.g. a
        deleted account, :class:`parley.core.ports.SessionControl`), on every node;
        return how many closes were started here. Never awaits: each connection detaches
        as it starts its close, so it gets no delivery after this."""
        if self.link is not None:
            self.link.send_disconnect(org, user_id, code, reason)
        return self.disconnect_local(org, user_id, code, reason)

    def disconnect_local(self, org: str, user_id: str, code: CloseCode, reason: str) -> int:
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
                if self.link is not None:
                    self.link.interest(entry, True)
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
                if self.link is not None:
                    self.link.interest(entry, False)
        return True

    async def settled(self) -> None:
        """In a cluster, wait until the bus has the subscriptions made so far (so the
        reply to a ``subscribe`` means: what any node publishes from now on arrives)."""
        if self.link is not None:
            await self.link.backend.settled()

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
        if self.link is not None:
            frame = event_frame(topic, data, ts or utc_now())
            self.link.send_event(topic, frame, members_of)
            return self.deliver_event(topic, frame, members_of)
        subs = self._trie.match(topic)
        if not subs:
            return 0
        return self._fan_event(subs, topic, event_frame(topic, data, ts or utc_now()), members_of)

    def deliver_event(self, topic: str, frame: bytes, members_of: str | None) -> int:
        """An event's frame to the local subscribers (from this node or the bus)."""
        subs = self._trie.match(topic)
        if not subs:
            return 0
        return self._fan_event(subs, topic, frame, members_of)

    def _fan_event(
        self, subs: tuple[Client, ...], topic: str, frame: bytes, members_of: str | None
    ) -> int:
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
        if self.link is not None:
            self.published += len(events)
            self.link.local_channel_events(events)
            return
        for ev in events:
            self._publish_channel_event(ev)

    def apply_membership(self, org: str, channel_id: str, user_id: str, member: bool) -> None:
        """A membership change committed on another node (before its event is delivered:
        a removal takes effect at once)."""
        state = self._users.get((org, user_id))
        if state is not None:
            state.apply(channel_id, member)
            self.presence.reindex(state)

    def deliver_channel(
        self,
        org: str,
        channel_id: str,
        seq: int,
        event: str,
        target: str | None,
        frame: bytes,
    ) -> None:
        """A committed channel event, in seq order (the cluster's sequencer): the same
        membership rules as :meth:`_publish_channel_event`."""
        added = event == EventName.MEMBER_ADDED
        removed = event == EventName.MEMBER_REMOVED
        target_state = self._users.get((org, target)) if target is not None else None
        if added and target_state is not None:
            target_state.apply(channel_id, True)
            self.presence.reindex(target_state)
        subs = self._trie.match(channel_topic(org, event, channel_id))
        if subs:
            n = 0
            for client in subs:
                if not client.member_of(channel_id):
                    continue
                if client.hold_back(channel_id, seq, frame):
                    n += 1
                else:
                    n += client.send(frame)
            self.delivered += n
        if removed and target_state is not None:
            target_state.apply(channel_id, False)
            self.presence.reindex(target_state)

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
        if self.link is not None:
            frame = channel_ephemeral_frame(topic, channel_id, event, data, utc_now())
            self.link.send_ephemeral(topic, org, channel_id, frame, except_user)
            return self.deliver_ephemeral(topic, channel_id, frame, except_user)
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

    def deliver_ephemeral(
        self, topic: str, channel_id: str, frame: bytes, except_user: str | None
    ) -> int:
        subs = self._trie.match(topic)
        if not subs:
            return 0
        n = 0
        for client in subs:
            if client.member_of(channel_id) and client.claims.sub != except_user:
                n += client.send(frame)
        self.delivered += n
        return n
