"""A real HTTP receiver on 127.0.0.1 (stdlib ``http.server`` in a thread) for outgoing
webhooks and bots: it records every POST, checks its ``Parley-Signature`` and answers
with the status the test sets (or what ``on_post`` returns)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from parley.domain.outbound import DELIVERY_HEADER, SIGNATURE_HEADER, TOPIC_HEADER, verify


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    #: Whether the signature checked out (secret, body and time).
    signed: bool

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def delivery(self) -> str:
        return self.headers.get(DELIVERY_HEADER.lower(), "")

    @property
    def topic(self) -> str:
        return self.headers.get(TOPIC_HEADER.lower(), "")


@dataclass
class Receiver:
    secret: str
    port: int = 0
    status: int = 200
    #: The receiver's clock for the signature's age (tests tie it to the jobs' clock).
    now: Callable[[], float] = time.time
    #: Called for each well-signed POST (in the server's thread); returns the status.
    on_post: Callable[[Received], int] | None = None
    received: list[Received] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    @property
    def signed(self) -> list[Received]:
        return [r for r in self.received if r.signed]


@contextmanager
def receiver(secret: str, **kw: Any) -> Iterator[Receiver]:
    rec = Receiver(secret, **kw)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            n = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(n)
            sig = self.headers.get(SIGNATURE_HEADER, "")
            got = Received(
                self.path,
                {k.lower(): v for k, v in self.headers.items()},
                body,
                verify(rec.secret, sig, body, now=rec.now()),
            )
            rec.received.append(got)
            status = rec.status if not got.signed else 401
            if got.signed:
                status = rec.on_post(got) if rec.on_post is not None else rec.status
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    rec.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield rec
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
