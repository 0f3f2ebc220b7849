"""Baseline (b), the raw ceiling: asyncio protocols, a hand-written frame codec, and each
event's frame encoded once and written as the same bytes to every subscriber's socket.
Nothing per subscriber but ``transport.write``: no Python server can fan out for less.

With ``--batch`` (target ``ceiling_batched``) frames are queued per connection and each
connection gets one ``write`` of everything queued per event-loop pass: the same coalescing
Parley's writers do, with nothing else around it.

Run: ``python -m bench.servers.raw_ceiling --port PORT [--batch]``.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys

from bench import wsframe
from bench.servers.common import HELLO, Registry, handle, parse_args, raise_nofile

REGISTRY: Registry[RawConn] = Registry()
BATCH = False
DIRTY: dict[RawConn, None] = {}


def flush() -> None:
    for c in DIRTY:
        if c.transport is not None and c.pending:
            c.transport.write(b"".join(c.pending))
        c.pending.clear()
    DIRTY.clear()


class RawConn(asyncio.Protocol):
    __slots__ = ("buf", "open", "pending", "splitter", "transport")

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buf = b""
        self.open = False
        self.splitter = wsframe.FrameSplitter()
        self.pending: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.open = False
        REGISTRY.unsubscribe_all(self)

    def data_received(self, data: bytes) -> None:
        t = self.transport
        assert t is not None
        if not self.open:
            buf = self.buf + data
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                self.buf = buf
                return
            try:
                req = wsframe.parse_request(buf[:end])
            except wsframe.HandshakeError:
                t.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                t.close()
                return
            self.open = True
            self.buf = b""
            t.write(wsframe.server_response(req) + wsframe.encode_frame(wsframe.OP_TEXT, HELLO))
            data = buf[end + 4 :]
        for op, _fin, payload in self.splitter.feed(data):
            if op == wsframe.OP_TEXT:
                cmd = handle(REGISTRY, self, payload)
                if cmd.event is not None and cmd.targets:
                    frame = wsframe.encode_frame(wsframe.OP_TEXT, cmd.event)
                    if BATCH:
                        if not DIRTY:
                            asyncio.get_running_loop().call_soon(flush)
                        for c in cmd.targets:
                            c.pending.append(frame)
                            DIRTY[c] = None
                    else:
                        for c in cmd.targets:
                            if c.transport is not None:
                                c.transport.write(frame)
                t.write(wsframe.encode_frame(wsframe.OP_TEXT, cmd.reply))
            elif op == wsframe.OP_PING:
                t.write(wsframe.encode_frame(wsframe.OP_PONG, payload))
            elif op == wsframe.OP_CLOSE:
                t.write(wsframe.encode_frame(wsframe.OP_CLOSE, payload[:2]))
                t.close()
                return


async def amain(host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(RawConn, host, port, backlog=1024)
    async with server:
        await server.serve_forever()


def main() -> None:
    global BATCH
    BATCH = "--batch" in sys.argv
    args = parse_args(__doc__ or "", sys.argv[1:] and [a for a in sys.argv[1:] if a != "--batch"])
    raise_nofile()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(amain(args.host, args.port))


if __name__ == "__main__":
    main()
