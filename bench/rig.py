"""Load rigs: which subscriber client a run uses, and how many processes of it.

A rig is named ``KIND`` or ``KIND:PROCS``: ``python`` (the asyncio client of
:mod:`bench.loadgen`, the original rig), ``c`` (the compiled epoll client of
:mod:`bench.csub`); ``python:2`` splits the subscribers over two Python processes. The
publisher is always the Python ``pub`` role: it sleeps between paced sends and stamps the
intended send time, so it is not what limits a latency run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import csub
from bench.procs import LoadGen

KINDS = ("python", "c")


@dataclass(frozen=True)
class Rig:
    kind: str
    procs: int = 1

    @property
    def name(self) -> str:
        return self.kind if self.procs == 1 else f"{self.kind}:{self.procs}"

    def unavailable(self) -> str | None:
        return csub.unavailable() if self.kind == "c" else None


def parse_rig(text: str, default_procs: int = 1) -> Rig:
    """``"c"``, ``"python"``, ``"python:2"`` -> :class:`Rig`; ValueError on anything else."""
    kind, _, procs = text.strip().partition(":")
    if kind not in KINDS:
        raise ValueError(f"unknown load client {kind!r}; choose from {', '.join(KINDS)}")
    try:
        n = int(procs) if procs else default_procs
    except ValueError:
        raise ValueError(f"bad process count in {text!r}") from None
    if n < 1:
        raise ValueError(f"process count must be >= 1 in {text!r}")
    return Rig(kind, n)


def start_sub(rig: Rig, spec: dict[str, Any], log: Path, build_dir: Path) -> LoadGen:
    """One subscriber process of ``rig`` for the ``sub`` ``spec`` (see :mod:`bench.loadgen`)."""
    if rig.kind == "python":
        return LoadGen(spec, log)
    exe = csub.build(build_dir)
    plan = log.with_suffix(".plan")
    csub.write_plan(spec, plan)
    return LoadGen(spec, log, cmd=[str(exe), str(plan)])


def normalize_result(result: dict[str, Any]) -> dict[str, Any]:
    """A ``csub`` result carries raw latency samples: encode them as loadgen's HdrHistogram."""
    if "samples" in result:
        result["hist"] = csub.hist_from_samples(result.pop("samples"))
    return result
