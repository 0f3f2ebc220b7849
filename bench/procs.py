"""Processes the bench starts and stops: servers under test and load generators.

Every process is started by this module and stopped by its own PID in ``finally``; nothing
is ever signalled by name.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

REPO = Path(__file__).resolve().parent.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")


class BenchError(Exception):
    """A run could not be carried out (a process failed, a phase timed out)."""


def raise_nofile() -> int:
    """Raise RLIMIT_NOFILE to the hard limit (children inherit it); return the soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else 1 << 20
    if soft < target:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    pp = env.get("PYTHONPATH")
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + pp if pp else "")
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("PYTHONDEVMODE", None)
    env.update(extra or {})
    return env


def _stop_popen(proc: subprocess.Popen[Any], grace: float = 5.0) -> None:
    """Stop our own child by PID: SIGINT, then SIGTERM, then SIGKILL."""
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGINT, grace), (signal.SIGTERM, 3.0), (signal.SIGKILL, 3.0)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, sig)
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def tail(path: Path, n: int = 2000) -> str:
    try:
        data = path.read_bytes()
    except OSError:
        return ""
    return data[-n:].decode("utf-8", "replace")


class ServerProc:
    """A server under test, listening on ``port`` (WebSocket) and maybe ``http_port``."""

    def __init__(
        self,
        name: str,
        cmd: list[str],
        env: dict[str, str],
        port: int,
        log: Path,
        http_port: int | None = None,
    ) -> None:
        self.name = name
        self.cmd = cmd
        self.env = env
        self.port = port
        self.http_port = http_port
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None
        self._logf: IO[bytes] | None = None

    def start(self, timeout: float = 30.0) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self._logf = self.log.open("ab")
        self.proc = subprocess.Popen(
            self.cmd,
            env=self.env,
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=self._logf,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        ports = [self.port] + ([self.http_port] if self.http_port else [])
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(
                    f"{self.name} exited with {self.proc.returncode}: {tail(self.log)}"
                )
            if all(_port_open(p) for p in ports):
                return
            time.sleep(0.05)
        self.stop()
        raise BenchError(f"{self.name} not listening after {timeout}s: {tail(self.log)}")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def rss_kib(self) -> int:
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise BenchError("no VmRSS")

    def cpu_s(self) -> float:
        with open(f"/proc/{self.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        # fields[0] is field 3 (state); utime and stime are fields 14 and 15.
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def stop(self) -> None:
        try:
            if self.proc is not None:
                _stop_popen(self.proc)
        finally:
            if self._logf is not None:
                self._logf.close()
                self._logf = None

    def __enter__(self) -> ServerProc:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        try:
            s.connect(("127.0.0.1", port))
        except OSError:
            return False
        return True


class LoadGen:
    """One ``python -m bench.loadgen`` process, driven by JSON lines."""

    def __init__(self, spec: dict[str, Any], log: Path, cmd: list[str] | None = None) -> None:
        """``cmd`` runs another program speaking the same protocol (the C subscriber,
        :mod:`bench.csub`), which gets its spec some other way: the spec line is not sent."""
        self.role = str(spec["role"])
        self.log = log
        log.parent.mkdir(parents=True, exist_ok=True)
        self._logf = log.open("ab")
        self._q: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.proc = subprocess.Popen(
            cmd or [sys.executable, "-m", "bench.loadgen"],
            env=child_env(),
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._logf,
            text=True,
            bufsize=1,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        if cmd is None:
            self.send(json.dumps(spec))

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            line = line.strip()
            if not line:
                continue
            try:
                self._q.put(json.loads(line))
            except json.JSONDecodeError:
                continue
        self._q.put(None)

    def send(self, line: str) -> None:
        if self.proc.stdin is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(BrokenPipeError, OSError, ValueError):
            self.proc.stdin.write(line + "\n")
            self.proc.stdin.flush()

    def expect(self, event: str, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BenchError(f"{self.role}: no {event!r} within {timeout:.0f}s")
            try:
                msg = self._q.get(timeout=left)
            except queue.Empty:
                continue
            if msg is None:
                self._q.put(None)
                raise BenchError(f"{self.role} exited before {event!r}: {tail(self.log, 1500)}")
            if msg.get("event") == event:
                return msg

    def stop(self) -> None:
        self.send("stop")
        try:
            if self.proc.stdin is not None:
                with contextlib.suppress(OSError):
                    self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                _stop_popen(self.proc, grace=2.0)
        finally:
            self._reader.join(timeout=5)
            if self.proc.stdout is not None and not self._reader.is_alive():
                with contextlib.suppress(OSError):
                    self.proc.stdout.close()
            self._logf.close()
