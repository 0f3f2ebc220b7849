"""The federation outbox (docs/federation.md#reliability): what Parley commits in a linked
channel leaves for the remote room in seq order, one worker task per link.

The outbox is persisted as a cursor over the channel log (``relayed_seq`` of the link):
the log already holds every committed post, edit, delete and reaction, so the events
after the cursor are exactly what is still to go, across restarts. The cursor moves only
after the bridge accepted an event (or refused it for good). Committing never waits for
a bridge: the store's commit listener calls :meth:`Outbox.committed`, which only wakes
the link's worker through a bounded queue (``send_nowait``; a full queue already means
"look again"). A relayed message is never relayed back: events by remote authors are
skipped, and what came in is mapped to its remote id."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import trio

from parley.core.events import EventName
from parley.core.ratelimit import TokenBucket
from parley.core.records import ChannelEvent, FederationLink, Network
from parley.domain.federation import (
    FederationConfig,
    FederationService,
    Outgoing,
    OutKind,
    Relay,
    RelayError,
    is_remote,
)
from parley.store import Store, sql

log = logging.getLogger("parley.federation")

#: Log events read per batch.
BATCH = 100


@dataclass
class _Worker:
    link: FederationLink
    wake_send: trio.MemorySendChannel[None]
    wake_recv: trio.MemoryReceiveChannel[None]
    scope: trio.CancelScope = field(default_factory=trio.CancelScope)


@dataclass
class OutboxStats:
    relayed: int = 0
    skipped: int = 0
    dropped: int = 0
    retries: int = 0


class Outbox:
    def __init__(
        self,
        store: Store,
        service: FederationService,
        config: FederationConfig,
        relays: dict[Network, Relay] | None = None,
    ) -> None:
        self.store = store
        self.service = service
        self.config = config
        self.relays: dict[Network, Relay] = dict(relays or {})
        self.stats = OutboxStats()
        self._workers: dict[str, _Worker] = {}
        self._by_channel: dict[tuple[str, str], list[str]] = {}
        self._nursery: trio.Nursery | None = None
        service.on_link.append(self)

    # -- the Relay-listener side: links made and removed ---------------------------------

    def linked(self, link: FederationLink) -> None:
        self._start(link)
        relay = self.relays.get(link.network)
        if relay is not None:
            relay.linked(link)

    def unlinked(self, link: FederationLink) -> None:
        worker = self._workers.pop(link.id, None)
        if worker is not None:
            worker.scope.cancel()
        key = (link.org, link.channel_id)
        ids = [i for i in self._by_channel.get(key, []) if i != link.id]
        if ids:
            self._by_channel[key] = ids
        else:
            self._by_channel.pop(key, None)
        relay = self.relays.get(link.network)
        if relay is not None:
            relay.unlinked(link)

    # -- waking ----------------------------------------------------------------------------

    def committed(self, events: Sequence[ChannelEvent]) -> None:
        """The store's commit listener (synchronous, in commit order): wake the workers
        of linked channels. Never blocks."""
        for ev in events:
            for link_id in self._by_channel.get((ev.org, ev.channel_id), ()):
                self.wake(link_id)

    def wake(self, link_id: str) -> None:
        worker = self._workers.get(link_id)
        if worker is not None:
            # A full queue means already woken: the worker reads the log from its cursor.
            with contextlib.suppress(trio.WouldBlock):
                worker.wake_send.send_nowait(None)

    # -- running ---------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Drain every link until cancelled (the composition root's background task)."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            for link in await self.service.all_links():
                self.linked(link)
            task_status.started()
            await trio.sleep_forever()

    def _start(self, link: FederationLink) -> None:
        if link.id in self._workers or self._nursery is None:
            return
        send, recv = trio.open_memory_channel[None](1)
        worker = _Worker(link, send, recv)
        self._workers[link.id] = worker
        self._by_channel.setdefault((link.org, link.channel_id), []).append(link.id)
        self._nursery.start_soon(self._run_worker, worker)

    async def _run_worker(self, worker: _Worker) -> None:
        with worker.scope:
            await self._drain(worker)

    async def _drain(self, worker: _Worker) -> None:
        cfg = self.config
        bucket = TokenBucket(cfg.rate, cfg.burst, trio.current_time())
        delay = cfg.retry_first
        link = worker.link
        while True:
            fresh = await self.store.read(sql.federation.get_link, link.id)
            if fresh is None:
                return  # unlinked
            link = fresh
            relay = self.relays.get(link.network)
            channel = await self.store.read(sql.channels.get_channel, link.org, link.channel_id)
            if channel is None:
                return
            behind = channel.last_seq - link.relayed_seq
            if behind > cfg.outbox_max:  # bounded: give up on the oldest
                skip_to = channel.last_seq - cfg.outbox_max
                await self.store.write(
                    sql.federation.advance, link.id, skip_to, dropped=skip_to - link.relayed_seq
                )
                self.stats.dropped += skip_to - link.relayed_seq
                log.warning(
                    "federation link %s: outbox over its bound, dropped to %d", link.id, skip_to
                )
                continue
            events = []
            if relay is not None and behind > 0:
                events = await self.store.read(
                    sql.log.events_after, link.org, link.channel_id, link.relayed_seq, limit=BATCH
                )
            if not events:
                with trio.move_on_after(cfg.poll_interval):
                    await worker.wake_recv.receive()
                continue
            assert relay is not None
            for ev in events:
                item = await self.outgoing(link, ev)
                dropped = 0
                if item is None:
                    self.stats.skipped += 1
                else:
                    await trio.sleep(bucket.wait(trio.current_time()))
                    try:
                        remote_id = await relay.relay(item)
                    except Exception as exc:
                        if not isinstance(exc, RelayError):
                            log.exception("federation link %s: relay failed", link.id)
                            exc = RelayError(str(exc) or type(exc).__name__)
                        if exc.retry:
                            self.stats.retries += 1
                            log.info("federation link %s: %s; retrying in %gs", link.id, exc, delay)
                            await trio.sleep(delay)
                            delay = min(delay * 2, cfg.retry_max)
                            break
                        log.warning("federation link %s: seq %d refused: %s", link.id, ev.seq, exc)
                        dropped = 1
                        self.stats.dropped += 1
                    else:
                        delay = cfg.retry_first
                        self.stats.relayed += 1
                        if remote_id is not None:
                            await self.service.record_out(item, remote_id)
                await self.store.write(sql.federation.advance, link.id, ev.seq, dropped=dropped)
                link = replace(link, relayed_seq=ev.seq)

    # -- what one log event becomes --------------------------------------------------------

    async def outgoing(self, link: FederationLink, ev: ChannelEvent) -> Outgoing | None:
        """The relay of one channel-log event, or ``None`` (not relayed: a remote author's
        own event, an event about a message that never crossed, a kind that does not map)."""
        d: dict[str, Any] = ev.data
        if ev.event is EventName.MESSAGE_POSTED:
            author = str(d.get("author", ""))
            files = [str(a.get("id")) for a in d.get("attachments") or [] if isinstance(a, dict)]
            if is_remote(author) or d.get("deleted") or not (d.get("text") or files):
                return None
            root = None
            if d.get("thread_root"):
                root = await self._remote_id(link, str(d["thread_root"]))
            return Outgoing(
                OutKind.POST,
                link,
                ev.seq,
                str(d["id"]),
                author,
                await self._name(link, author),
                text=str(d.get("text") or ""),
                thread_root=root,
                attachments=tuple(await self.service.attachments(link.org, files)),
            )
        if ev.event in (EventName.MESSAGE_EDITED, EventName.MESSAGE_DELETED):
            if is_remote(ev.actor):
                return None
            mid = str(d.get("id", ""))
            target = await self._remote_id(link, mid)
            if target is None:
                return None
            if ev.event is EventName.MESSAGE_EDITED:
                if d.get("deleted") or not d.get("text"):
                    return None
                kind, text = OutKind.EDIT, str(d["text"])
            else:
                kind, text = OutKind.DELETE, ""
            return Outgoing(
                kind,
                link,
                ev.seq,
                mid,
                ev.actor,
                await self._name(link, ev.actor),
                text=text,
                target=target,
            )
        if ev.event in (EventName.REACTION_ADDED, EventName.REACTION_REMOVED):
            user = str(d.get("user_id", ""))
            if is_remote(user):
                return None
            mid = str(d.get("message_id", ""))
            emoji = str(d.get("emoji", ""))
            if ev.event is EventName.REACTION_ADDED:
                target = await self._remote_id(link, mid)
                kind = OutKind.REACT
            else:
                target = await self.store.read(
                    sql.federation.remote_id_of,
                    link.id,
                    mid,
                    kind="reaction",
                    actor=user,
                    emoji=emoji,
                )
                kind = OutKind.UNREACT
            if target is None:
                return None
            return Outgoing(
                kind,
                link,
                ev.seq,
                mid,
                user,
                await self._name(link, user),
                target=target,
                emoji=emoji,
            )
        return None

    async def _remote_id(self, link: FederationLink, message_id: str) -> str | None:
        return await self.store.read(sql.federation.remote_id_of, link.id, message_id)

    async def _name(self, link: FederationLink, user_id: str) -> str:
        profile = await self.store.read(sql.profiles.get_profile, link.org, user_id)
        if profile is not None and profile.display_name:
            return profile.display_name
        return user_id
