"""Baseline (a), the Python peer: python-websockets (asyncio) fanning out with ``broadcast()``.

Run: ``python -m bench.servers.ws_peer --port PORT``.
"""

from __future__ import annotations

import asyncio
import contextlib

from websockets.asyncio.server import ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed

from bench.servers.common import HELLO, Registry, handle, parse_args, raise_nofile

REGISTRY: Registry[ServerConnection] = Registry()


async def handler(ws: ServerConnection) -> None:
    await ws.send(HELLO, text=True)
    try:
        while True:
            payload = await ws.recv(decode=False)
            cmd = handle(REGISTRY, ws, payload)
            if cmd.event is not None and cmd.targets:
                broadcast(cmd.targets, cmd.event, text=True)
            await ws.send(cmd.reply, text=True)
    except ConnectionClosed:
        pass
    finally:
        REGISTRY.unsubscribe_all(ws)


async def amain(host: str, port: int) -> None:
    async with serve(handler, host, port, compression=None, max_queue=None, backlog=1024) as server:
        await server.serve_forever()


def main() -> None:
    args = parse_args(__doc__ or "")
    raise_nofile()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(amain(args.host, args.port))


if __name__ == "__main__":
    main()
