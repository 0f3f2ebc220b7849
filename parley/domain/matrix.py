"""Matrix as Parley maps it (sans-IO; docs/federation.md#matrix): puppet user ids, the
application-service registration, the event content Parley sends, the remote events it
takes in, and the transactions the homeserver pushes (``PUT
/_matrix/app/v1/transactions/{txnId}``, answered by :class:`MatrixInbound`)."""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

import emoji as emoji_lib
from markdown_it import MarkdownIt

from parley.core.records import Attachment, Network
from parley.domain.federation import (
    FederationService,
    Incoming,
    InKind,
    MatrixConfig,
    Outgoing,
    OutKind,
    RemoteSender,
)

log = logging.getLogger("parley.federation.matrix")

#: Most events one transaction may carry that are looked at (homeservers send up to 100
#: PDUs and 100 EDUs).
MAX_TXN_EVENTS = 1000
_LOCALPART_OK = frozenset("abcdefghijklmnopqrstuvwxyz0123456789.-/")
#: The Markdown subset rendered as ``formatted_body``: CommonMark with raw HTML off
#: (escaped, never passed through) and markdown-it's link check (no javascript: URLs).
_MARKDOWN = MarkdownIt("commonmark", {"html": False})
_MXID = re.compile(r"@([^:]{1,255}):(.{1,255})")


def escape_localpart(s: str) -> str:
    """A Matrix localpart from any string: lowercase letters, digits and ``.-/`` kept,
    everything else (``_`` too, the separator) as ``=xx`` per UTF-8 byte."""
    out = []
    for ch in s:
        if ch in _LOCALPART_OK:
            out.append(ch)
        else:
            out.extend(f"={b:02x}" for b in ch.encode("utf-8"))
    return "".join(out)


def puppet_id(cfg: MatrixConfig, org: str, user_id: str) -> str:
    """``@parley_<org>_<user>:server``, the Matrix user that speaks for a Parley user."""
    return (
        f"@{cfg.puppet_prefix}{escape_localpart(org)}_{escape_localpart(user_id)}:{cfg.server_name}"
    )


def bot_id(cfg: MatrixConfig) -> str:
    return f"@{cfg.sender_localpart}:{cfg.server_name}"


def is_ours(cfg: MatrixConfig, mxid: str) -> bool:
    """A puppet or the bridge's bot: never relayed back (loop prevention)."""
    return mxid == bot_id(cfg) or (
        mxid.startswith(f"@{cfg.puppet_prefix}") and mxid.endswith(f":{cfg.server_name}")
    )


def registration(cfg: MatrixConfig, *, ephemeral: bool = True) -> dict[str, Any]:
    """The application-service registration (YAML for the homeserver's
    ``app_service_config_files``). ``ephemeral``: ask for typing and receipts
    (``receive_ephemeral``, MSC2409)."""
    reg: dict[str, Any] = {
        "id": cfg.as_id,
        "url": cfg.bridge_url,
        "as_token": cfg.as_token,
        "hs_token": cfg.hs_token,
        "sender_localpart": cfg.sender_localpart,
        "rate_limited": False,
        "namespaces": {
            "users": [
                {
                    "exclusive": True,
                    "regex": f"@{re.escape(cfg.puppet_prefix)}.*:{re.escape(cfg.server_name)}",
                }
            ],
            "aliases": [],
            "rooms": [],
        },
    }
    if ephemeral:
        reg["receive_ephemeral"] = True
        reg["de.sorunome.msc2409.push_ephemeral"] = True
    return reg


# -- what Parley sends ------------------------------------------------------------------


def render_html(text: str) -> str:
    return str(_MARKDOWN.render(text)).strip()


def _text_content(text: str) -> dict[str, Any]:
    return {
        "msgtype": "m.text",
        "body": text,
        "format": "org.matrix.custom.html",
        "formatted_body": render_html(text),
    }


def to_unicode(emoji: str) -> str:
    """A Parley reaction as Matrix keys it: a ``:shortcode:`` as its emoji if known."""
    if emoji.startswith(":") and emoji.endswith(":"):
        return str(emoji_lib.emojize(emoji, language="alias"))
    return emoji


def txn_id(item: Outgoing) -> str:
    """Stable across retries (derived from the message id, the kind and the log seq), so
    the homeserver drops a retried send instead of posting it twice."""
    return f"parley.{item.message_id}.{item.kind.value}.{item.seq}"


