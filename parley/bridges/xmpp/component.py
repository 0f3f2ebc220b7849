"""The XMPP bridge's trio adapter: a XEP-0114 component connection to the XMPP server
that joins each linked MUC as the bridge's bot (which takes in what remote occupants
write) and as one occupant per Parley user (which speaks for them), and relays what the
outbox hands it. A relayed message counts as delivered when the room reflects it back
(XEP-0045 reflects every groupchat message to its sender), so a message sent into a
dying connection is retried. It reconnects and rejoins after the server restarts, and
pings its own occupants (XEP-0410) to notice a room that dropped it."""

from __future__ import annotations

import contextlib
import itertools
import logging
from dataclasses import dataclass, field
from xml.etree.ElementTree import Element

import trio

from parley.bridges.xmpp import mapping
from parley.bridges.xmpp.stream import (
    Stanza,
    StreamClosed,
    StreamError,
    StreamOpened,
    XmlStream,
    handshake,
    local,
    open_stream,
    serialize,
)
from parley.core.records import FederationLink, Network
from parley.domain.federation import (
    FederationService,
    Incoming,
    InKind,
    Outgoing,
    OutKind,
    RelayError,
    RemoteSender,
    XmppConfig,
)

log = logging.getLogger("parley.federation.xmpp")

#: Seconds to connect and handshake, to join a room, and to see a message reflected.
CONNECT_TIMEOUT = 10.0
JOIN_TIMEOUT = 10.0
REFLECT_TIMEOUT = 10.0
RECONNECT_FIRST = 0.5
RECONNECT_MAX = 30.0


@dataclass
class _Room:
    link: FederationLink
    #: Our nicks in the room by puppet JID (the bot's too): their messages are ours.
    nicks: dict[str, str] = field(default_factory=dict)


