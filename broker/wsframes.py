"""The common inbound frame, sans-IO: complete small masked text frames, parsed in one pass.

Nearly every frame a client sends is one whole command: a final, masked, unfragmented
text frame of a few hundred bytes, often several in one read. wsproto's parser takes each
through generators, a byte buffer and a pure-Python unmasker (~10 % of the broker's thread
under ingest load). :func:`split_texts` takes such frames off the front of the bytes just
read, unmasks them with python-websockets' C routine (``websockets.speedups.apply_mask``)
and decodes them strictly as UTF-8; it stops at the first byte that starts anything else
(a control frame, a fragment, RSV bits, an unmasked or over-long frame, an 8-byte length,
a length not minimally encoded, invalid UTF-8, a frame not complete yet). What it leaves is
wsproto's, so every rule and every error (close code and reason) stays wsproto's:
:class:`broker.wsconn.WsServerConnection` calls it only while wsproto holds nothing (no
buffered bytes, no frame or fragmented message under way, its parser not finished).
Parley negotiates no extensions (see :mod:`broker.frames`), so a frame's unmasked payload
is its message.
"""

from __future__ import annotations

from collections.abc import Callable

FIN_TEXT = 0x81  # FIN set, RSV bits clear, opcode 0x1 (text)
MASKED = 0x80
SHORT_MAX = 125  # longest payload of the 1-byte length form
TWO_BYTE_LEN = 126


def _apply_mask_int(data: bytes, mask: bytes) -> bytes:
    """XOR ``data`` with the repeated 4-byte ``mask`` (one big-int XOR, no byte loop)."""
    n = len(data)
    key = int.from_bytes(mask * ((n + 3) >> 2), "little")
    return (int.from_bytes(data, "little") ^ key).to_bytes((n + 3) & ~3, "little")[:n]


try:
    from websockets.speedups import apply_mask as _c_apply_mask
except ImportError:  # a websockets built without its C extension
    apply_mask: Callable[[bytes, bytes], bytes] = _apply_mask_int
else:
    apply_mask = _c_apply_mask


def split_texts(data: bytes, texts: list[str]) -> int:
    """Append the text of each whole final masked text frame at the start of ``data`` to
    ``texts``; return how many bytes they took (the rest is for wsproto)."""
    pos = 0
    end_data = len(data)
    while end_data - pos >= 6:
        if data[pos] != FIN_TEXT:
            break
        b1 = data[pos + 1]
        if not b1 & MASKED:
            break
        length = b1 & 0x7F
        if length <= SHORT_MAX:
            start = pos + 6
        elif length == TWO_BYTE_LEN and end_data - pos >= 8:
            length = (data[pos + 2] << 8) | data[pos + 3]
            if length <= SHORT_MAX:  # not minimally encoded: wsproto refuses it
                break
            start = pos + 8
        else:
            break
        end = start + length
        if end > end_data:
            break
        try:
            text = apply_mask(data[start:end], data[start - 4 : start]).decode()
        except UnicodeDecodeError:
            break
        texts.append(text)
        pos = end
    return pos