def event_content(item: Outgoing) -> tuple[str, dict[str, Any]]:
    """The event type and content of a POST, EDIT or REACT."""
    if item.kind is OutKind.REACT:
        assert item.target is not None and item.emoji is not None
        relates = {
            "rel_type": "m.annotation",
            "event_id": item.target,
            "key": to_unicode(item.emoji),
        }
        return "m.reaction", {"m.relates_to": relates}
    if item.kind is OutKind.EDIT:
        assert item.target is not None
        content = _text_content("* " + item.text)
        content["m.new_content"] = _text_content(item.text)
        content["m.relates_to"] = {"rel_type": "m.replace", "event_id": item.target}
        return "m.room.message", content
    content = _text_content(item.text)
    if item.thread_root is not None:
        content["m.relates_to"] = {
            "rel_type": "m.thread",
            "event_id": item.thread_root,
            "is_falling_back": True,
            "m.in_reply_to": {"event_id": item.thread_root},
        }
    return "m.room.message", content


def file_content(att: Attachment, uri: str) -> dict[str, Any]:
    """The event of one relayed file (``m.image`` for images, else ``m.file``)."""
    info: dict[str, Any] = {"mimetype": att.content_type, "size": att.size}
    if att.width is not None and att.height is not None:
        info["w"], info["h"] = att.width, att.height
    kind = "m.image" if att.content_type.startswith("image/") else "m.file"
    return {"msgtype": kind, "body": att.name, "filename": att.name, "url": uri, "info": info}


# -- what comes in ----------------------------------------------------------------------


def _server_of(mxid: str) -> str:
    m = _MXID.fullmatch(mxid)
    return m.group(2) if m else "?"


def _localpart(mxid: str) -> str:
    m = _MXID.fullmatch(mxid)
    return m.group(1) if m else mxid


def parse_event(ev: dict[str, Any], names: dict[str, str]) -> Incoming | None:
    """One room event as Parley takes it, or ``None`` (a kind that does not map). Only
    ``body`` is read, never ``formatted_body``: no remote HTML is rendered."""
    kind = ev.get("type")
    sender = ev.get("sender")
    event_id = ev.get("event_id")
    content = ev.get("content")
    if not (isinstance(sender, str) and isinstance(event_id, str) and isinstance(content, dict)):
        return None
    who = RemoteSender(sender, names.get(sender) or _localpart(sender), _server_of(sender))
    relates = content.get("m.relates_to")
    relates = relates if isinstance(relates, dict) else {}
    if kind == "m.room.redaction":
        target = ev.get("redacts") or content.get("redacts")
        if not isinstance(target, str):
            return None
        return Incoming(InKind.REDACT, event_id, who, target=target)
    if kind == "m.reaction":
        key, target = relates.get("key"), relates.get("event_id")
        if relates.get("rel_type") != "m.annotation" or not isinstance(key, str):
            return None
        if not isinstance(target, str):
            return None
        return Incoming(InKind.REACT, event_id, who, target=target, emoji=key)
    if kind != "m.room.message":
        return None
    msgtype = content.get("msgtype")
    if relates.get("rel_type") == "m.replace":
        new = content.get("m.new_content")
        target = relates.get("event_id")
        if not isinstance(new, dict) or not isinstance(target, str):
            return None
        body = new.get("body")
        if not isinstance(body, str):
            return None
        return Incoming(InKind.EDIT, event_id, who, text=body, target=target)
    body = content.get("body")
    if not isinstance(body, str):
        return None
    if msgtype == "m.emote":
        body = f"_{who.display_name} {body}_"
    elif msgtype in ("m.file", "m.image", "m.video", "m.audio"):
        url = content.get("url")
        name = content.get("filename") if isinstance(content.get("filename"), str) else body
        caption = "" if name == body else body
        if isinstance(url, str) and url.startswith("mxc://"):
            return Incoming(
                InKind.MESSAGE,
                event_id,
                who,
                text=caption,
                media_url=url,
                media_name=str(name),
                thread_root=_root(relates),
            )
        body = f"[{msgtype[2:]}: {body}]"  # no file to fetch (encrypted): the name
    elif msgtype not in ("m.text", "m.notice"):
        return None
    root = _root(relates)
    if root is not None and relates.get("rel_type") != "m.thread":
        body = _strip_reply_fallback(body)
    return Incoming(InKind.MESSAGE, event_id, who, text=body, thread_root=root)


def _root(relates: dict[str, Any]) -> str | None:
    """A thread's root, or the message a reply answers (it goes into that thread)."""
    if relates.get("rel_type") == "m.thread" and isinstance(relates.get("event_id"), str):
        return str(relates["event_id"])
    reply = relates.get("m.in_reply_to")
    if isinstance(reply, dict) and isinstance(reply.get("event_id"), str):
        return str(reply["event_id"])
    return None


def _strip_reply_fallback(body: str) -> str:
    """Replies quote the original as ``> ...`` lines first; Parley shows the thread."""
    lines = body.split("\n")
    i = 0
    while i < len(lines) and lines[i].startswith(">"):
        i += 1
    if i and i < len(lines) and not lines[i].strip():
        i += 1
    return "\n".join(lines[i:]) if i < len(lines) else body