class XmppBridge:
    """The outbox's :class:`~parley.domain.federation.Relay` for XMPP links."""

    def __init__(self, config: XmppConfig, service: FederationService) -> None:
        self.config = config
        self.service = service
        self.bot = mapping.bot_jid(config.domain)
        self._rooms: dict[str, _Room] = {}
        self._stream: trio.SocketStream | None = None
        self._send_lock = trio.Lock()
        self._waiters: dict[tuple[str, str], tuple[trio.Event, list[Element]]] = {}
        self._ids = itertools.count(1)
        self._connected = trio.Event()
        self._nursery: trio.Nursery | None = None
        #: Connections made (the first, then each reconnect).
        self.connections = 0

    # -- running ---------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            task_status.started()
            delay = RECONNECT_FIRST
            while True:
                try:
                    await self._session()
                    delay = RECONNECT_FIRST
                except Exception as exc:  # the bridge never takes the server down
                    if _connection_lost(exc):
                        log.info(
                            "xmpp: connection lost (%s); reconnecting in %gs", _reason(exc), delay
                        )
                    else:
                        log.exception("xmpp: the component failed; reconnecting in %gs", delay)
                finally:
                    self._disconnected()
                await trio.sleep(delay)
                delay = min(delay * 2, RECONNECT_MAX)

    def _disconnected(self) -> None:
        self._stream = None
        self._connected = trio.Event()
        for room in self._rooms.values():
            room.nicks.clear()  # rejoin everything on the next connection
        for event, _ in self._waiters.values():
            event.set()  # wake them: they see no reply and fail
        self._waiters.clear()

    async def _session(self) -> None:
        cfg = self.config
        parser = XmlStream()
        with trio.fail_after(CONNECT_TIMEOUT):
            stream = await trio.open_tcp_stream(cfg.host, cfg.port)
        try:
            with trio.fail_after(CONNECT_TIMEOUT):
                await stream.send_all(open_stream(cfg.domain))
                stream_id = None
                while stream_id is None:
                    for ev in parser.feed(await self._receive(stream)):
                        if isinstance(ev, StreamOpened):
                            stream_id = ev.attrs.get("id", "")
                await stream.send_all(handshake(stream_id, cfg.secret))
                ok = False
                while not ok:
                    for ev in parser.feed(await self._receive(stream)):
                        if isinstance(ev, Stanza) and ev.tag == "handshake":
                            ok = True
                        elif isinstance(ev, Stanza | StreamClosed):
                            raise StreamError("the server refused the component handshake")
            self._stream = stream
            self.connections += 1
            self._connected.set()
            log.info("xmpp: component %s connected", cfg.domain)
            async with trio.open_nursery() as nursery:
                for room in list(self._rooms.values()):
                    nursery.start_soon(self._join_bot, room)
                nursery.start_soon(self._pinger)
                while True:
                    for ev in parser.feed(await self._receive(stream)):
                        if isinstance(ev, StreamClosed):
                            raise trio.BrokenResourceError("stream closed by the server")
                        if isinstance(ev, Stanza):
                            await self._dispatch(ev.element)
        finally:
            with trio.move_on_after(1):
                await stream.aclose()

    @staticmethod
    async def _receive(stream: trio.SocketStream) -> bytes:
        data = await stream.receive_some(65536)
        if not data:
            raise trio.BrokenResourceError("connection closed")
        return data

    async def _send(self, stanza: Element) -> None:
        stream = self._stream
        if stream is None:
            raise RelayError("not connected to the XMPP server")
        async with self._send_lock:
            try:
                await stream.send_all(serialize(stanza))
            except (OSError, trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                raise RelayError(f"XMPP connection lost: {type(exc).__name__}") from exc

    async def _request(self, stanza: Element, key: tuple[str, str], wait: float) -> Element:
        """Send and wait for the stanza matching ``key`` (kind, id or occupant)."""
        event = trio.Event()
        box: list[Element] = []
        self._waiters[key] = (event, box)
        try:
            await self._send(stanza)
            with trio.move_on_after(wait):
                await event.wait()
        finally:
            self._waiters.pop(key, None)
        if not box:
            raise RelayError(f"no answer from the XMPP server to {key[0]}")
        return box[0]

    def _answer(self, key: tuple[str, str], stanza: Element) -> bool:
        waiter = self._waiters.get(key)
        if waiter is None:
            return False
        waiter[1].append(stanza)
        waiter[0].set()
        return True

    # -- links and rooms -------------------------------------------------------------------

    def linked(self, link: FederationLink) -> None:
        if link.network is not Network.XMPP:
            return
        room = _Room(link)
        self._rooms[link.remote] = room
        if self._nursery is not None and self._stream is not None:
            self._nursery.start_soon(self._join_bot, room)

    def unlinked(self, link: FederationLink) -> None:
        room = self._rooms.pop(link.remote, None)
        if room is not None and self._nursery is not None and self._stream is not None:
            for jid, nick in room.nicks.items():
                self._nursery.start_soon(self._send_quietly, mapping.leave(jid, link.remote, nick))

    async def _send_quietly(self, stanza: Element) -> None:
        with contextlib.suppress(RelayError):
            await self._send(stanza)

    async def _join_bot(self, room: _Room) -> None:
        try:
            await self._join(room, self.bot, "Parley")
        except RelayError as exc:
            log.warning("xmpp: the bridge cannot join %s: %s", room.link.remote, exc)

    async def _join(self, room: _Room, jid: str, name: str) -> None:
        if jid in room.nicks:
            return
        muc = room.link.remote
        nick = mapping.nick_for(name)
        for attempt in range(3):
            reply = await self._request(
                mapping.join(jid, muc, nick), ("presence", f"{jid}|{muc}/{nick}"), JOIN_TIMEOUT
            )
            if reply.get("type") == "error":
                if mapping.error_condition(reply) == "conflict" and attempt < 2:
                    nick = mapping.nick_for(f"{name} ({jid.split('@')[0][-6:]}{attempt})")
                    continue
                raise RelayError(
                    f"cannot join {muc}: {mapping.error_condition(reply)}", retry=False
                )
            _, created = mapping.is_self_presence(reply)
            if created:
                iq_id = f"cfg{next(self._ids)}"
                await self._request(
                    mapping.configure_room(jid, muc, iq_id), ("iq", iq_id), JOIN_TIMEOUT
                )
            room.nicks[jid] = nick
            return

    async def _pinger(self) -> None:
        """XEP-0410: each room's bot pings its own occupant; dropped -> rejoin."""
        while True:
            await trio.sleep(self.config.ping_interval)
            for room in list(self._rooms.values()):
                nick = room.nicks.get(self.bot)
                if nick is None:
                    await self._join_bot(room)
                    continue
                iq_id = f"ping{next(self._ids)}"
                ping = mapping.self_ping(self.bot, f"{room.link.remote}/{nick}", iq_id)
                try:
                    reply = await self._request(ping, ("iq", iq_id), JOIN_TIMEOUT)
                except RelayError:
                    continue
                cond = mapping.error_condition(reply) if reply.get("type") == "error" else None
                if cond not in (None, "service-unavailable", "feature-not-implemented"):
                    log.info("xmpp: dropped from %s (%s): rejoining", room.link.remote, cond)
                    room.nicks.clear()
                    await self._join_bot(room)

    # -- what comes in -----------------------------------------------------------------------

    async def _dispatch(self, stanza: Element) -> None:
        kind = local(stanza.tag)
        frm = stanza.get("from", "")
        if kind == "presence":
            self._answer(("presence", f"{stanza.get('to', '')}|{frm}"), stanza)
            return
        if kind == "iq":
            if stanza.get("type") in ("result", "error"):
                self._answer(("iq", stanza.get("id", "")), stanza)
            elif stanza.get("type") in ("get", "set"):
                await self._iq_error(stanza)
            return
        if kind != "message":
            return
        room = self._rooms.get(mapping.bare(frm))
        if room is None:
            return
        to = stanza.get("to", "")
        nick = mapping.resource(frm)
        if nick in room.nicks.values():  # ours, reflected: an acknowledgement, never relayed
            self._answer(("message", f"{to}|{stanza.get('id', '')}"), stanza)
            return
        if to != self.bot:
            return  # each occupant gets a copy; the bot's is the one taken in
        parsed = mapping.parse_groupchat(stanza)
        if parsed is None:
            return
        try:
            await self._take_in(room.link, parsed)
        except Exception:
            log.exception("xmpp: could not take in a message from %s", frm)

    async def _take_in(self, link: FederationLink, g: mapping.Groupchat) -> None:
        if g.reactions is not None and g.reaction_target:
            target = await self._resolve(link, g.occupant, g.reaction_target)
            who = RemoteSender(g.occupant, mapping.resource(g.occupant), g.room.split("@")[-1])
            await self.service.set_reactions(link, who, target, g.reactions)
            return
        inc = g.incoming
        if inc is None:
            return
        if inc.kind is InKind.REDACT and inc.target is not None:
            target = await self._resolve(link, g.occupant, inc.target)
            inc = Incoming(inc.kind, inc.remote_id, inc.sender, target=target)
        elif inc.kind is InKind.MESSAGE and inc.thread_root is not None:
            root = await self._resolve(link, g.occupant, inc.thread_root)
            inc = Incoming(inc.kind, inc.remote_id, inc.sender, text=inc.text, thread_root=root)
        mid = await self.service.receive(link, inc)
        if mid is not None and inc.kind is InKind.MESSAGE and g.stanza_id and g.id:
            await self.service.also_known_as(link, mid, f"o:{g.occupant}#{g.id}")

    async def _resolve(self, link: FederationLink, occupant: str, raw: str) -> str:
        """A retraction or reaction names a stanza id (groupchat) or an origin id."""
        if await self.service.known(link, f"s:{raw}"):
            return f"s:{raw}"
        for candidate in (f"o:{occupant}#{raw}", f"o:{mapping.bare(occupant)}#{raw}"):
            if await self.service.known(link, candidate):
                return candidate
        # Parley's own messages, by their origin id, from any of our occupants.
        for room in self._rooms.values():
            if room.link.id == link.id:
                for nick in room.nicks.values():
                    candidate = f"o:{link.remote}/{nick}#{raw}"
                    if await self.service.known(link, candidate):
                        return candidate
        return f"s:{raw}"

    async def _iq_error(self, iq: Element) -> None:
        reply = Element(
            "iq",
            {
                "from": iq.get("to", ""),
                "to": iq.get("from", ""),
                "type": "error",
                "id": iq.get("id", ""),
            },
        )
        err = Element("error", {"type": "cancel"})
        err.append(Element("service-unavailable", {"xmlns": mapping.STANZAS}))
        reply.append(err)
        await self._send_quietly(reply)

    # -- the Relay ---------------------------------------------------------------------------

    async def relay(self, item: Outgoing) -> str | None:
        room = self._rooms.get(item.link.remote)
        if room is None:
            room = _Room(item.link)
            self._rooms[item.link.remote] = room
        if self._stream is None:
            raise RelayError("not connected to the XMPP server")
        jid = mapping.puppet_jid(self.config.domain, item.link.org, item.author)
        await self._join(room, jid, item.display_name)
        target = None
        reactions: list[str] = []
        if item.kind in (OutKind.REACT, OutKind.UNREACT):
            target = await self.service.message_remote_id(item.link, item.message_id)
            if target is None:
                return None
            reactions = await self.service.my_reactions(item.link, item.message_id, item.author)
        stanza = mapping.outgoing(item, jid, item.link.remote, reactions, target)
        sid = stanza.get("id", "")
        echo = await self._request(stanza, ("message", f"{jid}|{sid}"), REFLECT_TIMEOUT)
        if item.kind is OutKind.POST:
            for el in echo:
                if local(el.tag) == "stanza-id" and el.get("by") == item.link.remote:
                    return f"s:{el.get('id')}"
            return f"o:{item.link.remote}/{room.nicks[jid]}#{sid}"
        if item.kind is OutKind.REACT:
            return f"r:{jid}#{target}#{item.emoji}"
        return None


_LOST = (
    OSError,
    trio.BrokenResourceError,
    trio.ClosedResourceError,
    StreamError,
    trio.TooSlowError,
)


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    return [exc]


def _connection_lost(exc: BaseException) -> bool:
    return all(isinstance(leaf, _LOST) for leaf in _leaves(exc))


def _reason(exc: BaseException) -> str:
    leaf = _leaves(exc)[0]
    return f"{type(leaf).__name__}: {leaf}"
