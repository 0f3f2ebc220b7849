"""Federation (docs/federation.md): an org links a channel to a Matrix room or an XMPP
MUC; remote participants show as remote members and their messages come in through
:meth:`FederationService.receive`, the one way remote content enters Parley (untrusted:
sanitised, capped). What Parley posts in a linked channel leaves through the outbox
(:mod:`parley.domain.relay`); the bridges (``parley.bridges``) speak the networks."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Protocol

from parley.core.claims import Claims
from parley.core.codes import ErrorCode
from parley.core.errors import ClientError
from parley.core.events import Ephemeral
from parley.core.limits import MAX_FILES_PER_MESSAGE
from parley.core.ports import EventSink
from parley.core.records import (
    REMOTE_PREFIXES,
    Attachment,
    Draft,
    FederationLink,
    Network,
    RemoteMember,
)
from parley.domain import access, content, rules
from parley.domain.files import FilesConfig, new_file
from parley.domain.posting import Poster
from parley.store import Store, sql
from parley.store.blobs import BlobStore
from parley.store.errors import Conflict, NotFound

#: The token role that may link channels (besides service tokens).
ADMIN_ROLE = "admin"
#: Longest remote room (id, alias or JID) and display name accepted.
MAX_REMOTE_CHARS = 255
MAX_REMOTE_NAME_CHARS = rules.MAX_DISPLAY_NAME_CHARS
#: Seconds a remote participant's typing holds (Matrix sends the stop too).
TYPING_TTL = 6.0

_MATRIX_ROOM = re.compile(r"[!#][^\s:]{1,200}:[A-Za-z0-9.\-\[\]:]{1,200}")
_JID = re.compile(r"[^\s@/\"&'<>:]{1,200}@[A-Za-z0-9.\-]{1,200}")
_CONTROL = {c for c in map(chr, range(32)) if c not in "\n\t"}


def is_remote(user_id: str) -> bool:
    return user_id.startswith(REMOTE_PREFIXES)


def remote_user_id(network: Network, remote_user: str) -> str:
    return f"{network.value}:{remote_user}"


@dataclass(frozen=True, slots=True)
class MatrixConfig:
    """The application service (docs/federation.md#matrix)."""

    homeserver_url: str
    server_name: str
    as_token: str
    hs_token: str
    #: Where the homeserver reaches Parley's REST API (the registration's ``url``).
    bridge_url: str = "http://127.0.0.1:8080"
    as_id: str = "parley"
    sender_localpart: str = "parley-bridge"
    #: Puppets are ``@{prefix}{org}_{user}:server``.
    puppet_prefix: str = "parley_"


@dataclass(frozen=True, slots=True)
class XmppConfig:
    """The XEP-0114 component (docs/federation.md#xmpp)."""

    host: str
    port: int
    domain: str
    secret: str
    #: Seconds between XEP-0410 self-pings of each joined room.
    ping_interval: float = 60.0


@dataclass(frozen=True, slots=True)
class FederationConfig:
    #: Relayed events per second per link (token bucket) and its burst.
    rate: float = 10.0
    burst: int = 30
    #: Most channel-log events a link's outbox holds; beyond, the oldest are dropped
    #: (counted in the link's ``dropped``).
    outbox_max: int = 10_000
    #: Backoff of a link whose remote side cannot be reached: first delay, cap (seconds).
    retry_first: float = 0.5
    retry_max: float = 30.0
    #: Seconds an idle link waits before looking at its log again (a wake-up is missed
    #: only when its bounded queue is full).
    poll_interval: float = 5.0
    #: Largest file relayed either way.
    max_media_bytes: int = 8 * 1024 * 1024
    matrix: MatrixConfig | None = None
    xmpp: XmppConfig | None = None


# -- what crosses the bridge -----------------------------------------------------------


class OutKind(StrEnum):
    POST = "post"
    EDIT = "edit"
    DELETE = "delete"
    REACT = "react"
    UNREACT = "unreact"


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One thing a bridge relays to the remote room, from one channel-log event."""

    kind: OutKind
    link: FederationLink
    seq: int
    message_id: str
    #: The Parley user it is relayed as (their puppet), and their display name.
    author: str
    display_name: str
    text: str = ""
    #: The remote id of the thread's root (a reply), of the message edited, deleted or
    #: reacted to, or (UNREACT) of the reaction.
    thread_root: str | None = None
    target: str | None = None
    emoji: str | None = None
    attachments: tuple[Attachment, ...] = ()


class RelayError(Exception):
    """A bridge could not relay. ``retry``: try again later (the remote side is down);
    otherwise the remote side refused it for good and it is skipped."""

    def __init__(self, message: str, *, retry: bool = True) -> None:
        super().__init__(message)
        self.retry = retry


class LinkListener(Protocol):
    """Told of links made (or loaded at start) and removed."""

    def linked(self, link: FederationLink) -> None: ...

    def unlinked(self, link: FederationLink) -> None: ...


class Relay(LinkListener, Protocol):
    """One network's bridge, as the outbox sees it."""

    async def relay(self, item: Outgoing) -> str | None:
        """Relay ``item``; return the remote id of what it created (a POST or REACT) to be
        mapped, else ``None``. Must be idempotent per (message, kind): the outbox retries
        after a failure it cannot tell from a success."""
        ...


@dataclass(frozen=True, slots=True)
class RemoteSender:
    remote_user: str  # @bob:example.org, or the occupant JID room@muc/nick
    display_name: str
    origin: str  # the server they come from


class InKind(StrEnum):
    MESSAGE = "message"
    EDIT = "edit"
    DELETE = "delete"
    REACT = "react"
    #: The remote side removed something: a message or a reaction, by its remote id.
    REDACT = "redact"


@dataclass(frozen=True, slots=True)
class Incoming:
    """One remote event, as a bridge parsed it (not yet trusted)."""

    kind: InKind
    remote_id: str
    sender: RemoteSender
    text: str = ""
    #: The remote id of the thread root (or of the message replied to).
    thread_root: str | None = None
    #: The remote id of the message edited, reacted to, or removed.
    target: str | None = None
    emoji: str | None = None
    #: A remote file (Matrix ``mxc://`` URL) to fetch, and its name.
    media_url: str | None = None
    media_name: str = ""
    #: Files fetched for the message: (name, bytes), each within ``max_media_bytes``.
    attachments: tuple[tuple[str, bytes], ...] = field(default=())


# -- untrusted remote content ----------------------------------------------------------


def sanitize_text(text: str) -> str:
    """Remote text as Parley stores it: control characters (but newline and tab) and
    lone surrogates removed, capped at the message size (on a UTF-8 boundary), and an
    unclosed code fence closed, so that it renders as the subset does (never as HTML)."""
    text = "".join(" " if c in _CONTROL else c for c in text)
    text = text.encode("utf-8", "replace").decode("utf-8", "replace") if text else text
    text = unicodedata.normalize("NFC", text.encode("utf-8", "ignore").decode("utf-8"))
    raw = text.encode("utf-8")
    if len(raw) > rules.MAX_TEXT_BYTES - 8:
        text = raw[: rules.MAX_TEXT_BYTES - 8].decode("utf-8", "ignore")
    try:
        content.check_rich_text(text)
    except ClientError:
        text += "\n```"
        try:
            content.check_rich_text(text)
        except ClientError:
            text = text.replace("`", "'")  # a bad fence language: plain text
    return text.strip()


def sanitize_name(name: str, fallback: str) -> str:
    name = "".join(c for c in name if c not in _CONTROL and c != "\n").strip()
    name = name.encode("utf-8", "ignore").decode("utf-8")[:MAX_REMOTE_NAME_CHARS]
    return name or fallback[:MAX_REMOTE_NAME_CHARS]


def check_remote(network: Network, remote: object) -> str:
    if not isinstance(remote, str) or not remote or len(remote) > MAX_REMOTE_CHARS:
        raise rules.bad(f"remote must be a string of 1 to {MAX_REMOTE_CHARS} characters")
    if network is Network.MATRIX and _MATRIX_ROOM.fullmatch(remote) is None:
        raise rules.bad("a Matrix room is a room id (!id:server) or an alias (#alias:server)")
    if network is Network.XMPP and _JID.fullmatch(remote) is None:
        raise rules.bad("an XMPP MUC is a bare JID (room@conference.example.org)")
    return remote.lower() if network is Network.XMPP else remote


def check_network(network: object) -> Network:
    try:
        return Network(network)  # type: ignore[arg-type]
    except ValueError:
        raise rules.bad("network must be one of: matrix, xmpp") from None


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data


def idempotency_key(link_id: str, remote_id: str) -> str:
    """The post's idempotency key for a remote event (a redelivery returns the original)."""
    return "fed_" + hashlib.sha256(f"{link_id}\0{remote_id}".encode()).hexdigest()[:40]


@dataclass(frozen=True, slots=True)
class LinkView:
    links: list[FederationLink]
    remote_members: list[RemoteMember]


class FederationService:
    def __init__(
        self,
        store: Store,
        poster: Poster,
        config: FederationConfig,
        *,
        blobs: BlobStore | None = None,
        files: FilesConfig | None = None,
        sink: EventSink | None = None,
    ) -> None:
        self.store = store
        #: Where remote typing and read receipts are pushed (live only, not stored).
        self.sink = sink
        self.poster = poster
        self.config = config
        #: Where files that come in are kept (the files feature's blob store and quotas).
        self.blobs = blobs
        self.files = files or FilesConfig()
        #: Set by the outbox (parley.domain.relay): told of links made and removed.
        self.on_link: list[LinkListener] = []

    # -- links (REST) --------------------------------------------------------------------

    async def _admin_channel(self, caller: Claims, channel_id: str) -> None:
        """Org admins (role ``admin``) and service tokens link channels of their org; the
        channel must exist in that org: another org's channel is ``not found``."""
        if not rules.is_clean(channel_id):
            raise access.no_channel()
        channel = await self.store.read(sql.channels.get_channel, caller.org, channel_id)
        if channel is None:
            raise access.no_channel()
        if not (caller.is_service or ADMIN_ROLE in caller.roles):
            if not await access.is_member(self.store, caller.org, channel_id, caller.sub):
                raise access.no_channel()
            raise access.forbidden("only org admins link channels to remote rooms")

    async def link(
        self, caller: Claims, channel_id: str, network: object, remote: object
    ) -> FederationLink:
        net = check_network(network)
        room = check_remote(net, remote)
        await self._admin_channel(caller, channel_id)
        configured = self.config.matrix if net is Network.MATRIX else self.config.xmpp
        if configured is None:
            raise ClientError(ErrorCode.CONFLICT, f"no {net.value} bridge is configured")
        room_id = room if net is Network.XMPP or room.startswith("!") else None
        try:
            link = await self.store.write(
                sql.federation.create_link,
                caller.org,
                channel_id,
                net,
                room,
                room_id=room_id,
                actor=caller.sub,
            )
        except NotFound:
            raise access.no_channel() from None
        except Conflict as exc:
            raise ClientError(ErrorCode.CONFLICT, str(exc)) from None
        for listener in self.on_link:
            listener.linked(link)
        return link

    async def links(self, caller: Claims, channel_id: str) -> LinkView:
        """Members (and org admins, service tokens) see a channel's links and its remote
        members."""
        if caller.is_service or ADMIN_ROLE in caller.roles:
            await self._admin_channel(caller, channel_id)
        else:
            await access.membership(self.store, caller.org, caller.sub, channel_id)
        links = await self.store.read(sql.federation.channel_links, caller.org, channel_id)
        members = await self.store.read(sql.federation.remote_members, caller.org, channel_id)
        return LinkView(links, members)

    async def unlink(self, caller: Claims, channel_id: str, network: object | None) -> int:
        net = None if network is None else check_network(network)
        await self._admin_channel(caller, channel_id)
        links = await self.store.read(sql.federation.channel_links, caller.org, channel_id)
        gone = [lk for lk in links if net is None or lk.network is net]
        if not gone:
            raise ClientError(ErrorCode.NOT_FOUND, "the channel has no such link")
        n = await self.store.write(sql.federation.delete_link, caller.org, channel_id, net)
        for lk in gone:
            for listener in self.on_link:
                listener.unlinked(lk)
        return n

    # -- what comes in (the bridges) -------------------------------------------------------

    async def link_for_room(self, network: Network, room: str) -> FederationLink | None:
        if not rules.is_clean(room):
            return None
        return await self.store.read(sql.federation.link_for_room, network, room)

    async def all_links(self) -> list[FederationLink]:
        return await self.store.read(sql.federation.all_links)

    async def transaction_seen(self, network: Network, txn_id: str) -> bool:
        if not rules.is_clean(txn_id):
            return True  # could not be stored: treated as applied (nothing to do)
        return await self.store.read(sql.federation.transaction_seen, network, txn_id)

    async def claim_transaction(self, network: Network, txn_id: str) -> bool:
        return await self.store.write(sql.federation.claim_transaction, network, txn_id)

    async def unclaim_transaction(self, network: Network, txn_id: str) -> None:
        await self.store.write(sql.federation.unclaim_transaction, network, txn_id)

    async def set_room_id(self, link: FederationLink, room_id: str) -> None:
        await self.store.write(sql.federation.set_room_id, link.id, room_id)

    async def receive(self, link: FederationLink, event: Incoming) -> str | None:
        """Apply one remote event to the linked channel; return the message id it made or
        touched (``None``: ignored). Idempotent on the remote id; remote input is never
        trusted (text sanitised and capped, display names cleaned, emoji checked, edits
        and deletes only by the remote author of the message)."""
        if not rules.is_clean(event.remote_id) or len(event.remote_id) > 512:
            return None
        sender = event.sender
        user_id = remote_user_id(link.network, sender.remote_user)
        if not rules.is_clean(user_id) or len(user_id) > 512:
            return None
        name = sanitize_name(sender.display_name, sender.remote_user)
        origin = sanitize_name(sender.origin, "?")
        seen = await self.store.read(sql.federation.remote_event, link.id, event.remote_id)
        if seen is not None:
            return str(seen["message_id"])  # a redelivery (or our own relayed event)
        await self.store.write(
            sql.federation.upsert_member, link, user_id, sender.remote_user, name, origin
        )
        if event.kind is InKind.MESSAGE:
            return await self._post(link, event, user_id)
        target = None
        if event.target is not None and rules.is_clean(event.target):
            target = await self.store.read(sql.federation.remote_event, link.id, event.target)
        if target is None:
            return None  # about something that never crossed this link
        mid = str(target["message_id"])
        org, cid = link.org, link.channel_id
        try:
            if event.kind is InKind.EDIT:
                if target["kind"] != "message" or not await self._authored(link, mid, user_id):
                    return None
                text = sanitize_text(event.text)
                if not text:
                    return None
                await self.store.write(
                    sql.edits.edit_message, org, cid, mid, text=text, actor=user_id
                )
            elif event.kind is InKind.REACT:
                try:
                    emoji = content.check_emoji(event.emoji)
                except ClientError:
                    return None  # not an emoji Parley keeps
                await self.store.write(
                    sql.reactions.set_reaction, org, cid, mid, user_id, emoji, on=True
                )
                await self.store.write(
                    sql.federation.record_event,
                    link.id,
                    org,
                    event.remote_id,
                    mid,
                    direction="in",
                    kind="reaction",
                    actor=user_id,
                    emoji=emoji,
                )
            elif target["kind"] == "reaction":  # REDACT / DELETE of a reaction
                if target["actor"] != user_id:
                    return None
                await self.store.write(
                    sql.reactions.set_reaction, org, cid, mid, user_id, target["emoji"], on=False
                )
                await self.store.write(sql.federation.forget_event, link.id, event.target or "")
            else:  # REDACT / DELETE of a message: its remote author only
                if not await self._authored(link, mid, user_id):
                    return None
                await self.store.write(sql.edits.delete_message, org, cid, mid, actor=user_id)
        except NotFound:
            return None  # the message is gone (deleted here meanwhile)
        return mid

    async def also_known_as(self, link: FederationLink, message_id: str, remote_id: str) -> None:
        """Map a second remote id to a message that came in (XMPP: its stanza id and its
        origin id)."""
        if rules.is_clean(remote_id) and len(remote_id) <= 512:
            await self.store.write(
                sql.federation.record_event,
                link.id,
                link.org,
                remote_id,
                message_id,
                direction="in",
            )

    async def known(self, link: FederationLink, remote_id: str) -> bool:
        if not rules.is_clean(remote_id):
            return False
        found = await self.store.read(sql.federation.remote_event, link.id, remote_id)
        return found is not None

    async def message_remote_id(self, link: FederationLink, message_id: str) -> str | None:
        return await self.store.read(sql.federation.remote_id_of, link.id, message_id)

    async def my_reactions(self, link: FederationLink, message_id: str, user_id: str) -> list[str]:
        """A Parley user's current reactions to a message (XEP-0444 relays the set)."""
        counts = await self.store.read(sql.reactions.reactions, link.org, [message_id], user_id)
        return [r.emoji for r in counts.get(message_id, []) if r.me]

    async def set_reactions(
        self, link: FederationLink, sender: RemoteSender, target: str, emojis: Sequence[str]
    ) -> None:
        """A remote participant's whole set of reactions to a message (XEP-0444): add the
        new ones, take back the ones no longer in it."""
        if not rules.is_clean(target):
            return
        found = await self.store.read(sql.federation.remote_event, link.id, target)
        if found is None or found["kind"] != "message":
            return
        mid = str(found["message_id"])
        user_id = remote_user_id(link.network, sender.remote_user)
        current = await self.store.read(sql.federation.remote_reactions, link.id, mid, user_id)
        wanted: list[str] = []
        for e in emojis[:20]:
            try:
                wanted.append(content.check_emoji(e))
            except ClientError:
                continue
        for e in wanted:
            if e not in current:
                rid = f"r:{sender.remote_user}#{target}#{e}"
                await self.receive(
                    link, Incoming(InKind.REACT, rid, sender, target=target, emoji=e)
                )
        for e, rid in current.items():
            if e not in wanted:
                await self.receive(link, Incoming(InKind.REDACT, "x:" + rid, sender, target=rid))

    async def _authored(self, link: FederationLink, message_id: str, user_id: str) -> bool:
        msg = await self.store.read(sql.messages.get_message, link.org, link.channel_id, message_id)
        return msg is not None and msg.author == user_id

    async def remote_typing(self, link: FederationLink, remote_user: str) -> None:
        """A remote participant is typing: pushed to the channel's members (not stored)."""
        if self.sink is None or not rules.is_clean(remote_user) or len(remote_user) > 512:
            return
        self.sink.publish_channel_ephemeral(
            link.org,
            link.channel_id,
            Ephemeral.TYPING,
            {"user_id": remote_user_id(link.network, remote_user), "expires_in": TYPING_TTL},
        )

    async def remote_read(self, link: FederationLink, remote_user: str, remote_id: str) -> None:
        """A remote participant read up to a message that crossed this link: pushed as a
        read receipt (not stored: remote participants are not members)."""
        if self.sink is None or not rules.is_clean(remote_user) or not rules.is_clean(remote_id):
            return
        found = await self.store.read(sql.federation.remote_event, link.id, remote_id)
        if found is None or found["kind"] != "message":
            return
        msg = await self.store.read(
            sql.messages.get_message, link.org, link.channel_id, str(found["message_id"])
        )
        if msg is None:
            return
        self.sink.publish_channel_ephemeral(
            link.org,
            link.channel_id,
            Ephemeral.READ_RECEIPT,
            {"user_id": remote_user_id(link.network, remote_user), "seq": msg.seq},
        )

    async def read_file(self, att: Attachment) -> bytes | None:
        """A Parley file's bytes for a bridge to relay; ``None`` over ``max_media_bytes``."""
        if self.blobs is None or att.size > self.config.max_media_bytes:
            return None
        out = bytearray()
        async for chunk in self.blobs.read(att.blob_key):
            out += chunk
            if len(out) > self.config.max_media_bytes:
                return None
        return bytes(out)

    async def attachments(self, org: str, file_ids: Sequence[str]) -> list[Attachment]:
        found = []
        for fid in file_ids:
            if rules.is_clean(fid):
                att = await self.store.read(sql.files.get_attachment, org, fid)
                if att is not None:
                    found.append(att)
        return found

    async def _store_files(
        self, link: FederationLink, user_id: str, files: Sequence[tuple[str, bytes]]
    ) -> tuple[str, ...]:
        """Keep remote files as the remote author's uploads to the channel (counted in the
        org's quota), for the post that carries them."""
        if self.blobs is None:
            return ()
        cap = min(self.config.max_media_bytes, self.files.max_upload_bytes)
        kept = []
        for name, data in files[:MAX_FILES_PER_MESSAGE]:
            if 0 < len(data) <= cap:
                kept.append(new_file(name, await self.blobs.put(_one(data), max_bytes=cap)))
        if not kept:
            return ()
        adding = sum(f.size for f in kept)
        org_quota = self.files.org_quota_bytes

        def check(user_bytes: int, org_bytes: int) -> None:
            if org_bytes + adding > org_quota:
                raise ClientError(ErrorCode.QUOTA_EXCEEDED, "the organization's quota is used up")

        try:
            atts = await self.store.write(
                sql.files.insert_attachments,
                link.org,
                link.channel_id,
                user_id,
                kept,
                check_quota=check,
            )
        except ClientError:
            for f in kept:
                await self.blobs.delete(f.blob_key)
            return ()
        return tuple(a.id for a in atts)

    async def _post(self, link: FederationLink, event: Incoming, user_id: str) -> str | None:
        text = sanitize_text(event.text)
        file_ids = await self._store_files(link, user_id, event.attachments)
        if not text and not file_ids:
            return None
        root = None
        if event.thread_root is not None and rules.is_clean(event.thread_root):
            found = await self.store.read(sql.federation.remote_event, link.id, event.thread_root)
            if found is not None and found["kind"] == "message":
                root = str(found["message_id"])
        draft = Draft(
            org=link.org,
            channel_id=link.channel_id,
            author=user_id,
            text=text,
            idempotency_key=idempotency_key(link.id, event.remote_id),
            thread_root=root,
            file_ids=file_ids,
        )
        try:
            result = await self.poster.post(draft, service=True, allow_empty=bool(file_ids))
        except ClientError as exc:
            if exc.code is ErrorCode.NOT_FOUND and root is not None:  # the root is gone
                result = await self.poster.post(
                    replace(draft, thread_root=None), service=True, allow_empty=bool(file_ids)
                )
            else:
                return None
        await self.store.write(
            sql.federation.record_event,
            link.id,
            link.org,
            event.remote_id,
            result.message.id,
            direction="in",
        )
        return result.message.id

    async def record_out(self, item: Outgoing, remote_id: str) -> None:
        """Map what a bridge created for ``item`` (a relayed message or reaction)."""
        await self.store.write(
            sql.federation.record_event,
            item.link.id,
            item.link.org,
            remote_id,
            item.message_id,
            direction="out",
            kind="reaction" if item.kind is OutKind.REACT else "message",
            actor=item.author if item.kind is OutKind.REACT else None,
            emoji=item.emoji if item.kind is OutKind.REACT else None,
        )
