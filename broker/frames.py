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
