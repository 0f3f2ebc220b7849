"""Presence and typing, sans-IO: computed in the hub synchronously, never awaiting.

Presence (``online``, ``away``, ``offline``) is derived from a user's connections: online
while any connection is attached and active, away when every connection said ``away`` or
nothing came from the user for ``idle_after`` seconds, offline with no connection.
Changes only mark the user *dirty*; one periodic task calls :meth:`Presence.flush`, which
pushes at most one aggregated ``presence`` frame per watching connection per interval to
the connected users who share a channel with a changed user. The design and its bound are
in docs/presence.md.

Typing is an ephemeral channel event (never stored): :meth:`Presence.typing` checks
membership, coalesces repeats and rate-limits per user, then publishes ``typing``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import trio

from parley.broker.client import Client, UserState
from parley.broker.protocol import presence_entry, presence_frame
from parley.core.codes import ErrorCode
from parley.core.errors import ClientError
from parley.core.events import Ephemeral
from parley.core.times import parse_ts, rfc3339, utc_now

if TYPE_CHECKING:
    from parley.broker.hub import Hub


class Status(StrEnum):
    ONLINE = "online"
    AWAY = "away"
    OFFLINE = "offline"


@dataclass(frozen=True, slots=True)
class PresenceConfig:
    #: Seconds between presence flushes: the most often a watcher gets a presence frame.
    flush_interval: float = 1.0
    #: Seconds without a command from any of the user's connections before ``away``.
    idle_after: float = 300.0
    #: Users in one presence frame at most; beyond it the frame says ``truncated``.
    max_entries: int = 256
    #: How long a ``typing`` event holds on the client unless repeated (``expires_in``).
    typing_ttl: float = 5.0
    #: A repeat for the same channel within this many seconds is coalesced (not pushed).
    typing_refresh: float = 2.0
    #: Typing pushes per second per user (token bucket); over -> ``rate_limited``.
    typing_rate: float = 1.0
    typing_burst: int = 5


@dataclass(slots=True, eq=False)
class _User:
    org: str
    user_id: str
    #: connection -> said ``away``
    clients: dict[Client, bool] = field(default_factory=dict)
    #: channels this record is indexed under (the user's channels when last seen)
    channels: set[str] = field(default_factory=set)
    published: Status = Status.OFFLINE
    last_seen: datetime | None = None
    last_active: float | None = None
    active: bool = True
    #: push to every shared channel even if the status did not change (new channel)
    force: bool = False
    #: connections not yet told who of their channel mates is here (sent at the next flush
    #: once the channel set is loaded)
    fresh: set[Client] = field(default_factory=set)
    loading: bool = False
    typing: dict[str, float] = field(default_factory=dict)
    tokens: float = 0.0
    refilled: float | None = None
    #: other nodes' view (a cluster): node id -> (its local status, the user's channels,
    #: the user's connections there)
    remote: dict[str, tuple[Status, frozenset[str], int]] = field(default_factory=dict)
    #: the local status and connection count last sent to the other nodes
    #: (None: send again, e.g. the user's channels changed)
    shared: tuple[Status, int] | None = (Status.OFFLINE, 0)


class Presence:
    def __init__(self, hub: Hub, config: PresenceConfig) -> None:
        self.hub = hub
        self.config = config
        self._users: dict[tuple[str, str], _User] = {}
        #: (org, channel) -> records of users of that channel that are (or just were) connected
        self._index: dict[tuple[str, str], set[_User]] = {}
        self._dirty: set[_User] = set()
        self._fresh: set[_User] = set()
        self._last_seen: dict[tuple[str, str], datetime] = {}
        self._now: float | None = None
        self.frames_sent = 0

    # -- hooks from the hub and the session --------------------------------------------
    def connected(self, client: Client, state: UserState) -> None:
        key = (state.org, state.user_id)
        rec = self._users.get(key)
        if rec is None:
            rec = self._users[key] = _User(state.org, state.user_id)
            rec.tokens = float(self.config.typing_burst)
        rec.clients[client] = False
        rec.active = True
        rec.last_seen = utc_now()
        rec.fresh.add(client)
        rec.loading = state.pending is not None
        self._fresh.add(rec)
        self._dirty.add(rec)
        self.reindex(state)

    def disconnected(self, client: Client) -> None:
        c = client.claims
        rec = self._users.get((c.org, c.sub))
        if rec is None or rec.clients.pop(client, None) is None:
            return
        rec.fresh.discard(client)
        rec.last_seen = utc_now()
        if not rec.clients:
            rec.typing.clear()
        self._dirty.add(rec)

    def reindex(self, state: UserState) -> None:
        """Follow the user's channel set (after it loaded or a membership change)."""
        rec = self._users.get((state.org, state.user_id))
        if rec is None or not rec.clients or state.pending is not None:
            return  # while loading, keep the channels last known until the snapshot lands
        rec.loading = False
        self._set_channels(rec, set(state.channels) | _remote_channels(rec))

    def _set_channels(self, rec: _User, new: set[str]) -> None:
        for ch in rec.channels - new:
            self._unindex(rec, ch)
        added = new - rec.channels
        for ch in added:
            self._index.setdefault((rec.org, ch), set()).add(rec)
        rec.channels = new
        if added:
            if rec.clients:
                rec.shared = None  # the other nodes learn the new channels
            rec.force = True
            self._dirty.add(rec)
            rec.fresh.update(rec.clients)  # learn who is here in the new channels
            self._fresh.add(rec)

    def activity(self, client: Client) -> None:
        """A command arrived from ``client``: the user is not idle."""
        c = client.claims
        rec = self._users.get((c.org, c.sub))
        if rec is None:
            return
        rec.active = True
        rec.last_seen = utc_now()
        if rec.published is not Status.ONLINE:
            self._dirty.add(rec)

    def set_away(self, client: Client, away: bool) -> Status:
        """The ``presence`` op: this connection says away (or back). Returns the status the
        user will be published with."""
        c = client.claims
        rec = self._users.get((c.org, c.sub))
        if rec is None or client not in rec.clients:
            raise ClientError(ErrorCode.UNAVAILABLE, "connection is closing")
        rec.clients[client] = away
        rec.active = rec.active or not away
        self._dirty.add(rec)
        return self._status(rec, self._now)

    # -- typing ---------------------------------------------------------------------------
    def typing(self, client: Client, channel_id: str, now: float) -> bool:
        """Push ``typing`` to the channel's other members; False when coalesced with the
        previous push for this channel. Non-members get ``not_found`` (ids do not leak)."""
        if not client.member_of(channel_id):
            raise ClientError(ErrorCode.NOT_FOUND, "no such channel")
        c = client.claims
        rec = self._users.get((c.org, c.sub))
        if rec is None:
            raise ClientError(ErrorCode.UNAVAILABLE, "connection is closing")
        cfg = self.config
        last = rec.typing.get(channel_id)
        if last is not None and now - last < cfg.typing_refresh:
            return False
        if rec.refilled is not None:
            rec.tokens = min(
                float(cfg.typing_burst), rec.tokens + (now - rec.refilled) * cfg.typing_rate
            )
        rec.refilled = now
        if rec.tokens < 1.0:
            raise ClientError(
                ErrorCode.RATE_LIMITED, f"over {cfg.typing_rate:g} typing events per second"
            )
        rec.tokens -= 1.0
        if len(rec.typing) > 64:  # forget stale channels
            rec.typing = {k: v for k, v in rec.typing.items() if now - v < cfg.typing_refresh}
        rec.typing[channel_id] = now
        self.hub.publish_channel_ephemeral(
            c.org,
            channel_id,
            Ephemeral.TYPING,
            {"user_id": c.sub, "expires_in": cfg.typing_ttl},
            except_user=c.sub,
        )
        return True

    # -- queries ----------------------------------------------------------------------------
    def lookup(self, org: str, user_ids: Iterable[str]) -> list[dict[str, Any]]:
        """Presence of users of ``org`` as last computed (unknown users are offline)."""
        out: list[dict[str, Any]] = []
        for uid in user_ids:
            rec = self._users.get((org, uid))
            if rec is not None and (rec.clients or rec.remote):
                status = self._status(rec, self._now)
                seen: datetime | None = rec.last_seen
            else:
                status = Status.OFFLINE
                seen = rec.last_seen if rec is not None else self._last_seen.get((org, uid))
            out.append(_entry(uid, status, seen))
        return out

    # -- the periodic flush -----------------------------------------------------------------
    async def run(self) -> None:
        """Flush every ``flush_interval`` seconds (trio's clock) until cancelled."""
        while True:
            await trio.sleep(self.config.flush_interval)
            self.flush(trio.current_time())

    def _status(self, rec: _User, now: float | None) -> Status:
        """Online on any node is online; away if away everywhere it is connected."""
        status = self._local_status(rec, now)
        for other, _, _ in rec.remote.values():
            if other is Status.ONLINE:
                return Status.ONLINE
            if other is Status.AWAY:
                status = Status.AWAY if status is Status.OFFLINE else status
        return status

    def _local_status(self, rec: _User, now: float | None) -> Status:
        if not rec.clients:
            return Status.OFFLINE
        if all(rec.clients.values()):
            return Status.AWAY
        if (
            now is not None
            and rec.last_active is not None
            and now - rec.last_active >= self.config.idle_after
        ):
            return Status.AWAY
        return Status.ONLINE

    def flush(self, now: float) -> int:
        """Push the changes since the last flush; return the frames queued."""
        self._now = now
        for rec in self._users.values():
            if rec.active:
                rec.active = False
                rec.last_active = now
            if (rec.clients or rec.remote) and self._status(rec, now) is not rec.published:
                self._dirty.add(rec)
        if not self._dirty and not self._fresh:
            return 0
        dirty, self._dirty = self._dirty, set()
        link = self.hub.link
        if link is not None:
            shared = []
            for rec in dirty:
                state = (self._local_status(rec, now), len(rec.clients))
                if state != rec.shared:
                    rec.shared = state
                    shared.append(self._shared(rec, state[0]))
            if shared:
                link.send_presence(shared)
        cap = self.config.max_entries
        # (org, channel) -> entries of its changed users (at most cap), and which overflowed
        touched: dict[tuple[str, str], list[dict[str, Any]]] = {}
        overflow: set[tuple[str, str]] = set()
        for rec in sorted(dirty, key=lambda r: (r.org, r.user_id)):
            status = self._status(rec, now)
            changed = status is not rec.published or rec.force
            rec.published = status
            rec.force = False
            if changed:
                entry = _entry(rec.user_id, status, rec.last_seen)
                for ch in rec.channels:
                    key = (rec.org, ch)
                    lst = touched.setdefault(key, [])
                    if len(lst) < cap:
                        lst.append(entry)
                    else:
                        overflow.add(key)
            if not rec.clients and rec.remote:  # still connected elsewhere
                self._set_channels(rec, _remote_channels(rec))
            elif not rec.clients:
                for ch in rec.channels:
                    self._unindex(rec, ch)
                rec.channels = set()
                del self._users[(rec.org, rec.user_id)]
                if rec.last_seen is not None:
                    self._last_seen[(rec.org, rec.user_id)] = rec.last_seen
        # watcher -> the touched channels it is in
        watching: dict[_User, list[tuple[str, str]]] = {}
        for key in touched:
            for rec in self._index.get(key, ()):
                if rec.clients:
                    watching.setdefault(rec, []).append(key)
        ts = rfc3339(utc_now())
        # new connections: who of their channel mates is here, merged with the changes
        initial: dict[Client, bytes] = {}
        for rec in list(self._fresh):
            if rec.loading and rec.clients:
                continue  # next flush, once the channel set has loaded
            self._fresh.discard(rec)
            if rec.clients and rec.fresh:
                snap = self._snapshot_frame(rec, watching.get(rec, ()), touched, cap, ts)
                if snap is not None:
                    for client in rec.fresh:
                        initial[client] = snap
            rec.fresh.clear()
        frames: dict[tuple[tuple[str, str], ...], bytes] = {}
        sent = 0
        for rec, keys in watching.items():
            sig = tuple(sorted(keys))
            frame = frames.get(sig)
            if frame is None:
                frame = frames[sig] = self._frame(sig, touched, overflow, cap, ts)
            for client in list(rec.clients):
                sent += client.send(initial.pop(client, frame))
        for client, frame in initial.items():
            sent += client.send(frame)
        self.frames_sent += sent
        return sent

    def _snapshot_frame(
        self,
        rec: _User,
        keys: Iterable[tuple[str, str]],
        touched: dict[tuple[str, str], list[dict[str, Any]]],
        cap: int,
        ts: str,
    ) -> bytes | None:
        """Connected users sharing a channel with ``rec`` (at most ``cap``), this flush's
        changes in its channels taking precedence; None when there is nobody."""
        users: dict[str, dict[str, Any]] = {}
        truncated = False
        for key in keys:
            for entry in touched[key]:
                if len(users) >= cap and entry["user_id"] not in users:
                    truncated = True
                    break
                users[entry["user_id"]] = entry
        for ch in sorted(rec.channels):
            for other in self._index.get((rec.org, ch), ()):
                if other is rec or not (other.clients or other.remote) or other.user_id in users:
                    continue
                if len(users) >= cap:
                    truncated = True
                    break
                users[other.user_id] = _entry(other.user_id, other.published, other.last_seen)
            if truncated:
                break
        if not users:
            return None
        return presence_frame(list(users.values()), truncated, ts)

    def _frame(
        self,
        keys: tuple[tuple[str, str], ...],
        touched: dict[tuple[str, str], list[dict[str, Any]]],
        overflow: set[tuple[str, str]],
        cap: int,
        ts: str,
    ) -> bytes:
        users: dict[str, dict[str, Any]] = {}
        truncated = False
        for key in keys:
            truncated = truncated or key in overflow
            for entry in touched[key]:
                if len(users) >= cap and entry["user_id"] not in users:
                    truncated = True
                    break
                users[entry["user_id"]] = entry
        return presence_frame(list(users.values()), truncated, ts)

    # -- other nodes (docs/cluster.md) ---------------------------------------------------------
    def _shared(self, rec: _User, status: Status) -> list[Any]:
        seen = rfc3339(rec.last_seen) if rec.last_seen is not None else None
        local = sorted(self.hub.local_channels(rec.org, rec.user_id))[:MAX_SHARED_CHANNELS]
        return [rec.org, rec.user_id, status.value, seen, local, len(rec.clients)]

    def local_snapshot(self) -> list[list[Any]]:
        """Every locally connected user's local status (for a node that just joined)."""
        out = []
        for rec in self._users.values():
            if rec.clients:
                status = self._local_status(rec, self._now)
                rec.shared = (status, len(rec.clients))
                out.append(self._shared(rec, status))
        return out

    def remote(self, node: str, entries: list[list[Any]]) -> None:
        """Statuses of users connected on ``node``: merged into this node's view."""
        for org, user_id, status, seen, channels, count in entries:
            key = (org, user_id)
            rec = self._users.get(key)
            if rec is None:
                if status == Status.OFFLINE:
                    continue
                rec = self._users[key] = _User(org, user_id)
                rec.tokens = float(self.config.typing_burst)
            if status == Status.OFFLINE:
                rec.remote.pop(node, None)
            else:
                rec.remote[node] = (Status(status), frozenset(channels), int(count))
            if seen is not None:
                rec.last_seen = parse_ts(seen)
            if rec.remote:  # (gone everywhere: the flush pushes offline, then forgets)
                local = self.hub.local_channels(org, user_id) if rec.clients else set()
                self._set_channels(rec, local | _remote_channels(rec))
            self._dirty.add(rec)

    def remote_connections(self, org: str, user_id: str) -> int:
        """The user's connections on other nodes, as they last said (within a flush)."""
        rec = self._users.get((org, user_id))
        return 0 if rec is None else sum(count for _, _, count in rec.remote.values())

    def node_gone(self, node: str) -> None:
        """``node`` stopped (killed, or cut off): its users are not connected there."""
        for rec in self._users.values():
            if rec.remote.pop(node, None) is not None:
                self._dirty.add(rec)

    def _unindex(self, rec: _User, channel_id: str) -> None:
        key = (rec.org, channel_id)
        members = self._index.get(key)
        if members is not None:
            members.discard(rec)
            if not members:
                del self._index[key]

    @property
    def index_size(self) -> int:
        return sum(len(v) for v in self._index.values())


#: Channels of one user sent with a presence change to the other nodes, at most.
MAX_SHARED_CHANNELS = 1000


def _remote_channels(rec: _User) -> set[str]:
    out: set[str] = set()
    for _, channels, _ in rec.remote.values():
        out |= channels
    return out


def _entry(user_id: str, status: Status, seen: datetime | None) -> dict[str, Any]:
    return presence_entry(user_id, status.value, seen)
