"""Server-to-client WebSocket frames built once and shared by every subscriber.

Server frames are never masked (RFC 6455 5.1) and Parley negotiates no extensions, so a
text frame's bytes are the same for every connection: fan-out builds it once and each
connection's writer concatenates whatever is queued into one socket write. Inbound frames,
control frames and the handshake go through wsproto; ``tests/test_frames.py`` pins that
wsproto decodes these bytes exactly.
"""

from __future__ import annotations

import struct

FIN_TEXT = 0x81
_LEN16 = struct.Struct("!BBH")
_LEN64 = struct.Struct("!BBQ")


def text_frame(payload: bytes) -> bytes:
    """One unfragmented, unmasked text frame carrying ``payload`` (UTF-8 JSON)."""
    n = len(payload)
    if n < 126:
        return bytes((FIN_TEXT, n)) + payload
    if n < 65536:
        return _LEN16.pack(FIN_TEXT, 126, n) + payload
    return _LEN64.pack(FIN_TEXT, 127, n) + payload


def text_payloads(data: bytes) -> list[bytes]:
    """The payloads of whole :func:`text_frame` frames written back to back (what an
    outbox hands its reader): for in-process subscribers, which read frames, not sockets."""
    out: list[bytes] = []
    pos, end = 0, len(data)
    while pos < end:
        if data[pos] != FIN_TEXT or pos + 2 > end:
            raise ValueError("not a server text frame")
        n = data[pos + 1]
        head = 2
        if n == 126:
            _, _, n = _LEN16.unpack_from(data, pos)
            head = 4
        elif n == 127:
            _, _, n = _LEN64.unpack_from(data, pos)
            head = 10
        start = pos + head
        if start + n > end:
            raise ValueError("a truncated frame")
        out.append(data[start : start + n])
        pos = start + n
    return out
