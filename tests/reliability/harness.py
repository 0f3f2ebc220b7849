"""What the reliability tests drive: ``parley serve`` subprocesses (started and killed by
their own PID), a PostgreSQL of a test's own that can be crashed, stopped and stalled, and
WebSocket posters (python-websockets) that remember every acknowledged post.

The server process is bench's :class:`bench.procs.ServerProc`; nothing here signals a
process it did not start.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from bench.procs import REPO, ServerProc, child_env, free_port
from tests.conftest import make_token

ORG = "acme"
PG_SCRIPT = str(REPO / "scripts" / "pg-test-server")


class ParleyServer:
    """One ``python -m parley serve`` on free loopback ports, data in ``data_dir``."""

    def __init__(self, tmp: Path, *, database_url: str = "", **env: str) -> None:
        from tests.conftest import SECRET

        self.ws_port, self.http_port = free_port(), free_port()
        self.data_dir = tmp / "data"
        self.log = tmp / "server.log"
        self.env = child_env(
            {
                "PARLEY_HOST": "127.0.0.1",
                "PARLEY_WS_PORT": str(self.ws_port),
                "PARLEY_HTTP_PORT": str(self.http_port),
                "PARLEY_DATA_DIR": str(self.data_dir),
                "PARLEY_JWT_SECRET": SECRET,
                "PARLEY_DATABASE_URL": database_url,
                "PARLEY_LOG_FORMAT": "json",
                **env,
            }
        )
        cmd = [sys.executable, "-m", "parley", "serve"]
        self.proc = ServerProc("parley", cmd, self.env, self.ws_port, self.log, self.http_port)
        self.starts = 0

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.ws_port}/ws"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def start(self) -> None:
        self.proc.start(timeout=60)
        self.starts += 1

    def kill9(self) -> None:
        """SIGKILL our server by its PID and reap it."""
        assert self.proc.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.proc.wait(10)
        self.proc.stop()  # closes the log file

    def stop(self) -> None:
        self.proc.stop()

    def rest(
        self,
        method: str,
        path: str,
        user: str = "svc",
        body: Any = None,
        *,
        roles: tuple[str, ...] = ("service",),
        timeout: float = 30.0,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        hdrs = {"Authorization": f"Bearer {make_token(user, ORG, roles=roles)}"}
        hdrs.update(headers or {})
        with httpx.Client(base_url=self.http_url, timeout=timeout) as client:
            resp = client.request(
                method, path, json=body if content is None else None, content=content,
                headers=hdrs,
            )  # fmt: skip
        try:
            return resp.status_code, resp.json()
        except json.JSONDecodeError:
            return resp.status_code, resp.text

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""


def create_channel(server: ParleyServer, name: str, members: list[str]) -> dict[str, Any]:
    status, ch = server.rest("POST", "/v1/channels", body={"kind": "group", "name": name,
                                                           "members": members})  # fmt: skip
    assert status == 201, ch
    return dict(ch)


def messages(server: ParleyServer, channel: str) -> list[dict[str, Any]]:
    """Every message of the channel, oldest first, paged over REST."""
    out: list[dict[str, Any]] = []
    after: int | None = 0
    while after is not None:
        status, page = server.rest(
            "GET", f"/v1/channels/{channel}/messages?after={after}&limit=200"
        )
        assert status == 200, page
        out.extend(page["items"])
        after = page["next_after"]
    return out


def last_seq(server: ParleyServer, channel: str) -> int:
    status, ch = server.rest("GET", f"/v1/channels/{channel}")
    assert status == 200, ch
    return int(ch["last_seq"])


# --- A PostgreSQL of the test's own -----------------------------------------------------


class OwnPostgres:
    """``scripts/pg-test-server`` with its own state dir and port range, plus what the
    suite's shared server must never suffer: kill -9, a fast stop, a SIGSTOP stall."""

    def __init__(self, tmp: Path, port: int) -> None:
        self.env = {**os.environ, "PGTEST_DIR": str(tmp / "pg"), "PGTEST_PORT": str(port)}
        self.state = tmp / "pg"
        self.url = ""
        self._seen: set[int] = set()

    def _script(self, cmd: str) -> str:
        out = subprocess.run(
            [PG_SCRIPT, cmd], env=self.env, capture_output=True, text=True, timeout=120
        )
        assert out.returncode == 0, f"pg-test-server {cmd}: {out.stderr[-2000:]}"
        return out.stdout.strip()

    def start(self) -> str:
        self.url = self._script("start")
        return self.url

    def restart(self) -> None:
        self._reap()
        self._script("restart")

    def postmaster(self) -> int:
        return int((self.state / "pid").read_text().split()[0])

    def pids(self) -> list[int]:
        """The postmaster and its children (backends, checkpointer, walwriter...)."""
        pm = self.postmaster()
        kids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            with contextlib.suppress(OSError):
                for line in (entry / "status").read_text().splitlines():
                    if line.startswith("PPid:") and int(line.split()[1]) == pm:
                        kids.append(int(entry.name))
                        break
        found = [pm, *kids]
        self._seen.update(found)
        return found

    def kill9(self) -> None:
        """A crash: SIGKILL the postmaster only (its children notice and exit)."""
        self.pids()
        os.kill(self.postmaster(), signal.SIGKILL)

    def fast_stop(self) -> None:
        """``pg_ctl stop -m fast``: SIGINT to the postmaster; wait until it is gone."""
        pm = self.postmaster()
        os.kill(pm, signal.SIGINT)
        _wait_gone([pm], 30)

    def freeze(self) -> list[int]:
        """A stall: SIGSTOP the postmaster and every child. Returns the stopped PIDs."""
        pids = self.pids()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)
        return pids

    def thaw(self, pids: list[int]) -> None:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)

    def _reap(self) -> None:
        """Wait (bounded) for the processes of a crashed cluster to exit; SIGKILL those of
        ours that linger, so the restarted postmaster finds its shared memory free."""
        left = [p for p in self._seen if _alive(p)]
        if left and not _wait_gone(left, 15):
            for pid in left:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            _wait_gone(left, 5)

    def close(self) -> None:
        self.thaw(sorted(self._seen))
        with contextlib.suppress(Exception):
            self._script("stop")
        self._reap()


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _wait_gone(pids: list[int], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not any(_alive(p) for p in pids):
            return True
        time.sleep(0.05)
    return False


# --- WebSocket posters --------------------------------------------------------------------


@dataclass
class Ack:
    channel: str
    seq: int
    message_id: str


@dataclass
class PostLoad:
    """``posters`` python-websockets clients (user ``p{k}`` each) posting one ``post`` op at
    a time into ``channels`` (poster k into channel k mod n), each post with a unique
    idempotency key and text; every acknowledgement is kept by key. A dropped connection is
    reconnected until stopped. Bounded: ``max_posts`` per poster and ``seconds`` overall.
    """

    url: str
    channels: list[str]
    posters: int
    max_posts: int
    seconds: float
    reply_timeout: float = 20.0
    acked: dict[str, Ack] = field(default_factory=dict)
    sent: set[str] = field(default_factory=set)
    outcomes: Counter[str] = field(default_factory=Counter)
    slowest_reply: float = 0.0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    errors: list[str] = field(default_factory=list)

    @staticmethod
    def text(key: str) -> str:
        return f"reliability post {key}"

    def start(self) -> PostLoad:
        self._thread = threading.Thread(target=self._run, name="posters", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(self.seconds + self.reply_timeout + 10)
        assert not self._thread.is_alive(), "posters did not stop"
        assert not self.errors, self.errors

    def wait_acked(self, n: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while len(self.acked) < n and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(self.acked) >= n, (len(self.acked), self.outcomes)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported by stop()
            self.errors.append(repr(exc))

    async def _main(self) -> None:
        deadline = time.monotonic() + self.seconds
        await asyncio.gather(*(self._poster(k, deadline) for k in range(self.posters)))

    async def _poster(self, k: int, deadline: float) -> None:
        channel = self.channels[k % len(self.channels)]
        headers = {"Authorization": f"Bearer {make_token(f'p{k}', ORG)}"}
        j = 0
        while j < self.max_posts and not self._stop.is_set() and time.monotonic() < deadline:
            try:
                async with connect(self.url, additional_headers=headers, open_timeout=5) as ws:
                    await asyncio.wait_for(ws.recv(), 10)  # hello
                    while (
                        j < self.max_posts
                        and not self._stop.is_set()
                        and time.monotonic() < deadline
                    ):
                        key = f"p{k}-{j}"
                        j += 1
                        await self._post(ws, channel, key, j)
            except ConnectionClosed as exc:
                code = exc.rcvd.code if exc.rcvd is not None else 1006
                self.outcomes[f"closed {code}"] += 1
                await asyncio.sleep(0.1)
            except (OSError, InvalidHandshake, TimeoutError) as exc:
                self.outcomes[f"connect failed ({type(exc).__name__})"] += 1
                await asyncio.sleep(0.2)

    async def _post(self, ws: ClientConnection, channel: str, key: str, op_id: int) -> None:
        self.sent.add(key)
        t0 = time.monotonic()
        await ws.send(json.dumps({"id": op_id, "op": "post", "channel": channel,
                                  "text": self.text(key), "idempotency_key": key}))  # fmt: skip
        while True:
            try:
                raw = await asyncio.wait_for(ws.recv(), self.reply_timeout)
            except TimeoutError:
                self.outcomes["no reply within timeout"] += 1
                raise
            msg = json.loads(raw)
            if msg.get("id") == op_id:
                break
        self.slowest_reply = max(self.slowest_reply, time.monotonic() - t0)
        if msg.get("ok") is True:
            self.acked[key] = Ack(msg["channel"], int(msg["seq"]), msg["message_id"])
            self.outcomes["ok"] += 1
        else:
            self.outcomes[f"error {msg.get('error', {}).get('code')}"] += 1


def check_durable(
    server: ParleyServer,
    loads: list[PostLoad | RestProbe],
    channels: list[str],
    members: int,
    *,
    may_lose: bool = False,
) -> dict[str, int]:
    """Every acked post present exactly once with its seq and id (unless ``may_lose``: a
    PostgreSQL crash with fsync off); nothing present that was never sent; each channel's
    seqs gapless (members' events 1..members, then messages up to ``last_seq``). Returns
    the figures."""
    sent = set().union(*(load.sent for load in loads))
    acked = {k: a for load in loads for k, a in load.acked.items()}
    present: dict[str, dict[str, Any]] = {}
    dupes = 0
    for ch in channels:
        items = messages(server, ch)
        seqs = [m["seq"] for m in items]
        head = last_seq(server, ch)
        assert seqs == list(range(members + 1, head + 1)), (ch, seqs[:5], head)
        for m in items:
            key = m["text"].removeprefix("reliability post ")
            if key in present:
                dupes += 1
            present[key] = m
    missing = [k for k in acked if k not in present]
    wrong = [
        k
        for k, a in acked.items()
        if k in present
        and (present[k]["seq"], present[k]["id"], present[k]["channel"])
        != (a.seq, a.message_id, a.channel)
    ]
    unknown = [k for k in present if k not in sent]
    assert may_lose or not missing, f"acked but lost: {missing[:10]} ({len(missing)})"
    assert not wrong, f"acked with another seq/id: {wrong[:10]}"
    assert not dupes, f"{dupes} posts present twice"
    assert not unknown, f"present but never sent: {unknown[:10]}"
    return {
        "sent": len(sent),
        "acked": len(acked),
        "present": len(present),
        "committed_unacked": len(present) - (len(acked) - len(missing)),
        "lost": len(missing),
        "duplicates": dupes,
    }


@dataclass
class RestProbe:
    """One httpx client that, until stopped, reads a channel's newest message and posts one
    (by ``user``, keyed), noting each status and the slowest answer. Bounded by ``seconds``.
    """

    server: ParleyServer
    channel: str
    user: str
    seconds: float
    timeout: float = 30.0
    statuses: Counter[str] = field(default_factory=Counter)
    acked: dict[str, Ack] = field(default_factory=dict)
    sent: set[str] = field(default_factory=set)
    slowest: float = 0.0
    hung: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> RestProbe:
        self._thread = threading.Thread(target=self._run, name="rest-probe", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(self.timeout * 2 + 5)
        assert not self._thread.is_alive(), "REST probe did not stop"

    def _run(self) -> None:
        token = make_token(self.user, ORG)
        deadline = time.monotonic() + self.seconds
        path = f"/v1/channels/{self.channel}/messages"
        with httpx.Client(
            base_url=self.server.http_url,
            timeout=self.timeout,
            headers={"Authorization": f"Bearer {token}"},
        ) as client:
            n = 0
            while not self._stop.is_set() and time.monotonic() < deadline:
                n += 1
                key = f"{self.user}-{n}"
                for method, kwargs in (
                    ("GET", {"params": {"limit": 1}}),
                    ("POST", {"json": {"text": PostLoad.text(key), "idempotency_key": key}}),
                ):
                    t0 = time.monotonic()
                    if method == "POST":
                        self.sent.add(key)
                    try:
                        resp = client.request(method, path, **kwargs)
                    except httpx.TransportError as exc:
                        self.statuses[f"{method} {type(exc).__name__}"] += 1
                        if isinstance(exc, httpx.TimeoutException):
                            self.hung.append(f"{method} after {time.monotonic() - t0:.1f} s")
                        time.sleep(0.1)
                        continue
                    self.slowest = max(self.slowest, time.monotonic() - t0)
                    self.statuses[f"{method} {resp.status_code}"] += 1
                    if method == "POST" and resp.status_code == 201:
                        body = resp.json()
                        self.acked[key] = Ack(body["channel"], body["seq"], body["message_id"])
                time.sleep(0.05)

    def server_errors(self) -> list[str]:
        return [s for s in self.statuses if s.split()[-1].startswith("5") and s[-3:] != "503"]
