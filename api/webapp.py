"""The web chat app at ``/app``: static files shipped in the package (``webapp_static/``,
built from clients/web), the small config it boots from, and the dev-only "sign in as".

``/`` redirects to ``/app``. Nothing here needs a token: the page signs in itself and then
talks to ``/v1`` and the broker like any client (docs/clients.md, "Web app").
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import trio
from quart import Quart, Response, redirect, request
from quart_schema import hide

from parley.core.codes import ErrorCode
from parley.core.errors import ClientError
from parley.domain.rules import is_clean

STATIC = Path(__file__).parent / "webapp_static"
#: The files the app is made of, and their types (anything else under /app is 404).
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".map": "application/json",
}
#: The page loads only its own files; it talks to this origin and the broker (another port
#: of the same host, or ``/ws`` behind a proxy); images may be link previews from anywhere.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data: blob: https: http:; connect-src 'self' ws: wss:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
ORG = re.compile(r"[A-Za-z0-9_-]{1,64}")
MAX_USER = 128
#: Lifetime of a dev sign-in token (seconds).
DEV_TOKEN_TTL = 12 * 3600

#: Signs a token for ``(sub, org)`` with the server's generated secret.
Signer = Callable[[str, str], str]


@dataclass
class WebAppConfig:
    """What the app is told at boot. ``ws_port`` is set by the composition root once the
    broker listens. ``dev_sign_in`` is only given when the server runs with the secret it
    generated itself (no ``PARLEY_JWT_SECRET``, no public key): a development server."""

    ws_port: int = 8765
    http_port: int = 8080
    meeting_url_template: str = ""
    dev_sign_in: Signer | None = None


def ws_url(config: WebAppConfig) -> str:
    """The broker URL for the page that asked: the broker port of the same host name when
    the page came straight to the REST port, else ``/ws`` of the same origin (a proxy
    serves both under one name, docs/deploy.md)."""
    secure = request.scheme in ("https", "wss")
    scheme = "wss" if secure else "ws"
    host = request.host or f"127.0.0.1:{config.http_port}"
    try:
        parts = urlsplit(f"//{host}")
        port = parts.port
        name = parts.hostname or "127.0.0.1"
    except ValueError:
        return f"{scheme}://{host}/ws"
    if port == config.http_port:
        shown = f"[{name}]" if ":" in name else name
        return f"{scheme}://{shown}:{config.ws_port}/ws"
    return f"{scheme}://{host}/ws"


def _loopback(addr: str | None) -> bool:
    try:
        return addr is not None and ipaddress.ip_address(addr.split("%")[0]).is_loopback
    except ValueError:
        return False


def install_webapp(app: Quart, config: WebAppConfig) -> None:
    """``/`` -> ``/app``; ``/app`` (the page), ``/app/<file>``, ``/app/config`` and, on a
    development server only, ``POST /app/dev/sign-in``."""
    cache: dict[str, bytes] = {}

    @hide
    async def root() -> Any:
        return redirect("/app", code=302)

    @hide
    async def page(name: str = "index.html") -> Response:
        suffix = Path(name).suffix
        if "/" in name or name.startswith(".") or suffix not in TYPES:
            raise ClientError(ErrorCode.NOT_FOUND, "no such file")
        if name not in cache:
            try:
                cache[name] = await trio.Path(STATIC, name).read_bytes()
            except FileNotFoundError:
                raise ClientError(ErrorCode.NOT_FOUND, "no such file") from None
        res = Response(cache[name], content_type=TYPES[suffix])
        res.headers["Cache-Control"] = "no-cache"
        res.headers["X-Content-Type-Options"] = "nosniff"
        res.headers["Referrer-Policy"] = "no-referrer"
        if suffix == ".html":
            res.headers["Content-Security-Policy"] = CSP
        return res

    @hide
    async def app_config() -> dict[str, Any]:
        return {
            "ws_url": ws_url(config),
            "meeting_url_template": config.meeting_url_template or None,
            "dev_sign_in": config.dev_sign_in is not None,
        }

    @hide
    async def dev_sign_in() -> dict[str, Any]:
        # Absent (404, as any unknown route) unless this is a development server and the
        # caller is on this machine: whoever can call it can be anyone (docs/clients.md).
        if config.dev_sign_in is None or not _loopback(request.remote_addr):
            raise ClientError(ErrorCode.NOT_FOUND, "no such route")
        body = await request.get_json(silent=True)
        if not isinstance(body, dict) or set(body) - {"user", "org"}:
            raise ClientError(ErrorCode.BAD_REQUEST, 'expected {"user": ..., "org": ...}')
        user, org = body.get("user"), body.get("org", "acme")
        if not isinstance(user, str) or not user or len(user) > MAX_USER or not is_clean(user):
            raise ClientError(ErrorCode.BAD_REQUEST, "user: 1 to 128 printable characters")
        if not isinstance(org, str) or not ORG.fullmatch(org):
            raise ClientError(ErrorCode.BAD_REQUEST, "org: 1 to 64 of [A-Za-z0-9_-]")
        return {"token": config.dev_sign_in(user, org), "user": user, "org": org}

    app.add_url_rule("/", "webapp_root", root)
    app.add_url_rule("/app", "webapp_page", page)
    app.add_url_rule("/app/", "webapp_page_slash", page)
    app.add_url_rule("/app/config", "webapp_config", app_config)
    app.add_url_rule("/app/dev/sign-in", "webapp_dev_sign_in", dev_sign_in, methods=["POST"])
    app.add_url_rule("/app/<name>", "webapp_file", page)