class HsTokenError(Exception):
    """The homeserver's token is missing (``unauthorized``) or wrong."""

    def __init__(self, missing: bool) -> None:
        super().__init__("missing hs_token" if missing else "bad hs_token")
        self.missing = missing


@dataclass
class MatrixInbound:
    """Applies the transactions the homeserver pushes. Idempotent on the transaction id
    (kept in the store) and on each event id (the remote id map)."""

    service: FederationService
    config: MatrixConfig
    #: Display names seen in ``m.room.member`` events, by Matrix user id (bounded).
    names: dict[str, str] = field(default_factory=dict)
    #: Ephemeral events seen (typing, receipts): counted, not mapped (docs/federation.md).
    ephemeral_seen: int = 0
    #: Fetches a remote file (``mxc://`` URL) within the media cap; set by the bridge.
    fetch_media: Callable[[str], Awaitable[bytes | None]] | None = None

    def check_token(self, token: str | None) -> None:
        if not token:
            raise HsTokenError(missing=True)
        if not hmac.compare_digest(token.encode(), self.config.hs_token.encode()):
            raise HsTokenError(missing=False)

    def is_puppet(self, mxid: str) -> bool:
        return is_ours(self.config, mxid) and mxid != bot_id(self.config)

    async def transaction(self, txn_id: str, body: object, raw: bytes = b"") -> None:
        """Apply a transaction once. It is known by its id and a digest of its body: a
        homeserver that restarted may count its ids again (Synapse does), and events are
        deduplicated by their ids anyway, so only a true redelivery is skipped."""
        txn_id = f"{txn_id[:200]}:{hashlib.sha256(raw).hexdigest()[:32]}"
        if await self.service.transaction_seen(Network.MATRIX, txn_id):
            return  # a redelivery: applied already
        events = body.get("events") if isinstance(body, dict) else None
        if isinstance(events, list):
            for ev in events[:MAX_TXN_EVENTS]:
                if isinstance(ev, dict):
                    await self._event(ev)
        if isinstance(body, dict):
            for key in ("ephemeral", "de.sorunome.msc2409.ephemeral"):
                eph = body.get(key)
                if isinstance(eph, list):
                    for ev in eph[:MAX_TXN_EVENTS]:
                        if isinstance(ev, dict):
                            self.ephemeral_seen += 1
                            await self._ephemeral(ev)
        await self.service.claim_transaction(Network.MATRIX, txn_id)

    async def _ephemeral(self, ev: dict[str, Any]) -> None:
        """Typing (``m.typing``) and read receipts (``m.receipt``) in linked rooms, pushed
        live to the channel (MSC2409 puts the ``room_id`` on each)."""
        room, content = ev.get("room_id"), ev.get("content")
        if not isinstance(room, str) or not isinstance(content, dict):
            return
        kind = ev.get("type")
        if kind not in ("m.typing", "m.receipt"):
            return
        link = await self.service.link_for_room(Network.MATRIX, room)
        if link is None:
            return
        if kind == "m.typing":
            users = content.get("user_ids")
            for user in users[:50] if isinstance(users, list) else []:
                if isinstance(user, str) and not is_ours(self.config, user):
                    await self.service.remote_typing(link, user)
            return
        for event_id, receipts in list(content.items())[:50]:
            read = receipts.get("m.read") if isinstance(receipts, dict) else None
            if isinstance(event_id, str) and isinstance(read, dict):
                for user in list(read)[:50]:
                    if isinstance(user, str) and not is_ours(self.config, user):
                        await self.service.remote_read(link, user, event_id)

    async def _event(self, ev: dict[str, Any]) -> None:
        room = ev.get("room_id")
        sender = ev.get("sender")
        if not isinstance(room, str) or not isinstance(sender, str):
            return
        if is_ours(self.config, sender):
            return  # our own puppets' and bot's events: never relayed back
        if ev.get("type") == "m.room.member":
            content = ev.get("content")
            name = content.get("displayname") if isinstance(content, dict) else None
            if isinstance(name, str) and name:
                if len(self.names) > 10_000:
                    self.names.clear()
                self.names[sender] = name
            return
        link = await self.service.link_for_room(Network.MATRIX, room)
        if link is None:
            return  # not a linked room: nothing enters Parley
        incoming = parse_event(ev, self.names)
        if incoming is None:
            return
        if incoming.media_url is not None:
            if await self.service.known(link, incoming.remote_id):
                return  # applied already: do not fetch the file again
            data = None if self.fetch_media is None else await self.fetch_media(incoming.media_url)
            if data is None:  # too large or unreachable: the name only
                incoming = replace(incoming, text=incoming.text or f"[file: {incoming.media_name}]")
            else:
                incoming = replace(incoming, attachments=((incoming.media_name, data),))
        await self.service.receive(link, incoming)
