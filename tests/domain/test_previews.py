"""Link previews against a local HTTP server: the allow-list, private addresses (refused
unless the entry opts in), redirects re-checked, size cap, timeout; then end to end."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import trio
import trio.lowlevel

from parley.app import build_services
from parley.domain.previews import (
    PreviewConfig,
    Refused,
    _public,
    fetch,
    fetch_sync,
    parse_html,
    urls_in,
)
from parley.settings import Settings
from tests.e2e.test_channels import TOPIC, dial, rest
from tests.support.api import RecordingSink, make_settings, open_test_store
from tests.support.live import LiveApp, live_app
from tests.support.store import PgSchemas

PAGE = (
    b"<html><head><title>Fallback</title>"
    b'<meta property="og:title" content="Launch &amp; Plan">'
    b'<meta name="description" content="All   about it">'
    b'<meta property="og:image" content="/img.png"></head><body>hi</body></html>'
)


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        port = self.server.server_address[1]  # type: ignore[index]
        routes: dict[str, tuple[int, dict[str, str], bytes]] = {
            "/page": (200, {"Content-Type": "text/html; charset=utf-8"}, PAGE),
            "/to-page": (302, {"Location": "/page"}, b""),
            "/to-localhost": (302, {"Location": f"http://localhost:{port}/page"}, b""),
            "/loop": (302, {"Location": "/loop"}, b""),
            "/json": (200, {"Content-Type": "application/json"}, b"{}"),
            "/big": (
                200,
                {"Content-Type": "text/html"},
                b"<html>" + b" " * 4096 + b"<title>too late</title>",
            ),
        }
        if self.path.startswith(
            "/drip"
        ):  # a byte every 50 ms: each recv is quick, the whole is not
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            try:
                for _ in range(400):
                    self.wfile.write(b" ")
                    self.wfile.flush()
                    time.sleep(0.05)
            except OSError:
                pass  # the client gave up
            return
        status, headers, body = routes.get(self.path, (404, {}, b""))
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[int]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield httpd.server_address[1]
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def cfg(port: int, *, private: bool = True, **kw: object) -> PreviewConfig:
    entry = f"127.0.0.1:{port}" + ("!private" if private else "")
    return replace(PreviewConfig(hosts=(entry, "localhost")), **kw)  # type: ignore[arg-type]


def test_allowed_local_fetch(server: int) -> None:
    p = fetch_sync(f"http://127.0.0.1:{server}/page", cfg(server))
    assert p is not None
    assert (p.title, p.description) == ("Launch & Plan", "All about it")
    assert p.image == f"http://127.0.0.1:{server}/img.png"
    followed = fetch_sync(f"http://127.0.0.1:{server}/to-page", cfg(server))
    assert followed is not None and followed.url.endswith("/page")


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("/to-localhost", "private address"),  # redirect into a private range
        ("/loop", "too many redirects"),
        ("/json", "not HTML"),
        ("/missing", "status 404"),
    ],
)
def test_refusals(server: int, path: str, why: str) -> None:
    with pytest.raises(Refused, match=why):
        fetch_sync(f"http://127.0.0.1:{server}{path}", cfg(server))


@pytest.mark.parametrize(
    ("addr", "public"),
    [
        ("93.184.216.34", True),
        ("2606:4700::1111", True),
        ("100.64.0.1", False),  # shared address space (carrier-grade NAT)
        ("100.100.100.200", False),  # a cloud metadata address inside it
        ("169.254.169.254", False),
        ("10.1.2.3", False),
        ("192.0.2.1", False),  # documentation
        ("224.0.0.1", False),
        ("::ffff:10.0.0.1", False),
        ("2002:a00:1::1", False),  # 6to4 of 10.0.0.1
        ("2002:5db8:d822::1", True),  # 6to4 of 93.184.216.34
        ("fe80::1%eth0", False),
    ],
)
def test_only_global_addresses_are_public(addr: str, public: bool) -> None:
    assert _public(addr) is public


def test_a_dripping_host_is_cut_off_at_the_deadline(server: int) -> None:
    """The timeout bounds the whole fetch, not each read: the worker thread is free
    again when the deadline passes, whatever the host sends."""
    with pytest.raises(Refused, match="timed out"):
        fetch_sync(f"http://127.0.0.1:{server}/drip", cfg(server, timeout=0.3))


async def test_slow_hosts_never_take_the_store_threads(server: int, tmp_path: Path) -> None:
    """45 posts with 3 URLs of a dripping host each: the fetches wait for the preview
    service's own threads, and the store keeps answering meanwhile."""
    sink = RecordingSink()
    settings = replace(make_settings(), data_dir=tmp_path, previews=cfg(server, timeout=2.0))
    async with open_test_store(tmp_path) as store, trio.open_nursery() as nursery:
        svc = build_services(
            settings, store, sink, verify=settings.token_verifier().verify, spawn=nursery.start_soon
        )
        ch = await svc.channels.create_channel(
            "acme", "alice", kind="group", members=["bob"], name="g"
        )
        urls = " ".join(f"http://127.0.0.1:{server}/drip?{i}" for i in range(3))
        for i in range(45):
            await svc.messages.post_message("acme", "alice", ch.id, f"{i} {urls}")
        await trio.lowlevel.checkpoint()  # the fetches start
        assert svc.previews.limiter.borrowed_tokens == svc.previews.config.max_concurrent
        with trio.fail_after(10):  # a guard against a hang, not a measurement
            for i in range(20):
                await svc.messages.post_message("acme", "bob", ch.id, f"still here {i}")
                await svc.messages.list_messages("acme", "bob", ch.id, limit=5)
        nursery.cancel_scope.cancel()


