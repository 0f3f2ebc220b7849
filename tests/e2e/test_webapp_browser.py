"""The web app in real Chromium (Debian's, driven by playwright; never a downloaded
browser): two people chat through ``/app`` of a real ``parley serve`` (messages, a thread
reply, a reaction, typing, presence, an upload, a search, read ticks, an edit from the
keyboard, a pin, a call link), then the server
restarts and both pages resume with nothing lost or doubled; a reloaded page still shows
the picture (history carries attachments); and alice's notifications inbox, open in two
tabs, follows bob's @mention and her reading it in either. Screenshots go to
``test-artifacts/webapp/``."""

from __future__ import annotations

import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time
import urllib.request
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"]
ARTIFACTS = ROOT / "test-artifacts" / "webapp"
WAIT_MS = 15_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Served:
    """``python -m parley serve`` on loopback with its generated secret (a development
    server, so the app offers "sign in as"); restartable on the same ports and data."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.ws_port = free_port()
        self.http_port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def start(self) -> None:
        env = {
            **os.environ,
            "PARLEY_DATA_DIR": str(self.data_dir),
            "PARLEY_WS_PORT": str(self.ws_port),
            "PARLEY_HTTP_PORT": str(self.http_port),
            "PARLEY_LOG_LEVEL": "error",
            "PARLEY_SHUTDOWN_TIMEOUT": "2",
            "PARLEY_MEETING_URL_TEMPLATE": "https://meet.example/parley-{room}",
        }
        env.pop("PARLEY_JWT_SECRET", None)
        env.pop("PARLEY_DATABASE_URL", None)
        self.proc = subprocess.Popen([sys.executable, "-m", "parley", "serve"], cwd=ROOT, env=env)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"parley serve exited with {self.proc.returncode}")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=2):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("parley serve did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(30)
            self.proc = None

    def call(self, token: str | None, method: str, path: str, body: Any = None) -> Any:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"{self.url}{path}", data, headers, method=method)
        with urllib.request.urlopen(req, timeout=10) as res:
            return json.loads(res.read() or b"null")

    def token(self, user: str) -> str:
        token: str = self.call(None, "POST", "/app/dev/sign-in", {"user": user, "org": "acme"})[
            "token"
        ]
        return token


def png(width: int, height: int) -> bytes:
    """A small valid PNG (a red square)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    rows = b"".join(b"\x00" + b"\xd0\x30\x30" * width for _ in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    s = Served(tmp_path / "data")
    s.start()
    try:
        yield s
    finally:
        s.stop()


def texts(page: Any) -> list[str]:
    """The message texts in the channel view, in order."""
    result: list[str] = page.eval_on_selector_all(
        "#messages article.message",
        "els => els.map(e => e.querySelector('.body').textContent.trim())",
    )
    return result


def test_two_people_chat_and_survive_a_restart(served: Served, tmp_path: Path) -> None:
    if not CHROMIUM.exists():  # scripts/run-tests installs it; CI must not skip the test
        if os.environ.get("CI") == "true":
            pytest.fail("Debian's chromium (/usr/bin/chromium) is missing")
        pytest.skip("needs Debian's chromium (/usr/bin/chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    expect = sync_api.expect
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    alice_token = served.token("alice")
    general = served.call(
        alice_token,
        "POST",
        "/v1/channels",
        {"kind": "group", "name": "general", "members": ["bob"]},
    )
    image = tmp_path / "red.png"
    image.write_bytes(png(24, 16))
    errors: list[str] = []

    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:

            def open_page(user: str) -> Any:
                """A new browser context (its own tab storage) signed in as ``user``."""
                context = browser.new_context(viewport={"width": 1100, "height": 700})
                # The call opens the meeting in a new tab: answer it here (no network).
                context.route("https://meet.example/**", lambda r: r.fulfill(body="meeting"))
                page = context.new_page()
                page.set_default_timeout(WAIT_MS)
                page.on("pageerror", lambda e, u=user: errors.append(f"{u}: {e}"))
                page.goto(served.url + "/")  # redirects to /app
                page.fill("#dev-user", user)
                page.click("#dev-sign-in button[type=submit]")
                expect(page.locator("#channel-name")).to_have_text("#general")
                return page

            alice, bob = open_page("alice"), open_page("bob")
            assert alice.url.endswith("/app")

            # Typing, then messages both ways.
            alice.locator("#composer-input").press_sequentially("hello bob, see ")
            expect(bob.locator("#typing")).to_have_text("alice is typing…")
            alice.locator("#composer-input").press_sequentially("`code` **now**")
            alice.press("#composer-input", "Enter")
            expect(bob.locator("#messages article.message")).to_have_count(1)
            expect(bob.locator("#messages article.message strong", has_text="now")).to_have_count(1)
            bob.fill("#composer-input", "hi alice\n```python\ndef f(x):\n    return x\n```")
            bob.click("#composer button[type=submit]")
            expect(alice.locator("#messages article.message")).to_have_count(2)
            expect(
                alice.locator("#messages pre code.language-python .hljs-keyword").first
            ).to_have_text("def")

            # Presence: alice sees bob online; read ticks: bob has read alice's message.
            bob_msg = alice.locator("#messages article.message").nth(1)
            expect(bob_msg.locator(".dot.online")).to_have_count(1)
            expect(
                alice.locator("#messages article.message").first.locator(".ticks.read")
            ).to_have_count(1)

            # A reaction from alice reaches bob.
            bob_msg.hover()
            bob_msg.get_by_role("button", name="React 👍").click()
            expect(
                bob.locator("#messages article.message").nth(1).locator(".reaction")
            ).to_have_text("👍 1")

            # A thread reply from bob shows on alice's message and in her thread panel.
            first = bob.locator("#messages article.message").first
            first.hover()
            first.get_by_role("button", name="Reply in thread").click()
            bob.fill("#thread-input", "a reply in the thread")
            bob.press("#thread-input", "Enter")
            expect(alice.locator("#messages .thread-link")).to_have_text("1 reply")
            alice.locator("#messages .thread-link").click()
            expect(alice.locator("#replies article.message")).to_have_count(1)
            expect(alice.locator("#replies .body")).to_have_text("a reply in the thread")
            alice.keyboard.press("Escape")
            expect(alice.locator("#panel")).to_be_hidden()

            # An upload with an image preview.
            alice.set_input_files("#composer-file", str(image))
            alice.fill("#composer-input", "a picture")
            alice.press("#composer-input", "Enter")
            thumb = bob.locator("#messages img.thumb")
            expect(thumb).to_have_count(1)
            bob.wait_for_function(
                "() => { const i = document.querySelector('#messages img.thumb');"
                " return i && i.complete && i.naturalWidth === 24; }"
            )

            # Search.
            bob.fill("#search-input", "hello")
            bob.press("#search-input", "Enter")
            expect(bob.locator("#panel .result")).to_have_count(1)
            expect(bob.locator("#panel .result .snippet")).to_contain_text("hello")
            bob.keyboard.press("Escape")

            # Alice edits her last message from the keyboard (ArrowUp in the empty
            # composer), bob pins it, and alice starts a call (a meeting link is posted).
            alice.focus("#composer-input")
            alice.keyboard.press("ArrowUp")
            alice.fill("textarea[aria-label='Edit message']", "a picture, edited")
            alice.keyboard.press("Enter")
            picture = bob.locator("#messages article.message").nth(2)
            expect(picture.locator(".body")).to_have_text("a picture, edited")
            expect(picture.locator(".edited")).to_have_count(1)
            picture.hover()
            picture.get_by_role("button", name="Pin").click()
            pinned = alice.locator("#messages article.message").nth(2)
            expect(pinned.locator(".pin")).to_have_count(1)
            alice.click("#call")
            expect(bob.locator("#messages article.message")).to_have_count(4)
            expect(bob.locator("#messages article.message").last).to_contain_text(
                "https://meet.example/parley-"
            )
            alice.screenshot(path=str(ARTIFACTS / "alice-before-restart.png"))
            bob.screenshot(path=str(ARTIFACTS / "bob-before-restart.png"))
            before = texts(bob)
            assert len(before) == 4, before

            # The server restarts: both pages show the banner, alice writes while it is
            # down (queued), and after the restart each page has every message once.
            served.stop()
            for page in (alice, bob):
                expect(page.locator("#banner")).to_be_visible()
                expect(page.locator("#banner")).to_contain_text("Reconnecting")
            alice.fill("#composer-input", "sent while the server was down")
            alice.press("#composer-input", "Enter")
            expect(alice.locator("#banner")).to_contain_text("1 message will be sent")
            alice.screenshot(path=str(ARTIFACTS / "alice-reconnecting.png"))
            served.start()
            for page in (alice, bob):
                expect(page.locator("#banner")).to_be_hidden(timeout=30_000)
            bob.fill("#composer-input", "back again")
            bob.press("#composer-input", "Enter")
            want = [*before, "sent while the server was down", "back again"]
            for page in (alice, bob):
                expect(page.locator("#messages article.message")).to_have_count(len(want))
                assert texts(page) == want
                ids = page.eval_on_selector_all(
                    "#messages article.message", "els => els.map(e => e.dataset.id)"
                )
                assert len(set(ids)) == len(want)
            # The server holds the queued post once.
            items = served.call(alice_token, "GET", f"/v1/channels/{general['id']}/messages")
            assert [m["text"] for m in items["items"]].count("sent while the server was down") == 1
            alice.screenshot(path=str(ARTIFACTS / "alice-after-restart.png"))
            bob.screenshot(path=str(ARTIFACTS / "bob-after-restart.png"))

            # A reload reads the channel from history: the picture is still there.
            alice.reload()
            expect(alice.locator("#channel-name")).to_have_text("#general")
            expect(alice.locator("#messages article.message")).to_have_count(len(want))
            expect(alice.locator("#messages img.thumb")).to_have_count(1)
            alice.wait_for_function(
                "() => { const i = document.querySelector('#messages img.thumb');"
                " return i && i.complete && i.naturalWidth === 24; }"
            )

            # The inbox, in two tabs of alice's: bob's thread reply is in it already.
            alice2 = open_page("alice")
            unread = served.call(alice_token, "GET", "/v1/notifications/unread-count")["unread"]
            assert unread >= 1
            for page in (alice, alice2):
                expect(page.locator("#inbox-button")).to_have_attribute(
                    "aria-label", f"Notifications, {unread} unread"
                )
            alice.click("#inbox-button")
            expect(alice.locator("#inbox-panel")).to_be_visible()
            expect(alice.locator("#inbox-list .inbox-item.unread")).to_have_count(unread)
            alice.click("#inbox-mark-all")
            for page in (alice, alice2):
                expect(page.locator("#inbox-count")).to_be_hidden()
            expect(alice.locator("#inbox-list .inbox-item.unread")).to_have_count(0)
            alice.keyboard.press("Escape")
            expect(alice.locator("#inbox-panel")).to_be_hidden()
            expect(alice.locator("#inbox-button")).to_be_focused()

            # Bob @mentions alice: both her tabs show 1; she opens the inbox from the
            # keyboard and reads it, and the other tab's count drops to 0.
            bob.fill("#composer-input", "@alice have a look")
            bob.press("#composer-input", "Enter")
            for page in (alice, alice2):
                expect(page.locator("#inbox-count")).to_have_text("1")
                expect(page.locator("#inbox-button")).to_have_attribute(
                    "aria-label", "Notifications, 1 unread"
                )
            alice.keyboard.press("Enter")  # the bell still has the focus
            first = alice.locator("#inbox-list .inbox-item").first
            expect(first).to_have_class("inbox-item unread")
            expect(first.locator(".meta")).to_contain_text("mention · bob")
            expect(first.locator(".inbox-open")).to_be_focused()
            alice.screenshot(path=str(ARTIFACTS / "alice-inbox.png"))
            alice.keyboard.press("Enter")  # read it and go to the message
            expect(alice.locator("#inbox-panel")).to_be_hidden()
            expect(alice.locator("#messages article.message.highlight .body")).to_have_text(
                "@alice have a look"
            )
            for page in (alice2, alice):
                expect(page.locator("#inbox-count")).to_be_hidden()
                expect(page.locator("#inbox-button")).to_have_attribute(
                    "aria-label", "Notifications, 0 unread"
                )
            assert served.call(alice_token, "GET", "/v1/notifications/unread-count") == {
                "unread": 0
            }
        finally:
            browser.close()
    assert errors == []
