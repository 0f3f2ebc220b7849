"""Baseline (c): picows (Cython WebSocket library on asyncio); each event's JSON encoded once,
``WSTransport.send`` per subscriber (picows frames it in C).

Run: ``python -m bench.servers.picows_peer --port PORT``.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_create_server

from bench.servers.common import HELLO, Registry, handle, parse_args, raise_nofile

REGISTRY: Registry[Listener] = Registry()


class Listener(WSListener):
    def __init__(self) -> None:
        super().__init__()
        self.transport: WSTransport | None = None

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport
        transport.send(WSMsgType.TEXT, HELLO)

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        REGISTRY.unsubscribe_all(self)
        self.transport = None

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.TEXT:
            cmd = handle(REGISTRY, self, frame.get_payload_as_bytes())
            if cmd.event is not None and cmd.targets:
                event = cmd.event
                for listener in cmd.targets:
                    t = listener.transport
                    if t is not None:
                        t.send(WSMsgType.TEXT, event)
            transport.send(WSMsgType.TEXT, cmd.reply)
        elif frame.msg_type == WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code())
            transport.disconnect()


def factory(_request: Any) -> Listener:
    return Listener()


async def amain(host: str, port: int) -> None:
    server = await ws_create_server(factory, host, port, backlog=1024)
    async with server:
        await server.serve_forever()


def main() -> None:
    args = parse_args(__doc__ or "")
    raise_nofile()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(amain(args.host, args.port))


if __name__ == "__main__":
    main()
