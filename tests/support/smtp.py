"""A real SMTP server on 127.0.0.1 (aiosmtpd, in its own thread) that keeps every message
it receives, parsed; optionally with AUTH (plain, no TLS needed on loopback)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult


@dataclass
class Inbox:
    port: int
    messages: list[EmailMessage] = field(default_factory=list)
    recipients: list[list[str]] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def wait_for(self, n: int, timeout: float = 10.0) -> bool:
        """Block (call it in a thread) until ``n`` messages arrived."""
        with self.arrived:
            return self.arrived.wait_for(lambda: len(self.messages) >= n, timeout)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(msg, EmailMessage)
        with self.arrived:
            self.messages.append(msg)
            self.recipients.append(list(envelope.rcpt_tos))
            self.arrived.notify_all()
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def smtp_server(*, user: str | None = None, password: str | None = None) -> Iterator[Inbox]:
    inbox = Inbox(_free_port())
    kw: dict[str, Any] = {}
    if user is not None:

        def authenticator(
            server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
        ) -> AuthResult:
            want = (user.encode(), (password or "").encode())
            return AuthResult(success=(auth_data.login, auth_data.password) == want)

        kw = {"authenticator": authenticator, "auth_require_tls": False}
    controller = Controller(inbox, hostname="127.0.0.1", port=inbox.port, **kw)
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()
