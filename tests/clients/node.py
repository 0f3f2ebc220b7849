"""Finding node for the JavaScript SDK's tests (scripts/run-tests installs Debian's
``nodejs`` when it is missing; under ``CI=true`` a missing node fails instead of skipping)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
JS = ROOT / "clients" / "js"


def node_or_skip() -> str:
    node = shutil.which("node")
    if node is None:
        if os.environ.get("CI") == "true":
            pytest.fail("node is missing (scripts/run-tests installs Debian's nodejs)")
        pytest.skip("needs node (Debian's nodejs)")
    return node


def node_flags(node: str) -> list[str]:
    """Node before 22 has WebSocket behind a flag (20.10+)."""
    out = subprocess.run([node, "--version"], capture_output=True, text=True, check=True)
    major = int(out.stdout.strip().lstrip("v").split(".")[0])
    if major < 20:
        pytest.fail(f"node {out.stdout.strip()} is too old for the SDK tests (20 or later)")
    return ["--experimental-websocket"] if major < 22 else []