def test_private_address_needs_opt_in(server: int) -> None:
    with pytest.raises(Refused, match="private address"):
        fetch_sync(f"http://127.0.0.1:{server}/page", cfg(server, private=False))


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/",
        "ftp://127.0.0.1/x",
        "http://user:pw@127.0.0.1/page",
        "http://10.0.0.1/",
    ],
)
def test_not_allowed(server: int, url: str) -> None:
    with pytest.raises(Refused):
        fetch_sync(url, cfg(server))


def test_off_by_default() -> None:
    assert not PreviewConfig().enabled
    assert Settings.from_env({}).previews.hosts == ()
    with pytest.raises(Refused, match="allow-list"):
        fetch_sync("http://127.0.0.1/page", PreviewConfig())


def test_size_cap(server: int) -> None:
    assert fetch_sync(f"http://127.0.0.1:{server}/big", cfg(server, max_bytes=1024)) is None
    p = fetch_sync(f"http://127.0.0.1:{server}/big", cfg(server, max_bytes=1 << 20))
    assert p is not None and p.title == "too late"


async def test_timeout_refuses() -> None:
    with socket.socket() as silent:  # accepts connections (backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        port = silent.getsockname()[1]
        with pytest.raises(Refused):
            await fetch(f"http://127.0.0.1:{port}/", cfg(port, timeout=0.2))


def test_rules_and_parsing() -> None:
    c = PreviewConfig(hosts=("*.example.com", "docs.test:8080"))
    assert c.rule("a.example.com", 443) == (True, False)
    assert c.rule("example.com", 443) == (False, False)
    assert c.rule("docs.test", 8080) == (True, False)
    assert c.rule("docs.test", 80) == (False, False)
    assert urls_in("see https://a.example.com/x, and (http://b.test/y).", 5) == [
        "https://a.example.com/x",
        "http://b.test/y",
    ]
    assert parse_html("http://x/", b"<p>no meta</p>", None) is None
    bad_image = parse_html("http://x/", b'<meta property="og:image" content="javascript:x">', None)
    assert bad_image is None


@pytest.fixture(params=["sqlite", "postgres"])
def app(
    request: pytest.FixtureRequest,
    settings: Settings,
    server: int,
) -> Iterator[LiveApp]:
    settings = replace(settings, previews=PreviewConfig(hosts=(f"127.0.0.1:{server}!private",)))
    if request.param == "postgres":
        schemas: PgSchemas = request.getfixturevalue("pg_schemas")
        settings = replace(settings, database_url=schemas.new())
    with live_app(settings) as live:
        yield live


def test_preview_pushed_and_stored(app: LiveApp, server: int) -> None:
    _, ch = rest(
        app, "POST", "/v1/channels", "alice", {"kind": "group", "name": "p", "members": ["bob"]}
    )
    cid = ch["id"]
    with ExitStack() as stack:
        bob = dial(stack, app, "bob")
        assert bob.call("subscribe", topic=TOPIC)["ok"]
        alice = dial(stack, app, "alice")
        url = f"http://127.0.0.1:{server}/page"
        reply = alice.call("post", channel=cid, text=f"read {url} and http://example.com/")
        assert reply["ok"]
        (ev,) = bob.events(1, "link_preview")
        assert ev["data"]["message_id"] == reply["message_id"]
        assert [p["title"] for p in ev["data"]["previews"]] == ["Launch & Plan"]
    path = f"/v1/channels/{cid}/messages/{reply['message_id']}/previews"
    status, body = rest(app, "GET", path, "bob")
    assert status == 200
    assert body["previews"] == [
        {
            "url": url,
            "title": "Launch & Plan",
            "description": "All about it",
            "image": f"http://127.0.0.1:{server}/img.png",
        }
    ]
    assert rest(app, "GET", path, "carol")[0] == 404
    assert rest(app, "GET", path, "bob", org="globex")[0] == 404
