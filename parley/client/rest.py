"""The REST API (docs/rest.md) over httpx, with the client's token: history paging and the
calls a chat client needs besides the WebSocket."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx

from parley.client.errors import CommandError
from parley.client.tokens import Tokens


class Rest:
    """``base_url`` is the REST server (``http://127.0.0.1:8080``). A 401 fetches a fresh
    token once (when the token source can) and retries."""

    def __init__(self, base_url: str, tokens: Tokens, *, timeout: float = 10.0) -> None:
        self._tokens = tokens
        self._http = httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=timeout)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> Any:
        """The decoded JSON body (None when empty); a 4xx/5xx raises CommandError."""
        for attempt in (0, 1):
            token = await self._tokens.current(fresh=attempt == 1)
            headers = {"Authorization": f"Bearer {token}"}
            if idempotency_key is not None:
                headers["Idempotency-Key"] = idempotency_key
            r = await self._http.request(method, path, json=json, params=params, headers=headers)
            if r.status_code == 401 and attempt == 0 and self._tokens.refreshable:
                continue
            break
        body = r.json() if r.content else None
        if r.status_code >= 400:
            raise CommandError.from_body(body, status=r.status_code)
        return body

    async def channels(self) -> list[dict[str, Any]]:
        """Every channel of the user (all pages)."""
        out: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            params = {"limit": 200} | ({"cursor": cursor} if cursor else {})
            page = await self.request("GET", "/v1/channels", params=params)
            out.extend(page["items"])
            cursor = page.get("next_cursor")
            if not cursor:
                return out

    async def create_channel(
        self, kind: str, *, name: str | None = None, members: list[str] | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"kind": kind}
        if name is not None:
            body["name"] = name
        if members:
            body["members"] = members
        result: dict[str, Any] = await self.request("POST", "/v1/channels", json=body)
        return result

    async def messages(
        self,
        channel: str,
        *,
        after: int | None = None,
        before: int | None = None,
        limit: int = 50,
    ) -> dict[str, Any]:
        """One page: ``{"items", "next_before", "next_after"}``."""
        params: dict[str, Any] = {"limit": limit}
        if after is not None:
            params["after"] = after
        if before is not None:
            params["before"] = before
        page: dict[str, Any] = await self.request(
            "GET", f"/v1/channels/{channel}/messages", params=params
        )
        return page

    async def history(self, channel: str, *, after: int = 0) -> AsyncIterator[dict[str, Any]]:
        """Every message with ``seq > after``, oldest first, page by page."""
        cursor: int | None = after
        while cursor is not None:
            page = await self.messages(channel, after=cursor, limit=200)
            for item in page["items"]:
                yield item
            cursor = page.get("next_after")
