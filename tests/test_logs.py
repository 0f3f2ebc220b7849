"""Logs: JSON lines or pretty output through structlog; tokens and secrets never written."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from parley.broker.auth import issue_token
from parley.logs import REDACTED, configure_logging, scrub
from tests.conftest import SECRET


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for h in list(root.handlers):
        root.removeHandler(h)
    for h in handlers:
        root.addHandler(h)
    root.setLevel(level)


def test_json_lines_at_the_configured_level(restore_logging: None) -> None:
    out = io.StringIO()
    configure_logging("warning", "json", out)
    log = logging.getLogger("parley.test")
    log.info("not shown")
    log.warning("port %d busy", 8080)
    (line,) = out.getvalue().splitlines()
    record = json.loads(line)
    assert (record["event"], record["level"], record["logger"]) == (
        "port 8080 busy",
        "warning",
        "parley.test",
    )
    assert record["timestamp"].endswith("Z")


def test_pretty_output_is_not_json(restore_logging: None) -> None:
    out = io.StringIO()
    configure_logging("info", "pretty", out)
    logging.getLogger("hypercorn.error").info("Running on http://127.0.0.1:1")
    text = out.getvalue()
    assert "Running on http://127.0.0.1:1" in text and not text.startswith("{")


def test_tokens_and_secrets_are_scrubbed(restore_logging: None) -> None:
    token = issue_token(SECRET, sub="a", org="acme", ttl=60)
    out = io.StringIO()
    configure_logging("info", "json", out)
    log = logging.getLogger("hypercorn.access")
    log.info('127.0.0.1 "GET /v1/x?access_token=%s HTTP/1.1" 200', token)
    log.info("Authorization: Bearer %s", "opaque-credential")
    log.info("store postgresql://parley:hunter2@db/parley")
    try:
        raise ValueError(f"bad {token}")
    except ValueError:
        log.exception("failed")
    text = out.getvalue()
    assert token not in text and "opaque-credential" not in text and "hunter2" not in text
    assert text.count(REDACTED) >= 4
    assert scrub(f"token={token}&x=1") == f"token={REDACTED}&x=1"
    # a signed file download link is a credential too
    assert scrub("GET /v1/files/f1/download?link=WyJhIl0.c2ln HTTP/1.1") == (
        f"GET /v1/files/f1/download?link={REDACTED} HTTP/1.1"
    )
