"""The OpenAPI document is valid and complete; /docs renders offline in a real browser."""

from __future__ import annotations

import json
import os
import re
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from openapi_spec_validator import validate

from parley.api.openapi import ERROR_DESCRIPTIONS, EXTRA_ERRORS
from parley.settings import Settings
from tests.support.api import Env, chat_env
from tests.support.live import live_app

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    async with chat_env(tmp_path) as e:
        yield e


async def openapi(env: Env) -> dict[str, Any]:
    status, doc = await env.call("GET", "/openapi.json", None)
    assert status == 200
    assert isinstance(doc, dict)
    return doc


def operations(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            if method in METHODS:
                yield method, path, op


async def test_document_validates(env: Env) -> None:
    validate(await openapi(env))


async def test_every_operation_is_described(env: Env) -> None:
    for method, path, op in operations(await openapi(env)):
        where = f"{method} {path}"
        assert op["summary"] and "`" not in op["summary"], where
        assert not re.search(r":[a-z]+:", op["summary"] + op.get("description", "")), where
        assert "``" not in op.get("description", ""), where
        assert op["responses"], where
        assert any(code.startswith("2") for code in op["responses"]), where
        for code, response in op["responses"].items():
            assert response["description"], f"{where} {code}"


async def test_summaries_are_whole_first_paragraphs(env: Env) -> None:
    doc = await openapi(env)
    post = doc["paths"]["/v1/channels/{channel_id}/messages"]["post"]
    assert post["summary"].endswith(".")
    listing = doc["paths"]["/v1/channels/{channel_id}/messages"]["get"]
    assert "before" in listing["summary"] and "``" not in listing["summary"]


async def test_errors_declared_with_the_error_schema(env: Env) -> None:
    doc = await openapi(env)
    for method, path, op in operations(doc):
        statuses = {int(c) for c in op["responses"] if c[0] in "45"}
        if path.startswith("/v1/"):
            assert {401, 429} <= statuses, f"{method} {path}"
            assert "security" not in op  # the document-wide bearer scheme
        if "requestBody" in op:
            assert {400, 413} <= statuses, f"{method} {path}"
        for status in statuses:
            schema = op["responses"][str(status)]["content"]["application/json"]["schema"]
            # /readyz answers 503 with its checks, not an error.
            expected = "ReadyOut" if path == "/readyz" else "ErrorOut"
            assert schema["title"] == expected, f"{method} {path} {status}"
    streams = doc["paths"]["/v1/channels/{channel_id}/streams"]["post"]["responses"]
    assert {"403", "404", "429", "503"} <= set(streams)
    assert "503" in doc["paths"]["/v1/presence"]["get"]["responses"]
    assert "409" in doc["paths"]["/v1/channels"]["post"]["responses"]
    assert set(ERROR_DESCRIPTIONS) >= {401, 403, 404, 409, 413, 429, 503}


async def test_health_needs_no_security_and_uploads_have_a_body(env: Env) -> None:
    doc = await openapi(env)
    assert doc["security"] == [{"bearer": []}]
    for path in ("/healthz", "/livez", "/readyz", "/metrics"):
        assert doc["paths"][path]["get"]["security"] == [], path
    assert "text/plain" in doc["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    upload = doc["paths"]["/v1/channels/{channel_id}/files"]["post"]
    assert "multipart/form-data" in upload["requestBody"]["content"]
    content = doc["paths"]["/v1/files/{file_id}/content"]["get"]["responses"]["200"]
    assert content["content"]["*/*"]["schema"]["format"] == "binary"


async def test_docs_page_uses_packaged_assets(env: Env) -> None:
    resp = await env.client.get("/docs")
    html = await resp.get_data(as_text=True)
    assert html.startswith("<!DOCTYPE html>") and '<meta charset="utf-8">' in html
    assert "https://" not in html
    for asset in re.findall(r'(?:src|href)="(/docs/assets/[^"]+)"', html):
        got = await env.client.get(asset)
        assert got.status_code == 200, asset
        assert len(await got.get_data()) > 1000
    assert (await env.client.get("/docs/assets/../app.py")).status_code == 404
    assert "/docs" not in (await openapi(env))["paths"]


def test_docs_render_offline_in_chromium(settings: Settings) -> None:
    if not CHROMIUM.exists():  # scripts/run-tests installs it; CI must not skip the test
        if os.environ.get("CI") == "true":
            pytest.fail("Debian's chromium (/usr/bin/chromium) is missing")
        pytest.skip("needs Debian's chromium (/usr/bin/chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with live_app(settings) as app, sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            outside: list[str] = []

            def offline(route: Any) -> None:
                url = route.request.url
                if url.startswith(app.http_url):
                    route.continue_()
                else:
                    outside.append(url)
                    route.abort()

            page.route("**/*", offline)
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(f"{app.http_url}/docs")
            page.wait_for_selector(".opblock", timeout=30_000)
            shown = page.locator(".opblock .opblock-summary-path").all_inner_texts()
            title = page.locator(".info .title").inner_text()
            with urllib.request.urlopen(f"{app.http_url}/openapi.json", timeout=30) as resp:
                doc = json.load(resp)
        finally:
            browser.close()
    assert errors == [] and outside == []
    assert title.startswith("Parley REST API")
    assert "/v1/channels" in [p.replace("\u200b", "") for p in shown]
    assert len(shown) == len(list(operations(doc)))  # every operation is listed


async def test_extra_errors_match_the_domain_raise_sites(env: Env) -> None:
    """The hand-written table names real endpoints, and declares 409 only where the domain
    or the store can conflict (api/openapi.py says where)."""
    endpoints = set(env.app.view_functions)
    assert set(EXTRA_ERRORS) <= endpoints, set(EXTRA_ERRORS) - endpoints
    conflicts = {e for e, statuses in EXTRA_ERRORS.items() if 409 in statuses}
    assert conflicts == {
        "channels.create_channel",
        "members.add_member",
        "streams.append_chunk",
        "streams.complete_stream",
        "streams.cancel_stream",
        "teams.create_team",
        "files.post_files",
        "notifications.cancel_scheduled_notification",  # already sent or cancelled
    }
    doc = await openapi(env)
    react = doc["paths"]["/v1/channels/{channel_id}/messages/{message_id}/reactions"]["post"]
    assert "409" not in react["responses"]
    post = doc["paths"]["/v1/channels/{channel_id}/messages"]["post"]["responses"]
    assert "403" in post and "409" not in post
