"""The README's Python example runs as written against a real server."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import trio

from tests.client.conftest import Server
from tests.conftest import make_token

README = Path(__file__).resolve().parents[2] / "README.md"


def python_example() -> str:
    text = README.read_text()
    section = text[text.index("### Python") :]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match is not None
    return match.group(1)


async def test_the_readme_python_example_runs(sqlite_server: Server) -> None:
    code = python_example()
    assert code.count("\n") <= 12  # "ten lines"
    code = code.replace("ws://127.0.0.1:8765/ws", sqlite_server.ws_url)
    code = code.replace("http://127.0.0.1:8080", sqlite_server.http_url)
    code = code.replace("trio.run(main)", "")
    printed: list[tuple[Any, ...]] = []
    scope: dict[str, Any] = {"TOKEN": make_token("alice"), "print": lambda *a: printed.append(a)}
    exec(compile(code, "README.md", "exec"), scope)
    with trio.fail_after(20):
        await scope["main"]()
    ((channel, seq, data),) = printed
    assert channel.startswith("ch_") and isinstance(seq, int) and seq > 0
    assert (data["text"], data["author"]) == ("hello", "alice")
