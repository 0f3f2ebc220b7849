"""The compiled subscriber (``bench/csub.c``): build it, write its plan, read its result.

The load rig's own floor was the Python subscriber (one asyncio process reading every
socket; ~15 µs of client CPU per frame, so 1,000 subscribers of one event took ~15 ms to
read). ``csub`` does the same job in C over epoll: same handshake, same counting, same
publisher stamps, same JSON-lines control, and a few hundred ns per frame. gcc is the only
tool it needs; it is built at run time (``gcc -O2``) into the bench's output directory,
keyed by a hash of its source, and never committed as a binary.

What needs Python stays here: the JWT for each connection, the handshake key and its
expected accept value, and the subscribe frames go into a plan file the binary reads.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path
from typing import Any

import orjson

from bench import wsframe
from bench.loadconn import make_headers

SOURCE = Path(__file__).with_name("csub.c")
CFLAGS = ("-O2", "-Wall", "-Wextra", "-std=gnu11")


class BuildError(Exception):
    """The C subscriber could not be built (no gcc, or it failed)."""


def unavailable() -> str | None:
    """Why the C subscriber cannot be used here, or None."""
    if shutil.which("gcc") is None:
        return "gcc not found on PATH"
    return None


def build(out_dir: Path) -> Path:
    """Compile ``csub.c`` into ``out_dir/build`` (once per source version); return the path."""
    why = unavailable()
    if why:
        raise BuildError(why)
    src = SOURCE.read_bytes()
    tag = hashlib.sha256(src + " ".join(CFLAGS).encode()).hexdigest()[:12]
    exe = out_dir / "build" / f"csub-{tag}"
    if exe.exists():
        return exe
    exe.parent.mkdir(parents=True, exist_ok=True)
    tmp = exe.with_suffix(".tmp")
    proc = subprocess.run(
        ["gcc", *CFLAGS, "-o", str(tmp), str(SOURCE)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if proc.returncode != 0:
        raise BuildError(f"gcc failed ({proc.returncode}): {proc.stderr[-1500:]}")
    tmp.replace(exe)
    return exe


def write_plan(spec: dict[str, Any], path: Path) -> None:
    """The ``sub`` spec of :mod:`bench.loadgen`, flattened for ``csub`` (see csub.c)."""
    host, port, ws_path = spec["host"], int(spec["port"]), spec.get("path", "/ws")
    sample_every = int(spec.get("sample_every", 0))
    plan: list[tuple[list[str], int]] = []
    for g in spec["groups"]:
        plan.extend([(list(g["patterns"]), int(g["expected"]))] * int(g["count"]))
    head = "CSUB1 {} {} {} {} {} {} {} {}\n".format(
        host,
        port,
        len(plan),
        float(spec.get("deadline", 120.0)),
        float(spec.get("drain_timeout", 5.0)),
        float(spec.get("connect_timeout", 120.0)),
        int(spec.get("connect_concurrency", 100)),
        float(spec.get("per_conn_timeout", 30.0)),
    )
    parts = [head.encode()]
    for i, (patterns, expected) in enumerate(plan):
        req, acc = wsframe.client_request(host, port, ws_path, make_headers(spec, i))
        setup = b"".join(
            wsframe.encode_frame(
                wsframe.OP_TEXT,
                orjson.dumps({"id": k, "op": "subscribe", "topic": p}),
                mask=True,
            )
            for k, p in enumerate(patterns, 1)
        )
        sampled = int(bool(sample_every) and i % sample_every == 0)
        parts.append(
            f"{expected} {sampled} {len(patterns)} {len(req)} {len(acc)} {len(setup)}\n".encode()
        )
        parts += [req, acc, setup]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(parts))


def hist_from_samples(samples: list[list[int]]) -> str | None:
    """``csub``'s sparse ``[[µs, count], ...]`` as an encoded HdrHistogram (as loadgen's)."""
    if not samples:
        return None
    from bench.loadconn import hist

    h = hist()
    for value, count in samples:
        h.record_value(min(int(value), 120_000_000), int(count))
    encoded: bytes = h.encode()
    return encoded.decode()
