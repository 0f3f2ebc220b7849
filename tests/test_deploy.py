"""The deployment files: the image runs as non-root and checks /readyz, the dashboard
queries only series Parley exports (docs/deploy.md lists them), the unit runs serve."""

from __future__ import annotations

import json
import re
from pathlib import Path

from parley.ops.metrics import Metrics

ROOT = Path(__file__).parent.parent


def test_dockerfile_is_non_root_with_a_readiness_healthcheck() -> None:
    text = (ROOT / "Dockerfile").read_text()
    users = re.findall(r"^USER\s+(\S+)", text, re.MULTILINE)
    assert users and users[-1] not in ("root", "0")
    assert re.search(r"^HEALTHCHECK .*\n?.*/readyz", text, re.MULTILINE)
    assert 'CMD ["serve"]' in text


def test_systemd_unit_serves_and_stops_with_sigterm() -> None:
    text = (ROOT / "deploy" / "parley.service").read_text()
    assert "ExecStart=/opt/parley/bin/parley serve" in text
    assert "KillSignal=SIGTERM" in text and "User=parley" in text


def exported() -> set[str]:
    names = {m.name for m in Metrics().registry.collect()}
    doc = (ROOT / "docs" / "deploy.md").read_text()
    return names | set(re.findall(r"`(parley_[a-z_]+)", doc))


def test_dashboard_uses_exported_series() -> None:
    dash = json.loads((ROOT / "deploy" / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    used = {
        re.sub(r"_(bucket|sum|count|total)$", "", n)
        for e in exprs
        for n in re.findall(r"parley_[a-z_]+", e)
    }
    known = {re.sub(r"_total$", "", n) for n in exported()}
    assert used and used <= known, used - known
