"""The REST application: ``create_app(settings, chat, verifier)``, one blueprint per resource."""

from __future__ import annotations

from quart_cors import cors
from quart_schema import HttpSecurityScheme, Info, QuartSchema
from quart_trio import QuartTrio

from parley.api import channels, events, health, members, messages, profiles, receipts, streams
from parley.api.convroutes import BLUEPRINTS as CONVERSATION_BLUEPRINTS
from parley.api.convroutes import install_conversation
from parley.api.deps import EXTENSION, ApiState
from parley.api.errors import install_error_handlers
from parley.api.files import bp as files_bp
from parley.api.files import install as install_files
from parley.api.presence import bp as presence_bp
from parley.api.search import bp as search_bp
from parley.broker.auth import TokenVerifier
from parley.chat import ChatService
from parley.config import Settings

#: Largest request body; bigger -> 413 ``payload_too_large`` (message text is capped lower).
MAX_BODY_BYTES = 256 * 1024

BLUEPRINTS = (
    health.bp,
    channels.bp,
    members.bp,
    messages.bp,
    receipts.bp,
    profiles.bp,
    events.bp,
    streams.bp,
    *CONVERSATION_BLUEPRINTS,
    search_bp,
    files_bp,
    presence_bp,
)


def create_app(settings: Settings, chat: ChatService, verifier: TokenVerifier) -> QuartTrio:
    """Build the app. The store behind ``chat`` is opened and closed by the caller."""
    app = QuartTrio("parley")
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.extensions[EXTENSION] = ApiState(settings=settings, chat=chat, verifier=verifier)
    install_conversation(app, chat)
    QuartSchema(
        app,
        info=Info(title="Parley REST API", version="1"),
        security_schemes={
            "bearer": HttpSecurityScheme(scheme="bearer", bearer_format="JWT"),
        },
        security=[{"bearer": []}],
        redoc_ui_path=None,
        scalar_ui_path=None,
    )
    app.json.sort_keys = False  # type: ignore[attr-defined]  # keep the models' field order
    install_error_handlers(app)
    install_files(app, settings, chat)  # after the error handlers: wraps the request class
    for bp in BLUEPRINTS:
        app.register_blueprint(bp)
    install_cors(app, settings)
    return app


#: What a browser on an allowed origin may send and read (see docs/rest.md, CORS).
CORS_HEADERS = ("Authorization", "Content-Type")
CORS_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
CORS_MAX_AGE = 600.0


def install_cors(app: QuartTrio, settings: Settings) -> None:
    """Browsers on ``PARLEY_ALLOWED_ORIGINS`` (the list the broker checks ``Origin``
    against) may call the API; with none configured, no CORS headers are sent and browsers
    keep to same-origin. Tokens travel in ``Authorization``, never cookies, so credentials
    mode stays off."""
    if not settings.allowed_origins:
        return
    origin: str | list[str] = (
        "*" if "*" in settings.allowed_origins else list(settings.allowed_origins)
    )
    cors(
        app,
        allow_origin=origin,
        allow_headers=CORS_HEADERS,
        allow_methods=CORS_METHODS,
        max_age=CORS_MAX_AGE,
    )
