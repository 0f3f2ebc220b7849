"""The web app's routes (api/webapp.py): ``/`` redirects, the page and its files come from
the package with a strict CSP, ``/app/config`` tells the broker URL, and "sign in as"
exists only on a development server, for callers on this machine."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from quart import typing as qt

from parley.api.app import create_app
from parley.api.webapp import STATIC, WebAppConfig
from parley.broker.auth import issue_token
from tests.support.api import SECRET, RecordingSink, make_services, make_settings, open_test_store


@dataclass
class Web:
    client: qt.TestClientProtocol
    config: WebAppConfig


@pytest.fixture
async def web(tmp_path: Path) -> AsyncIterator[Web]:
    config = WebAppConfig(ws_port=18765, http_port=18080, meeting_url_template="")
    async with open_test_store(tmp_path) as store:
        app = create_app(make_services(store, RecordingSink(), make_settings()), webapp=config)
        async with app.test_app() as test_app:
            yield Web(test_app.test_client(), config)


#: The test client's default request has no peer address: say it comes from this machine.
LOOPBACK = {"client": ("127.0.0.1", 50000)}


def dev_signer(sub: str, org: str) -> str:
    return issue_token(SECRET, sub=sub, org=org, ttl=60)


async def test_root_redirects_to_the_app(web: Web) -> None:
    res = await web.client.get("/")
    assert res.status_code == 302
    assert res.headers["Location"].endswith("/app")


async def test_the_page_and_its_files_come_from_the_package(web: Web) -> None:
    for path in ("/app", "/app/"):
        res = await web.client.get(path)
        assert res.status_code == 200
        assert res.content_type == "text/html; charset=utf-8"
        assert "script-src 'self'" in res.headers["Content-Security-Policy"]
        page = await res.get_data(as_text=True)
        assert '<script type="module" src="/app/app.js">' in page
        assert "http" not in page.replace("http-equiv", "")  # no CDN
    js = await web.client.get("/app/app.js")
    assert js.status_code == 200
    assert js.content_type.startswith("text/javascript")
    assert await js.get_data() == (STATIC / "app.js").read_bytes()
    css = await web.client.get("/app/app.css")
    assert css.content_type.startswith("text/css")
    assert b"prefers-color-scheme" in await css.get_data()


@pytest.mark.parametrize("name", ["nope.js", ".hidden.js", "app.py", "..%2Fapp.py"])
async def test_other_files_are_not_found(web: Web, name: str) -> None:
    res = await web.client.get(f"/app/{name}")
    assert res.status_code == 404
    assert (await res.get_json())["error"]["code"] == "not_found"


async def test_config_names_the_broker_for_the_page(web: Web) -> None:
    direct = await web.client.get("/app/config", headers={"Host": "127.0.0.1:18080"})
    assert await direct.get_json() == {
        "ws_url": "ws://127.0.0.1:18765/ws",
        "meeting_url_template": None,
        "dev_sign_in": False,
    }
    proxied = await web.client.get("/app/config", headers={"Host": "chat.example"})
    assert (await proxied.get_json())["ws_url"] == "ws://chat.example/ws"
    web.config.meeting_url_template = "https://meet.example/p-{room}"
    res = await web.client.get("/app/config", headers={"Host": "[::1]:18080"})
    body = await res.get_json()
    assert body["ws_url"] == "ws://[::1]:18765/ws"
    assert body["meeting_url_template"] == "https://meet.example/p-{room}"


async def test_sign_in_as_is_absent_unless_a_development_server(web: Web) -> None:
    res = await web.client.post(
        "/app/dev/sign-in", json={"user": "alice", "org": "acme"}, scope_base=LOOPBACK
    )
    assert res.status_code == 404
    assert (await res.get_json())["error"]["code"] == "not_found"


async def test_sign_in_as_signs_a_token_on_a_development_server(web: Web) -> None:
    web.config.dev_sign_in = dev_signer
    assert (await (await web.client.get("/app/config")).get_json())["dev_sign_in"] is True
    res = await web.client.post(
        "/app/dev/sign-in", json={"user": "alice", "org": "acme"}, scope_base=LOOPBACK
    )
    assert res.status_code == 200
    body = await res.get_json()
    assert (body["user"], body["org"]) == ("alice", "acme")
    claims = make_settings().token_verifier().verify(body["token"])
    assert (claims.sub, claims.org) == ("alice", "acme")
    # The token works on /v1 like any other.
    me = await web.client.get("/v1/profile", headers={"Authorization": f"Bearer {body['token']}"})
    assert me.status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {"user": ""},
        {"user": "a\x00b"},
        {"user": "x" * 129},
        {"user": "a", "org": "a.b"},
        {"user": "a", "extra": 1},
        ["alice"],
        {"user": 5},
    ],
)
async def test_sign_in_as_refuses_bad_input(web: Web, body: object) -> None:
    web.config.dev_sign_in = dev_signer
    res = await web.client.post("/app/dev/sign-in", json=body, scope_base=LOOPBACK)
    assert res.status_code == 400
    assert (await res.get_json())["error"]["code"] == "bad_request"


async def test_sign_in_as_is_for_this_machine_only(web: Web) -> None:
    web.config.dev_sign_in = dev_signer
    res = await web.client.post(
        "/app/dev/sign-in",
        json={"user": "alice"},
        scope_base={"client": ("192.0.2.7", 5000)},
    )
    assert res.status_code == 404
