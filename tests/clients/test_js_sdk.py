"""The JavaScript SDK (clients/js): its node tests against a real ``parley serve`` (with a
restart mid-stream), run from here so ``make test`` runs them; and its close-code table
is the one of ``parley.core.codes.close_action``."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from parley.core.codes import CloseCode, close_action
from parley.settings import Settings
from tests.clients.node import JS, node_flags, node_or_skip
from tests.conftest import make_token
from tests.e2e.test_channels import rest
from tests.support.live import live_app

README = JS.parents[1] / "README.md"


def test_node_tests_pass() -> None:
    node = node_or_skip()
    tests = sorted(str(p.relative_to(JS)) for p in (JS / "test").glob("*.test.mjs"))
    assert tests, "no SDK tests found"
    env = {**os.environ, "PARLEY_PYTHON": sys.executable}
    run = subprocess.run(
        [node, *node_flags(node), "--test", "--test-timeout=120000", *tests],
        cwd=JS,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    summary = [line for line in run.stdout.splitlines() if line.startswith("# ")]
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-3000:]
    assert "# fail 0" in summary, summary
    passed = next(int(line.split()[2]) for line in summary if line.startswith("# pass"))
    assert passed >= 15, summary


def test_close_actions_match_the_protocol_table() -> None:
    node = node_or_skip()
    codes = [*map(int, CloseCode), 1006, 1012, 4004, 4499, 4501, 4999, 3000]
    script = (
        "import('./dist/parley.js').then(m => console.log(JSON.stringify("
        f"{json.dumps(codes)}.map(c => m.closeAction(c)))))"
    )
    out = subprocess.run(
        [node, "--input-type=module", "-e", script],
        cwd=JS,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert json.loads(out.stdout) == [str(close_action(c)) for c in codes]


@pytest.mark.parametrize(
    ("package", "committed"),
    [("js", JS / "dist"), ("web", JS.parent.parent / "api" / "webapp_static")],
)
def test_committed_bundles_are_built_from_the_sources(
    package: str, committed: Path, tmp_path: Path
) -> None:
    """``make run`` needs no node because the bundles are committed; they must be what
    the sources build to (``make clients`` rebuilds them). Needs the npm packages."""
    node = node_or_skip()
    src = JS.parent / package
    if not (src / "node_modules" / "esbuild").exists():
        pytest.skip(f"clients/{package}: run `make clients` (npm ci) to check the bundle")
    env = {**os.environ, "PARLEY_BUILD_OUT": str(tmp_path)}
    subprocess.run([node, "build.mjs"], cwd=src, env=env, check=True, timeout=300)
    built = sorted(p.name for p in tmp_path.iterdir())
    assert built, "nothing built"
    for name in built:
        assert (tmp_path / name).read_bytes() == (committed / name).read_bytes(), (
            f"{committed / name} is stale: run `make clients`"
        )


def test_the_readme_javascript_example_runs(settings: Settings, tmp_path: Path) -> None:
    """README "Use it" shows the SDK in ten lines: they run as written (against a live
    server; the URLs swapped for its ports, and the client closed afterwards)."""
    node = node_or_skip()
    text = README.read_text()
    section = text[text.index("### JavaScript") :]
    match = re.search(r"```js\n(.*?)```", section, re.S)
    assert match is not None
    code = match.group(1)
    assert code.count("\n") <= 12  # "ten lines"
    with live_app(settings) as app:
        token = make_token("alice")
        rest(app, "POST", "/v1/channels", "alice", {"kind": "group", "name": "readme"})
        code = code.replace("ws://127.0.0.1:8765/ws", app.ws_url)
        code = code.replace("http://127.0.0.1:8080", app.http_url)
        code = code.replace("./clients/js/dist/parley.js", (JS / "dist" / "parley.js").as_uri())
        script = tmp_path / "readme.mjs"
        script.write_text(code + "\nsetTimeout(() => client.close(), 2000);\n")
        run = subprocess.run(
            [node, *node_flags(node), str(script)],
            env={**os.environ, "TOKEN": token},
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "alice: hello from the SDK" in run.stdout, run.stdout
