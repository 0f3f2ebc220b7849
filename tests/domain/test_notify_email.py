"""The email step against a real SMTP server on loopback (aiosmtpd): one digest per user
per sweep of what is still unread after the delay, never twice; text + HTML, Message-ID,
List-Unsubscribe (RFC 8058); delays on trio's virtual clock."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import trio

from parley.app import build_services
from parley.core.claims import Claims
from parley.domain.notify_email import check_unsubscribe_token, parse_smtp_url
from parley.domain.services import Services
from parley.store import SqlStore
from tests.support.api import RecordingSink, make_settings
from tests.support.features import channel
from tests.support.smtp import self_signed, smtp_server

WALL0 = 1_800_000_000.0


def services(store: SqlStore, smtp_url: str) -> Services:
    s = make_settings()
    s = replace(s, notifications=replace(s.notifications, smtp_url=smtp_url, email_delay=600))
    t0 = trio.current_time()
    return build_services(
        s,
        store,
        RecordingSink(),
        verify=s.token_verifier().verify,
        spawn=lambda *a: None,
        clock=lambda: WALL0 + trio.current_time() - t0,
    )


async def test_one_digest_of_what_is_still_unread(
    store: SqlStore, org: str, autojump_clock: Any
) -> None:
    with smtp_server() as inbox:
        svc = services(store, inbox.url)
        mailer = svc.notify.email
        assert mailer is not None
        cid = await channel(svc, org, ["bob", "carol"])
        await svc.notify.service.saw_token(Claims("bob", org, 4e9, email="bob@example.com"))
        await svc.notify.service.update_preferences(org, "carol", {"email": "c@example.com"})
        await svc.messages.post_message(org, "alice", cid, "@bob first <b>")
        await svc.messages.post_message(org, "alice", cid, "@bob @carol second")
        [carols] = (await svc.notify.service.inbox(org, "carol", limit=None, cursor=None))[0]
        await svc.notify.service.mark(org, "carol", "read", ids=[carols.id])
        await trio.sleep(599)
        assert await mailer.sweep() == 0
        await trio.sleep(1)
        assert await mailer.sweep() == 1
        assert await trio.to_thread.run_sync(inbox.wait_for, 1)
        await trio.sleep(3600)
        assert await mailer.sweep() == 0  # never the same notification twice
        assert len(inbox.messages) == 1 and inbox.recipients == [["bob@example.com"]]
        msg = inbox.messages[0]
        assert msg["To"] == "bob@example.com" and msg["Subject"] == "2 unread notifications"
        assert msg["Message-ID"].startswith("<") and msg["Auto-Submitted"] == "auto-generated"
        assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        url = msg["List-Unsubscribe"].strip("<>")
        assert urlsplit(url).path == "/v1/notifications/unsubscribe"
        token = parse_qs(urlsplit(url).query)["token"][0]
        assert check_unsubscribe_token(svc.notify.unsubscribe_key, token) == (org, "bob")
        text = msg.get_body(("plain",))
        html = msg.get_body(("html",))
        assert text is not None and html is not None
        assert "@bob first <b>" in text.get_content()
        assert "@bob first &lt;b&gt;" in html.get_content()
        bobs = (await svc.notify.service.inbox(org, "bob", limit=None, cursor=None))[0]
        states = {n.body: n.email_state for n in bobs}
        assert states == {"@bob first <b>": "sent", "@bob @carol second": "sent"}
        [c] = (await svc.notify.service.inbox(org, "carol", limit=None, cursor=None))[0]
        assert c.email_state == "skipped"  # read before the delay ran out


async def test_auth_unsubscribed_and_unreachable(
    store: SqlStore, org: str, autojump_clock: Any
) -> None:
    with smtp_server(user="parley", password="s3cret") as inbox:
        svc = services(store, f"smtp://parley:s3cret@127.0.0.1:{inbox.port}")
        mailer = svc.notify.email
        assert mailer is not None
        cid = await channel(svc, org, ["bob", "carol"])
        for user in ("bob", "carol"):
            await svc.notify.service.update_preferences(org, user, {"email": f"{user}@x.org"})
        await svc.notify.service.set_email_unsubscribed(org, "carol", True)
        await svc.messages.post_message(org, "alice", cid, "@bob @carol hi")
        await trio.sleep(600)
        assert await mailer.sweep() == 1
        assert await trio.to_thread.run_sync(inbox.wait_for, 1)
        assert inbox.recipients == [["bob@x.org"]]
    # The server is gone: the step stays pending and is tried again at a later sweep.
    await svc.messages.post_message(org, "alice", cid, "@bob are you there")
    await trio.sleep(600)
    assert await mailer.sweep() == 0
    [latest, _] = (await svc.notify.service.inbox(org, "bob", limit=None, cursor=None))[0]
    assert latest.email_state == "pending"


async def test_starttls_and_auth(
    store: SqlStore, org: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, autojump_clock: Any
) -> None:
    cert, key = self_signed(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the client trusts the test certificate
    with smtp_server(user="parley", password="pw", starttls=(cert, key)) as inbox:
        svc = services(store, f"smtp://parley:pw@127.0.0.1:{inbox.port}?starttls=true")
        mailer = svc.notify.email
        assert mailer is not None
        cid = await channel(svc, org, ["bob"])
        await svc.notify.service.update_preferences(org, "bob", {"email": "bob@x.org"})
        await svc.messages.post_message(org, "alice", cid, "@bob over TLS")
        await trio.sleep(600)
        assert await mailer.sweep() == 1
        assert await trio.to_thread.run_sync(inbox.wait_for, 1)
    # Without STARTTLS the server refuses to take mail: the digest waits for the next sweep.
    with smtp_server(starttls=(cert, key)) as plain:
        svc2 = services(store, plain.url)
        await svc2.messages.post_message(org, "alice", cid, "@bob in clear")
        await trio.sleep(600)
        assert svc2.notify.email is not None and await svc2.notify.email.sweep() == 0
        assert plain.messages == []


def test_smtp_urls() -> None:
    u = parse_smtp_url("smtp://me%40x:p%3Ass@mail.example:2525?starttls=true")
    assert (u.host, u.port, u.starttls, u.ssl, u.user, u.password) == (
        "mail.example",
        2525,
        True,
        False,
        "me@x",
        "p:ss",
    )
    assert parse_smtp_url("smtps://mail.example").port == 465
    for bad in ("http://x", "smtp://", "smtp://x?tls=1"):
        try:
            parse_smtp_url(bad)
        except ValueError:
            continue
        raise AssertionError(bad)
