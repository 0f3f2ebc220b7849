"""A real prosody (Debian's) on 127.0.0.1 for the XMPP bridge tests (session-scoped), and
a small c2s client on the bridge's own sans-IO stream parser.

prosody is installed with apt-get when missing and we are root. It runs in the
foreground (``daemonize = false``) with a config in a temp dir: c2s and the component
port on free loopback ports, plaintext SASL PLAIN allowed (loopback only), in-band
registration for test users, a ``muc`` component with ``muc_room_locking = false`` and
the bridge's component. ``prosody --version`` is never run (it starts the server).
Without prosody the tests skip, except under ``CI=true``, where they fail."""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree.ElementTree import Element, SubElement

import pytest

from parley.bridges.xmpp.stream import (
    CLIENT_NS,
    Stanza,
    XmlStream,
    local,
    open_stream,
    serialize,
)
from tests.support.synapse import free_port

DOMAIN = "localhost"
MUC_DOMAIN = "muc.localhost"
COMPONENT = "bridge.localhost"
SECRET = "component-secret-for-tests"
START_TIMEOUT = 30.0


def unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"prosody is required in CI: {reason}")
    pytest.skip(reason)


def prosody_binary() -> str:
    found = shutil.which("prosody")
    if found is None and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], env=env, check=False, timeout=600)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "prosody"],
            env=env,
            check=False,
            timeout=600,
            stdout=subprocess.DEVNULL,
        )
        found = shutil.which("prosody")
    if found is None:
        unavailable("prosody is not installed (apt-get install prosody)")
    assert found is not None
    return found


CONFIG = """\
run_as_root = true
daemonize = false
pidfile = "{dir}/prosody.pid"
data_path = "{dir}/data"
certificates = "{dir}/certs"
interfaces = {{ "127.0.0.1" }}
c2s_ports = {{ {c2s} }}
c2s_direct_tls_ports = {{ }}
legacy_ssl_ports = {{ }}
s2s_ports = {{ }}
component_ports = {{ {component} }}
component_interfaces = {{ "127.0.0.1" }}
http_ports = {{ }}
https_ports = {{ }}
log = {{ info = "{dir}/prosody.log" }}
modules_enabled = {{ "roster"; "saslauth"; "disco"; "ping"; "register" }}
modules_disabled = {{ "s2s" }}
allow_registration = true
min_seconds_between_registrations = 0
c2s_require_encryption = false
allow_unencrypted_plain_auth = true
authentication = "internal_plain"
storage = "memory"
VirtualHost "{domain}"
Component "{muc}" "muc"
    muc_room_locking = false
    modules_enabled = {{ "muc_mam" }}
Component "{component_domain}"
    component_secret = "{secret}"
"""


@dataclass
class Prosody:
    dir: Path
    binary: str
    c2s_port: int
    component_port: int
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with (self.dir / "stdout.log").open("ab") as out:
            self.proc = subprocess.Popen(
                [self.binary, "--config", str(self.dir / "prosody.cfg.lua")],
                cwd=self.dir,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"prosody exited: see {self.dir}/prosody.log")
            try:
                with socket.create_connection(("127.0.0.1", self.component_port), 1):
                    pass
                with socket.create_connection(("127.0.0.1", self.c2s_port), 1):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("prosody did not start in time")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None


@pytest.fixture(scope="session")
def prosody(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prosody]:
    binary = prosody_binary()
    d = tmp_path_factory.mktemp("prosody")
    (d / "data").mkdir()
    (d / "certs").mkdir()
    p = Prosody(d, binary, free_port(), free_port())
    (d / "prosody.cfg.lua").write_text(
        CONFIG.format(
            dir=d,
            c2s=p.c2s_port,
            component=p.component_port,
            domain=DOMAIN,
            muc=MUC_DOMAIN,
            component_domain=COMPONENT,
            secret=SECRET,
        )
    )
    p.start()
    try:
        yield p
    finally:
        p.stop()


@dataclass
class C2S:
    """A blocking XMPP client for tests: in-band registration, SASL PLAIN, bind."""

    user: str
    port: int
    sock: socket.socket | None = None
    parser: XmlStream = field(default_factory=XmlStream)
    inbox: list[Element] = field(default_factory=list)
    jid: str = ""

    def _send(self, data: bytes | Element) -> None:
        assert self.sock is not None
        self.sock.sendall(data if isinstance(data, bytes) else serialize(data))

    def _read(self, timeout: float) -> bool:
        assert self.sock is not None
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except TimeoutError:
            return False
        if not data:
            raise ConnectionError("closed")
        for ev in self.parser.feed(data):
            if isinstance(ev, Stanza):
                self.inbox.append(ev.element)
        return True

    def wait(self, pred: object, timeout: float = 20.0) -> Element:
        assert callable(pred)
        deadline = time.monotonic() + timeout
        while True:
            for i, el in enumerate(self.inbox):
                if pred(el):
                    return self.inbox.pop(i)
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("timed out waiting for a stanza")
            self._read(min(left, 0.5))

    def _open(self) -> None:
        self.parser = XmlStream()
        self._send(open_stream(DOMAIN, ns=CLIENT_NS, version=True))
        self.wait(lambda el: local(el.tag) == "features")

    def connect(self, password: str = "secret-password") -> C2S:
        self.sock = socket.create_connection(("127.0.0.1", self.port), 10)
        self._open()
        iq = Element("iq", {"type": "set", "id": "reg"})
        q = SubElement(iq, "query", {"xmlns": "jabber:iq:register"})
        SubElement(q, "username").text = self.user
        SubElement(q, "password").text = password
        self._send(iq)
        self.wait(lambda el: el.get("id") == "reg")  # registered, or already (conflict)
        auth = base64.b64encode(f"\0{self.user}\0{password}".encode()).decode()
        a = Element("auth", {"xmlns": "urn:ietf:params:xml:ns:xmpp-sasl", "mechanism": "PLAIN"})
        a.text = auth
        self._send(a)
        ok = self.wait(lambda el: local(el.tag) in ("success", "failure"))
        assert local(ok.tag) == "success", "SASL PLAIN failed"
        self._open()
        b = Element("iq", {"type": "set", "id": "bind"})
        bind = SubElement(b, "bind", {"xmlns": "urn:ietf:params:xml:ns:xmpp-bind"})
        SubElement(bind, "resource").text = "test"
        self._send(b)
        res = self.wait(lambda el: el.get("id") == "bind")
        jid_el = res.find(".//{urn:ietf:params:xml:ns:xmpp-bind}jid")
        assert jid_el is not None and jid_el.text
        self.jid = jid_el.text
        return self

    def join(self, room: str, nick: str) -> None:
        p = Element("presence", {"to": f"{room}/{nick}"})
        SubElement(p, "x", {"xmlns": "http://jabber.org/protocol/muc"})
        self._send(p)
        self.wait(lambda el: local(el.tag) == "presence" and el.get("from") == f"{room}/{nick}")

    def send(self, stanza: Element) -> None:
        self._send(stanza)

    def close(self) -> None:
        if self.sock is not None:
            with contextlib.suppress(OSError):
                self._send(b"</stream:stream>")
            self.sock.close()
            self.sock = None

    def __enter__(self) -> C2S:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
