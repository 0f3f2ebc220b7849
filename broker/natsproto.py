"""NATS's core client protocol, sans-IO (STYLE 1): bytes in, frozen events out.

The text protocol (https://docs.nats.io/reference/reference-protocols/nats-protocol):
the server sends ``INFO {json}``, ``MSG <subject> <sid> [reply] <size>`` + payload,
``PING``, ``PONG``, ``+OK`` and ``-ERR '<message>'``, each line ending in CRLF; the client
sends ``CONNECT {json}``, ``PUB``, ``SUB``, ``UNSUB``, ``PING`` and ``PONG``. Parley uses
no headers (``HMSG``), no queue groups and no replies. :class:`Parser` takes whatever
arrived and returns the complete events in it; the encoders build client commands.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

#: Control lines longer than this are a protocol error (nats-server's MAX_CONTROL_LINE
#: is 4 KiB; INFO can be longer with many cluster URLs).
MAX_CONTROL_LINE = 1 << 20
CRLF = b"\r\n"


class ProtocolError(Exception):
    """The server sent something this client cannot parse (remote fault)."""


@dataclass(frozen=True, slots=True)
class Info:
    fields: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Msg:
    subject: str
    sid: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class Ping:
    pass


@dataclass(frozen=True, slots=True)
class Pong:
    pass


@dataclass(frozen=True, slots=True)
class Ok:
    pass


@dataclass(frozen=True, slots=True)
class Err:
    message: str


Event = Info | Msg | Ping | Pong | Ok | Err
PING_EVENT = Ping()
PONG_EVENT = Pong()
OK_EVENT = Ok()


class Parser:
    """Incremental parser of the server's side of the protocol."""

    def __init__(self) -> None:
        self._buf = bytearray()
        #: A MSG header whose payload has not fully arrived: (subject, sid, size).
        self._msg: tuple[str, int, int] | None = None
        #: The last INFO the server sent.
        self.info: Info | None = None

    def feed(self, data: bytes | bytearray) -> list[Event]:
        buf = self._buf
        buf += data
        out: list[Event] = []
        pos = 0
        n = len(buf)
        while pos < n:
            if self._msg is not None:
                subject, sid, size = self._msg
                end = pos + size
                if n < end + 2:
                    break
                out.append(Msg(subject, sid, bytes(buf[pos:end])))
                pos = end + 2
                self._msg = None
                continue
            eol = buf.find(CRLF, pos)
            if eol < 0:
                if n - pos > MAX_CONTROL_LINE:
                    raise ProtocolError("control line too long")
                break
            line = bytes(buf[pos:eol])
            pos = eol + 2
            event = self._line(line)
            if event is not None:
                out.append(event)
        del buf[:pos]
        return out

    def _line(self, line: bytes) -> Event | None:
        op = line[:4].upper()
        if op == b"MSG ":
            parts = line.split()
            if len(parts) == 4:
                _, subject, sid, size = parts
            elif len(parts) == 5:
                _, subject, sid, _reply, size = parts
            else:
                raise ProtocolError(f"bad MSG line {line[:80]!r}")
            try:
                self._msg = (subject.decode(), int(sid), int(size))
            except ValueError:
                raise ProtocolError(f"bad MSG line {line[:80]!r}") from None
            return None
        if op == b"PING":
            return PING_EVENT
        if op == b"PONG":
            return PONG_EVENT
        if op == b"+OK":
            return OK_EVENT
        if op == b"-ERR":
            return Err(line[4:].strip().strip(b"'").decode(errors="replace"))
        if op == b"INFO":
            try:
                fields = orjson.loads(line[5:])
            except orjson.JSONDecodeError:
                raise ProtocolError("bad INFO json") from None
            if not isinstance(fields, dict):
                raise ProtocolError("bad INFO json")
            self.info = Info(fields)
            return self.info
        if not line:
            return None
        raise ProtocolError(f"unknown operation {line[:20]!r}")


# -- client commands ------------------------------------------------------------------------


def connect(options: dict[str, Any]) -> bytes:
    return b"CONNECT " + orjson.dumps(options) + CRLF


def pub(subject: str, payload: bytes) -> bytes:
    return b"".join((b"PUB ", subject.encode(), b" %d\r\n" % len(payload), payload, CRLF))


def sub(subject: str, sid: int) -> bytes:
    return b"SUB %s %d\r\n" % (subject.encode(), sid)


def unsub(sid: int) -> bytes:
    return b"UNSUB %d\r\n" % sid


PING = b"PING\r\n"
PONG = b"PONG\r\n"
