"""GraphiQL at /graphql: served from the package's own assets, and working offline in a
real browser (Debian's chromium, as the /docs test drives it)."""

from __future__ import annotations

import json
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from parley.settings import Settings
from tests.api.test_openapi import CHROMIUM, CHROMIUM_ARGS
from tests.conftest import make_token
from tests.support.api import Env, chat_env
from tests.support.live import live_app


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    async with chat_env(tmp_path) as e:
        yield e


async def test_graphiql_page_uses_packaged_assets(env: Env) -> None:
    resp = await env.client.get("/graphql", headers={"Accept": "text/html"})
    assert resp.status_code == 200 and resp.mimetype == "text/html"
    html = await resp.get_data(as_text=True)
    assert "https://" not in html and "http://" not in html
    assets = re.findall(r'(?:src|href)="(/graphql/assets/[^"]+)"', html)
    assert len(assets) == 4
    for asset in assets:
        got = await env.client.get(asset)
        assert got.status_code == 200, asset
        assert len(await got.get_data()) > 10_000
    assert (await env.client.get("/graphql/assets/LICENSES.txt")).status_code == 404
    assert (await env.client.get("/graphql/assets/../schema.py")).status_code == 404
    # an API client's GET (no text/html) is a query, and needs its token
    status, body = await env.call("GET", "/graphql", None, query={"query": "{ me { userId } }"})
    assert status == 401 and body["errors"][0]["extensions"]["code"] == "unauthorized"


def test_graphiql_renders_offline_in_chromium(settings: Settings) -> None:
    if not CHROMIUM.exists():  # scripts/run-tests installs it; CI must not skip the test
        if os.environ.get("CI") == "true":
            pytest.fail("Debian's chromium (/usr/bin/chromium) is missing")
        pytest.skip("needs Debian's chromium (/usr/bin/chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    headers = json.dumps({"Authorization": f"Bearer {make_token('alice')}"})
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
            # the headers pane as a user filled it in (GraphiQL keeps it in storage)
            page.add_init_script(f"localStorage.setItem('graphiql:headers', {json.dumps(headers)})")
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            with page.expect_response(
                lambda r: r.url.endswith("/graphql") and r.request.method == "POST"
            ) as introspection:
                page.goto(f"{app.http_url}/graphql")
            response = introspection.value
            schema = response.json()
            page.wait_for_selector(".graphiql-container", timeout=30_000)
            auth = response.request.headers.get("authorization", "")
        finally:
            browser.close()
    assert errors == [] and outside == []
    assert response.status == 200 and auth.startswith("Bearer ")
    assert schema["data"]["__schema"]["queryType"]["name"] == "Query"
