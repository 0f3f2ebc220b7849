"""The Matrix bridge's client side: puppets Parley users on the homeserver and sends what
the outbox relays, over the Client-Server API v3 as the application service (httpx, run
by trio through anyio). What comes in arrives as transactions (``parley.api.matrix``)."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

import httpx
import trio

from parley.core.records import Attachment, FederationLink
from parley.domain.federation import FederationService, MatrixConfig, Outgoing, OutKind, RelayError
from parley.domain.matrix import bot_id, event_content, file_content, puppet_id, txn_id

log = logging.getLogger("parley.federation.matrix")

CLIENT = "/_matrix/client/v3"
#: Seconds one request to the homeserver may take.
TIMEOUT = 20.0


def _q(s: str) -> str:
    return quote(s, safe="")


class MatrixBridge:
    """The outbox's :class:`~parley.domain.federation.Relay` for Matrix links."""

    def __init__(self, config: MatrixConfig, service: FederationService) -> None:
        self.config = config
        self.service = service
        self._client: httpx.AsyncClient | None = None
        self._registered: set[str] = set()
        self._joined: set[tuple[str, str]] = set()
        self._names: dict[str, str] = {}
        self._join_send, self._join_recv = trio.open_memory_channel[FederationLink](1000)
        self.ready = trio.Event()

    # -- running ---------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        headers = {"Authorization": f"Bearer {self.config.as_token}"}
        async with httpx.AsyncClient(
            base_url=self.config.homeserver_url, headers=headers, timeout=TIMEOUT
        ) as client:
            self._client = client
            task_status.started()
            async for link in self._join_recv:
                await self._join_with_retry(link)

    def linked(self, link: FederationLink) -> None:
        try:
            self._join_send.send_nowait(link)
        except trio.WouldBlock:
            log.warning(
                "matrix: too many rooms to join at once; %s joins at its first send", link.remote
            )

    def unlinked(self, link: FederationLink) -> None:
        self._joined = {(u, r) for (u, r) in self._joined if r != link.room_id}

    async def _join_with_retry(self, link: FederationLink) -> None:
        delay = 0.5
        for _ in range(8):
            try:
                await self._room_of(link)
                return
            except RelayError as exc:
                if not exc.retry:
                    log.warning("matrix: cannot join %s: %s", link.remote, exc)
                    return
                await trio.sleep(delay)
                delay = min(delay * 2, 30.0)

    # -- the homeserver ----------------------------------------------------------------------

    async def _call(
        self,
        method: str,
        path: str,
        *,
        json: dict[str, Any] | None = None,
        user_id: str | None = None,
        ok: tuple[str, ...] = (),
    ) -> dict[str, Any]:
        """One request; transport errors, 429 and 5xx are retryable RelayErrors, other
        errors final ones (unless their errcode is in ``ok``)."""
        if self._client is None:
            raise RelayError("the Matrix bridge is not running")
        params = {"user_id": user_id} if user_id is not None else None
        try:
            resp = await self._client.request(method, path, json=json, params=params)
        except httpx.HTTPError as exc:
            raise RelayError(f"homeserver unreachable: {type(exc).__name__}") from exc
        try:
            body = resp.json()
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        if resp.status_code < 300:
            return body
        errcode = str(body.get("errcode", ""))
        if errcode in ok:
            return body
        message = f"{method} {path.split('?')[0]}: {resp.status_code} {errcode}"
        raise RelayError(message, retry=resp.status_code == 429 or resp.status_code >= 500)

    async def _register(self, mxid: str, display_name: str | None) -> None:
        if mxid not in self._registered:
            localpart = mxid[1:].split(":", 1)[0]
            await self._call(
                "POST",
                f"{CLIENT}/register",
                json={"type": "m.login.application_service", "username": localpart},
                ok=("M_USER_IN_USE",),
            )
            self._registered.add(mxid)
        if display_name is not None and self._names.get(mxid) != display_name:
            await self._call(
                "PUT",
                f"{CLIENT}/profile/{_q(mxid)}/displayname",
                json={"displayname": display_name},
                user_id=mxid,
            )
            self._names[mxid] = display_name

    async def _room_of(self, link: FederationLink) -> str:
        """The room id (resolving an alias once, kept on the link); the bot joined."""
        room = link.room_id
        if room is None:
            fresh = await self.service.link_for_room(link.network, link.remote)
            room = None if fresh is None else fresh.room_id
        if room is None:
            found = await self._call("GET", f"{CLIENT}/directory/room/{_q(link.remote)}")
            room = found.get("room_id")
            if not isinstance(room, str):
                raise RelayError(f"alias {link.remote} has no room", retry=False)
            await self.service.set_room_id(link, room)
        bot = bot_id(self.config)
        if (bot, room) not in self._joined:
            await self._register(bot, None)
            await self._call("POST", f"{CLIENT}/join/{_q(room)}", json={})
            self._joined.add((bot, room))
        return room

    async def _join(self, mxid: str, room: str) -> None:
        if (mxid, room) in self._joined:
            return
        try:
            await self._call("POST", f"{CLIENT}/join/{_q(room)}", json={}, user_id=mxid)
        except RelayError as exc:
            if exc.retry:
                raise
            # An invite-only room: the bot (joined) invites the puppet, which joins then.
            await self._call(
                "POST",
                f"{CLIENT}/rooms/{_q(room)}/invite",
                json={"user_id": mxid},
                ok=("M_FORBIDDEN",),
            )
            await self._call("POST", f"{CLIENT}/join/{_q(room)}", json={}, user_id=mxid)
        self._joined.add((mxid, room))

    # -- media -------------------------------------------------------------------------------

    async def fetch_media(self, mxc: str) -> bytes | None:
        """A remote file's bytes (authenticated media, then the legacy endpoint), or
        ``None`` when it is over ``max_media_bytes`` or cannot be had."""
        if self._client is None or not mxc.startswith("mxc://"):
            return None
        server, _, media_id = mxc[len("mxc://") :].partition("/")
        if not server or not media_id or "/" in media_id:
            return None
        cap = self.service.config.max_media_bytes
        for path in (
            f"/_matrix/client/v1/media/download/{_q(server)}/{_q(media_id)}",
            f"/_matrix/media/v3/download/{_q(server)}/{_q(media_id)}",
        ):
            try:
                async with self._client.stream("GET", path) as resp:
                    if resp.status_code != 200:
                        continue
                    out = bytearray()
                    async for chunk in resp.aiter_bytes():
                        out += chunk
                        if len(out) > cap:
                            return None
                    return bytes(out)
            except httpx.HTTPError:
                return None
        return None

    async def _upload(self, puppet: str, att: Attachment, data: bytes) -> str:
        if self._client is None:
            raise RelayError("the Matrix bridge is not running")
        try:
            resp = await self._client.post(
                "/_matrix/media/v3/upload",
                params={"filename": att.name, "user_id": puppet},
                content=data,
                headers={"Content-Type": att.content_type},
            )
        except httpx.HTTPError as exc:
            raise RelayError(f"homeserver unreachable: {type(exc).__name__}") from exc
        if resp.status_code >= 300:
            retry = resp.status_code == 429 or resp.status_code >= 500
            raise RelayError(f"media upload: {resp.status_code}", retry=retry)
        uri = resp.json().get("content_uri")
        if not isinstance(uri, str):
            raise RelayError("media upload: no content_uri", retry=False)
        return uri

    async def _send_files(self, item: Outgoing, room: str, puppet: str) -> str | None:
        """Each file of a post as its own event (``m.image`` / ``m.file``); the first
        event id."""
        first = None
        for i, att in enumerate(item.attachments):
            data = await self.service.read_file(att)
            if data is None:
                continue  # over the media cap: not relayed
            content = file_content(att, await self._upload(puppet, att, data))
            txn = _q(f"{txn_id(item)}.file{i}")
            sent = await self._call(
                "PUT",
                f"{CLIENT}/rooms/{_q(room)}/send/m.room.message/{txn}",
                json=content,
                user_id=puppet,
            )
            if first is None and isinstance(sent.get("event_id"), str):
                first = str(sent["event_id"])
        return first

    # -- the Relay -----------------------------------------------------------------------------

    async def relay(self, item: Outgoing) -> str | None:
        link = item.link
        room = await self._room_of(link)
        puppet = puppet_id(self.config, link.org, item.author)
        await self._register(puppet, item.display_name)
        await self._join(puppet, room)
        txn = _q(txn_id(item))
        if item.kind in (OutKind.DELETE, OutKind.UNREACT):
            assert item.target is not None
            await self._call(
                "PUT",
                f"{CLIENT}/rooms/{_q(room)}/redact/{_q(item.target)}/{txn}",
                json={},
                user_id=puppet,
            )
            return None
        first = None
        if item.kind is OutKind.POST and item.attachments:
            first = await self._send_files(item, room, puppet)
            if not item.text:
                return first
        kind, content = event_content(item)
        sent = await self._call(
            "PUT", f"{CLIENT}/rooms/{_q(room)}/send/{kind}/{txn}", json=content, user_id=puppet
        )
        event_id = sent.get("event_id")
        if item.kind is OutKind.EDIT or not isinstance(event_id, str):
            return None
        return first or event_id
