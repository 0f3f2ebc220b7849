"""The REST application: ``create_app(services)``, one blueprint per resource."""

from __future__ import annotations

from quart_cors import cors
from quart_schema import HttpSecurityScheme, Info, QuartSchema
from quart_trio import QuartTrio

from parley.api import (
    accounts,
    blocks,
    bookmarks,
    bots,
    channels,
    edits,
    events,
    federation,
    health,
    locks,
    matrix,
    members,
    messages,
    notes,
    notification_rules,
    notifications,
    notify_prefs,
    pins,
    profiles,
    reactions,
    receipts,
    reminders,
    retention,
    scheduled,
    streams,
    tasks,
    teams,
    threads,
    webhooks,
)
from parley.api.deps import EXTENSION, TOKENS_EXTENSION
from parley.api.errors import install_error_handlers
from parley.api.files import bp as files_bp
from parley.api.files import install_upload_limit
from parley.api.files import links as file_links_bp
from parley.api.graphql.endpoint import bp as graphql_bp
from parley.api.graphql.graphiql import bp as graphiql_bp
from parley.api.graphql.ws import bp as graphql_ws_bp
from parley.api.health import install_request_observer
from parley.api.openapi import ParleyOpenAPI, install_docs
from parley.api.presence import bp as presence_bp
from parley.api.search import bp as search_bp
from parley.api.server import KeepAliveSafeConnection
from parley.api.tokens import VerifiedTokens
from parley.api.webapp import WebAppConfig, install_webapp
from parley.core.ports import OpsEndpoints
from parley.domain.services import Services

#: Largest request body; bigger -> 413 ``payload_too_large`` (message text is capped lower).
MAX_BODY_BYTES = 256 * 1024

TITLE = "Parley REST API"

BLUEPRINTS = (
    health.bp,
    channels.bp,
    members.bp,
    messages.bp,
    receipts.bp,
    profiles.bp,
    events.bp,
    streams.bp,
    threads.bp,
    edits.bp,
    reactions.bp,
    pins.bp,
    bookmarks.bp,
    teams.bp,
    tasks.bp,
    notes.bp,
    locks.bp,
    search_bp,
    files_bp,
    file_links_bp,
    presence_bp,
    blocks.bp,
    accounts.bp,
    retention.bp,
    federation.bp,
    matrix.bp,
    notifications.bp,
    notifications.unsubscribe,
    notification_rules.bp,
    notify_prefs.bp,
    graphql_bp,
    graphql_ws_bp,
    graphiql_bp,
    scheduled.bp,
    reminders.bp,
    webhooks.bp,
    bots.bp,
)


def create_app(
    services: Services,
    *,
    allowed_origins: tuple[str, ...] = (),
    ops: OpsEndpoints | None = None,
    webapp: WebAppConfig | None = None,
) -> QuartTrio:
    """Register the blueprints over ``services`` (built, opened and closed by the
    composition root, ``parley.app``). ``allowed_origins``: browsers that may call the
    API (CORS), the list the broker checks ``Origin`` against. ``ops``: what answers
    ``/readyz`` and ``/metrics`` and is told each request's timing. ``webapp``: what the
    web app at ``/app`` is told (api/webapp.py)."""
    app = QuartTrio("parley")
    app.asgi_http_class = KeepAliveSafeConnection  # an early error closes cleanly
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.extensions[EXTENSION] = services
    # Each token verified once, then kept until it expires (api/tokens.py).
    app.extensions[TOKENS_EXTENSION] = VerifiedTokens(services.verify, services.accounts.refuse)
    QuartSchema(
        app,
        info=Info(title=TITLE, version="1"),
        security_schemes={
            "bearer": HttpSecurityScheme(scheme="bearer", bearer_format="JWT"),
        },
        security=[{"bearer": []}],
        redoc_ui_path=None,
        scalar_ui_path=None,
        swagger_ui_path=None,  # install_docs: the same UI, from the package, no CDN
        openapi_provider_class=ParleyOpenAPI,
    )
    install_docs(app, TITLE)
    install_webapp(app, webapp or WebAppConfig())
    app.json.sort_keys = False  # type: ignore[attr-defined]  # keep the models' field order
    install_error_handlers(app)
    install_request_observer(app, ops)
    # After the error handlers: wraps the request class.
    install_upload_limit(app, services.files.config.max_upload_bytes)
    for bp in BLUEPRINTS:
        app.register_blueprint(bp)
    install_cors(app, allowed_origins)
    return app


#: What a browser on an allowed origin may send and read (see docs/rest.md, CORS).
CORS_HEADERS = ("Authorization", "Content-Type")
CORS_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
CORS_MAX_AGE = 600.0


def install_cors(app: QuartTrio, allowed_origins: tuple[str, ...]) -> None:
    """Browsers on ``PARLEY_ALLOWED_ORIGINS`` (the list the broker checks ``Origin``
    against) may call the API; with none configured, no CORS headers are sent and browsers
    keep to same-origin. Tokens travel in ``Authorization``, never cookies, so credentials
    mode stays off."""
    if not allowed_origins:
        return
    origin: str | list[str] = "*" if "*" in allowed_origins else list(allowed_origins)
    cors(
        app,
        allow_origin=origin,
        allow_headers=CORS_HEADERS,
        allow_methods=CORS_METHODS,
        max_age=CORS_MAX_AGE,
    )
