"""The email step: digests of what is still unread after ``PARLEY_EMAIL_DELAY`` seconds,
one per user per sweep, over SMTP (stdlib ``smtplib`` in a trio worker thread).

A notification's email step is claimed once, in one write (``pending`` -> ``sending``;
read or archived ones -> ``skipped``), so no notification is mailed twice, even with
several nodes (PostgreSQL: ``FOR UPDATE SKIP LOCKED``). A digest the SMTP server refused
is ``failed``; a server that cannot be reached puts the batch back to ``pending`` for the
next sweep. Each digest has a text and an HTML part, a ``Message-ID``, and
``List-Unsubscribe`` + ``List-Unsubscribe-Post`` (RFC 8058) with a signed link.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import html
import logging
import smtplib
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formataddr, make_msgid, parseaddr
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

import orjson
import trio

from parley.core.errors import Unavailable
from parley.core.notifications import STEP_FAILED, STEP_SENT, STEP_SKIPPED, Notification
from parley.domain.notify_config import NotifyConfig
from parley.store import Store, sql

log = logging.getLogger("parley.notifications.email")

#: Notifications claimed per sweep (a bigger backlog takes several sweeps).
SWEEP_LIMIT = 2000
#: Items listed in one digest (the rest are counted).
MAX_DIGEST_ITEMS = 50
UNSUBSCRIBE_PATH = "/v1/notifications/unsubscribe"


# -- SMTP ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SmtpUrl:
    host: str
    port: int
    ssl: bool = False
    starttls: bool = False
    user: str | None = None
    password: str | None = None


def parse_smtp_url(url: str) -> SmtpUrl:
    """``smtp://[user:password@]host[:port][?starttls=true]`` or ``smtps://...``
    (ValueError otherwise)."""
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ValueError("must be smtp://host:port or smtps://host:port")
    query = parse_qs(parts.query)
    unknown = set(query) - {"starttls"}
    if unknown:
        raise ValueError(f"unknown parameter {sorted(unknown)[0]!r}")
    starttls = query.get("starttls", ["false"])[-1].lower() in ("1", "true", "yes")
    secure = parts.scheme == "smtps"
    return SmtpUrl(
        host=parts.hostname,
        port=parts.port or (465 if secure else 25),
        ssl=secure,
        starttls=starttls and not secure,
        user=None if parts.username is None else unquote(parts.username),
        password=None if parts.password is None else unquote(parts.password),
    )


def smtp_send(url: SmtpUrl, messages: list[EmailMessage], timeout: float) -> list[bool]:
    """Send over one SMTP session (blocking: run in a thread); which were accepted.
    A connection or login failure raises ``OSError`` / ``smtplib.SMTPException``."""
    context = ssl.create_default_context()
    smtp: smtplib.SMTP
    if url.ssl:
        smtp = smtplib.SMTP_SSL(url.host, url.port, timeout=timeout, context=context)
    else:
        smtp = smtplib.SMTP(url.host, url.port, timeout=timeout)
    with smtp:
        if url.starttls:
            smtp.starttls(context=context)
        if url.user is not None:
            smtp.login(url.user, url.password or "")
        accepted: list[bool] = []
        for m in messages:
            try:
                smtp.send_message(m)
                accepted.append(True)
            except (smtplib.SMTPRecipientsRefused, smtplib.SMTPDataError) as exc:
                log.info("digest to %s refused: %s", m["To"], exc)
                accepted.append(False)
        return accepted


# -- unsubscribe tokens -------------------------------------------------------------------


def unsubscribe_token(key: bytes, org: str, user_id: str) -> str:
    payload = base64.urlsafe_b64encode(orjson.dumps([org, user_id])).decode().rstrip("=")
    mac = hmac.new(key, payload.encode(), hashlib.sha256).digest()[:18]
    return f"{payload}.{base64.urlsafe_b64encode(mac).decode()}"


def check_unsubscribe_token(key: bytes, token: str) -> tuple[str, str] | None:
    """(org, user) of a token this server signed, or None."""
    payload, _, mac = token.partition(".")
    try:
        want = hmac.new(key, payload.encode(), hashlib.sha256).digest()[:18]
        if not hmac.compare_digest(base64.urlsafe_b64decode(mac), want):
            return None
        parts = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (ValueError, binascii.Error, orjson.JSONDecodeError):
        return None
    if not (isinstance(parts, list) and len(parts) == 2 and all(isinstance(p, str) for p in parts)):
        return None
    return parts[0], parts[1]


# -- digests (sans-IO) ----------------------------------------------------------------------


def render_digest(
    items: list[Notification],
    *,
    to: str,
    from_: str,
    unsubscribe_url: str,
) -> EmailMessage:
    """One digest: a text part and an HTML part listing ``items`` (oldest first)."""
    shown = items[:MAX_DIGEST_ITEMS]
    more = len(items) - len(shown)
    n = len(items)
    subject = items[0].title if n == 1 else f"{n} unread notifications"
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = from_
    msg["To"] = to
    domain = parseaddr(from_)[1].rpartition("@")[2] or "localhost"
    msg["Message-ID"] = make_msgid("parley", domain=domain)
    msg["List-Unsubscribe"] = f"<{unsubscribe_url}>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Parley-Notifications"] = " ".join(i.id for i in items)
    lines = [f"You have {n} unread notification{'s' if n != 1 else ''} in Parley.", ""]
    blocks = []
    for it in shown:
        lines.append(f"* {it.title}")
        if it.body:
            lines.append(f"  {it.body}")
        url = it.link.get("url")
        if url:
            lines.append(f"  {url}")
        lines.append("")
        title = html.escape(it.title)
        if url and url.startswith(("https://", "http://")):
            title = f'<a href="{html.escape(url, quote=True)}">{title}</a>'
        body = f"<br><span>{html.escape(it.body)}</span>" if it.body else ""
        blocks.append(f"<li><strong>{title}</strong>{body}</li>")
    if more:
        lines.append(f"... and {more} more.")
        blocks.append(f"<li>... and {more} more.</li>")
    lines += ["", f"Stop these emails: {unsubscribe_url}"]
    msg.set_content("\n".join(lines))
    page = (
        f"<html><body><p>You have {n} unread notification{'s' if n != 1 else ''} in"
        f" Parley.</p><ul>{''.join(blocks)}</ul><p><a"
        f' href="{html.escape(unsubscribe_url, quote=True)}">Stop these emails</a></p>'
        "</body></html>"
    )
    msg.add_alternative(page, subtype="html")
    return msg


# -- the step's task ---------------------------------------------------------------------------


class Mailer:
    """Sweeps every ``email_interval`` seconds (trio's clock); one SMTP session per sweep."""

    def __init__(
        self,
        store: Store,
        config: NotifyConfig,
        key: bytes,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.config = config
        self.smtp = parse_smtp_url(config.smtp_url)
        self.key = key
        self.clock = clock
        self.sent_digests = 0
        self.sent_notifications = 0

    def unsubscribe_url(self, org: str, user_id: str) -> str:
        token = unsubscribe_token(self.key, org, user_id)
        return (
            f"{self.config.public_url.rstrip('/')}{UNSUBSCRIBE_PATH}?{urlencode({'token': token})}"
        )

    async def run(self) -> None:
        while True:
            try:
                await self.sweep()
            except Unavailable:
                pass  # the store logs the outage once; the next sweep retries
            except Exception:  # the next sweep retries; never take the server down
                log.exception("email sweep failed")
            await trio.sleep(self.config.email_interval)

    async def sweep(self) -> int:
        """Send the digests due now; return how many were accepted."""
        now_us = int(self.clock() * 1_000_000)
        claimed = await self.store.write(
            sql.notifications.claim_email, now_us=now_us, limit=SWEEP_LIMIT
        )
        if not claimed:
            return 0
        by_user: dict[tuple[str, str], list[Notification]] = {}
        for n in claimed:
            by_user.setdefault((n.org, n.recipient), []).append(n)
        messages: list[EmailMessage] = []
        batches: list[list[str]] = []
        skipped: list[str] = []
        for (org, user), items in by_user.items():
            address = await self._address(org, user)
            if address is None:
                skipped += [i.id for i in items]
                continue
            messages.append(
                render_digest(
                    items,
                    to=address,
                    from_=self.config.smtp_from,
                    unsubscribe_url=self.unsubscribe_url(org, user),
                )
            )
            batches.append([i.id for i in items])
        await self.store.write(
            sql.notifications.finish_email, skipped, STEP_SKIPPED, retry_at_us=None
        )
        if not messages:
            return 0
        try:
            accepted = await trio.to_thread.run_sync(
                smtp_send, self.smtp, messages, self.config.smtp_timeout
            )
        except (OSError, smtplib.SMTPException) as exc:
            log.warning("SMTP %s:%d unreachable: %s", self.smtp.host, self.smtp.port, exc)
            retry = now_us + int(self.config.email_interval * 1_000_000)
            await self.store.write(
                sql.notifications.finish_email,
                [i for b in batches for i in b],
                STEP_FAILED,
                retry_at_us=retry,
            )
            return 0
        ok = [i for b, a in zip(batches, accepted, strict=True) if a for i in b]
        bad = [i for b, a in zip(batches, accepted, strict=True) if not a for i in b]
        await self.store.write(sql.notifications.finish_email, ok, STEP_SENT, retry_at_us=None)
        await self.store.write(sql.notifications.finish_email, bad, STEP_FAILED, retry_at_us=None)
        self.sent_digests += sum(accepted)
        self.sent_notifications += len(ok)
        return sum(accepted)

    async def _address(self, org: str, user: str) -> str | None:
        prefs = await self.store.read(sql.notify_prefs.get_prefs, org, user)
        if prefs.email_unsubscribed:
            return None
        email = prefs.doc.get("email")
        if not email:
            email = (await self.store.read(sql.notify_prefs.token_emails, org, [user])).get(user)
        if not email:
            return None
        name = parseaddr(email)[1]
        return formataddr((None, name)) if name else None
