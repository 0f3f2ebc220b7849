"""Configuration: one settings model for every ``PARLEY_*`` variable, flag and config key.

The one place that reads configuration. :class:`SettingsModel` (pydantic-settings) declares
every setting once, with its type, bounds, default and description; it reads, in order of
precedence, command-line flags, ``PARLEY_*`` environment variables, an optional TOML file
(``--config``) and the defaults, and validates them all at start. :func:`load_settings`
turns a validation failure into :class:`SettingsError`, one line per bad setting that
names it. The model then becomes :class:`Settings`, the frozen value the composition root
(``parley.app``) hands out as each part's own config object. docs/configuration.md is
generated from the model (:func:`reference_markdown`) and a test keeps it so.
"""

from __future__ import annotations

import json
import os
import secrets
import tomllib
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)
from pydantic_settings.sources.utils import parse_env_vars

from parley.broker.access import DEFAULT_TOPIC_NAMESPACES, TopicPolicy
from parley.broker.auth import MIN_SECRET_BYTES, TokenVerifier
from parley.broker.config import BrokerConfig
from parley.broker.natsclient import parse_servers
from parley.broker.presence import PresenceConfig
from parley.core.limits import Limits
from parley.domain.federation import FederationConfig, MatrixConfig, XmppConfig
from parley.domain.files import FilesConfig
from parley.domain.jobs import JobsConfig
from parley.domain.notify_config import NotifyConfig
from parley.domain.notify_email import parse_smtp_url
from parley.domain.notify_push import VapidKey, new_private_key_pem
from parley.domain.previews import PreviewConfig
from parley.domain.ratelimits import RateLimitConfig
from parley.domain.webhooks import WebhookConfig

DEFAULT_WS_PORT = 8765
DEFAULT_HTTP_PORT = 8080
SECRET_FILE = "jwt_secret"
VAPID_FILE = "vapid_private_key.pem"
ENV_PREFIX = "PARLEY_"

LogLevel = Literal["debug", "info", "warning", "error"]
#: SQLite's ``PRAGMA synchronous`` levels (store/sqlite.py, docs/storage.md#durability).
SqliteSynchronous = Literal["off", "normal", "full", "extra"]
LogFormat = Literal["auto", "json", "pretty"]


@dataclass(frozen=True)
class ClusterConfig:
    """Many nodes over NATS (docs/cluster.md). No ``nats_servers``: one node, in memory."""

    nats_servers: tuple[str, ...] = ()
    nats_token: str = ""
    nats_user: str = ""
    nats_password: str = ""
    nats_creds_file: Path | None = None
    nats_tls: bool = False
    nats_tls_ca_file: Path | None = None
    nats_tls_cert_file: Path | None = None
    nats_tls_key_file: Path | None = None
    gap_wait: float = 0.1
    node_heartbeat: float = 5.0

    @property
    def enabled(self) -> bool:
        return bool(self.nats_servers)


class SettingsError(ValueError):
    """Bad configuration: ``lines`` says, one line per setting, what is wrong with which."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


@dataclass(frozen=True)
class Settings:
    """The validated configuration, as the composition root uses it."""

    host: str = "127.0.0.1"
    ws_port: int = DEFAULT_WS_PORT
    http_port: int = DEFAULT_HTTP_PORT
    data_dir: Path = Path("data")
    database_url: str = ""  # empty: SQLite file in data_dir
    #: Seconds start-up keeps retrying an unreachable database before giving up.
    database_connect_timeout: float = 30.0
    database_statement_timeout: float = 30.0
    sqlite_synchronous: SqliteSynchronous = "normal"
    jwt_secret: str = ""
    jwt_public_key: str = ""  # PEM; enables RS256/ES256
    #: Exact origins allowed (``*`` allows any). Empty: allow requests without an Origin
    #: header (non-browser clients) and same-host browser origins only.
    allowed_origins: tuple[str, ...] = ()
    topic_namespaces: str = DEFAULT_TOPIC_NAMESPACES
    ping_interval: float = 25.0
    ping_timeout: float = 10.0
    handshake_timeout: float = 10.0
    shutdown_timeout: float = 5.0
    drain_delay: float = 0.0
    log_level: LogLevel = "info"
    log_format: LogFormat = "auto"
    access_log: bool = False
    #: The "start a call" link of the web app: ``{room}`` becomes a fresh room name
    #: (docs/clients.md). Empty: no call button.
    meeting_url_template: str = ""
    limits: Limits = field(default_factory=Limits)
    presence: PresenceConfig = field(default_factory=PresenceConfig)
    files: FilesConfig = field(default_factory=FilesConfig)
    previews: PreviewConfig = field(default_factory=PreviewConfig)
    rate_limits: RateLimitConfig = field(default_factory=RateLimitConfig)
    federation: FederationConfig = field(default_factory=FederationConfig)
    notifications: NotifyConfig = field(default_factory=NotifyConfig)
    jobs: JobsConfig = field(default_factory=JobsConfig)
    webhooks: WebhookConfig = field(default_factory=WebhookConfig)
    cluster: ClusterConfig = field(default_factory=lambda: ClusterConfig())

    @property
    def broker(self) -> BrokerConfig:
        return BrokerConfig(
            host=self.host,
            port=self.ws_port,
            allowed_origins=self.allowed_origins,
            same_host_ports=(self.http_port,) if self.http_port else (),
            ping_interval=self.ping_interval,
            ping_timeout=self.ping_timeout,
            handshake_timeout=self.handshake_timeout,
            shutdown_timeout=self.shutdown_timeout,
            topic_namespaces=self.topic_namespaces,
            limits=self.limits,
        )

    def token_verifier(self) -> TokenVerifier:
        return TokenVerifier(self.jwt_secret, self.jwt_public_key)

    @property
    def blob_dir(self) -> Path:
        return self.files.blob_dir or self.data_dir / "blobs"

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "parley.sqlite3"

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.sqlite_path}"

    @property
    def secret_path(self) -> Path:
        return self.data_dir / SECRET_FILE

    @property
    def vapid_path(self) -> Path:
        return self.data_dir / VAPID_FILE

    def with_vapid_key(self) -> tuple[Settings, str]:
        """Return settings with a VAPID private key (Web Push), and where it came from:
        ``"configured"``, ``"loaded"`` (kept in the data dir by an earlier start) or
        ``"generated"`` (now, and kept in the data dir, readable by the owner only)."""
        if self.notifications.vapid_private_key:
            return self, "configured"
        try:
            kept = self.vapid_path.read_text()
            source = "loaded"
        except FileNotFoundError:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            kept = new_private_key_pem()
            fd = os.open(self.vapid_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(kept)
            source = "generated"
        config = replace(self.notifications, vapid_private_key=kept)
        return replace(self, notifications=config), source

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """The settings from ``PARLEY_*`` variables (``os.environ`` by default) and the
        defaults. Raises :class:`SettingsError`."""
        return load_settings(env)

    def signing_secret(self) -> str | None:
        """The HS256 secret tokens are signed with: the configured one, else the one a
        server generated in the data dir, else ``None`` (nothing is generated here)."""
        if self.jwt_secret:
            return self.jwt_secret
        try:
            kept = self.secret_path.read_text().strip()
        except FileNotFoundError:
            return None
        return kept or None

    def with_secret(self) -> tuple[Settings, str]:
        """Return settings with a JWT secret, and where it came from: ``"configured"``,
        ``"loaded"`` (kept in the data dir by an earlier start) or ``"generated"`` (now,
        and kept in the data dir, readable by the owner only)."""
        if self.jwt_secret or self.jwt_public_key:
            return self, "configured"
        if (kept := self.signing_secret()) is not None:
            return replace(self, jwt_secret=kept), "loaded"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        secret = new_secret()
        fd = os.open(self.secret_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secret + "\n")
        return replace(self, jwt_secret=secret), "generated"


def new_secret() -> str:
    """A fresh HS256 secret: 48 random bytes, URL-safe base64 (64 characters)."""
    return secrets.token_urlsafe(48)


# --- The model -------------------------------------------------------------------------

_LIMITS = Limits()
_PRESENCE = PresenceConfig()
_FILES = FilesConfig()
_PREVIEWS = PreviewConfig()
_RATES = RateLimitConfig()
_FEDERATION = FederationConfig()
_NOTIFY = NotifyConfig()
_JOBS = JobsConfig()
_WEBHOOKS = WebhookConfig()


def _setting(default: Any, description: str, **kw: Any) -> Any:
    return Field(default, description=description, **kw)


Port = Annotated[int, Field(ge=0, le=65535)]
#: A positive finite number (seconds, rates).
Positive = Annotated[float, Field(gt=0, allow_inf_nan=False)]
Count = Annotated[int, Field(gt=0)]
Origins = Annotated[tuple[str, ...], NoDecode]


class SettingsModel(BaseSettings):
    """Every setting. Environment variable: ``PARLEY_`` + the name upper-cased; config
    file key: the name; flag (where ``parley serve`` has one): ``--`` + the name with
    dashes."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_ignore_empty=True,
        extra="forbid",
        frozen=True,
        validate_default=False,
    )

    # Network
    host: str = _setting("127.0.0.1", "Bind address of both servers.", min_length=1)
    ws_port: Port = _setting(DEFAULT_WS_PORT, "WebSocket (broker) port; 0 picks a free one.")
    http_port: Port = _setting(DEFAULT_HTTP_PORT, "REST API port; 0 picks a free one.")
    allowed_origins: Origins = _setting(
        (),
        "Browser origins allowed on the WebSocket and, through CORS, the REST API; "
        "comma-separated, `*` for any. Empty: clients without an `Origin` header and "
        "same-host browser pages only.",
    )
    topic_namespaces: str = _setting(
        DEFAULT_TOPIC_NAMESPACES,
        "Topic namespaces inside an org and who may subscribe and publish there, as JSON "
        '`{"PREFIX": {"subscribe": ["any" | "role:NAME"], "publish": [...]}}` '
        "(docs/protocol.md, topic permissions).",
    )
    # Storage
    data_dir: Path = _setting(
        Path("data"), "Directory of the SQLite file, the blobs and the generated JWT secret."
    )
    database_url: SecretStr = _setting(
        SecretStr(""),
        "`sqlite:///PATH` or `postgresql://USER:PASSWORD@HOST/DB` (also `postgres://`). "
        "Empty: SQLite in the data directory. Its password is redacted when shown.",
    )
    database_connect_timeout: Positive = _setting(
        30.0, "Seconds start-up retries an unreachable database (with backoff) before failing."
    )
    database_statement_timeout: Positive = _setting(
        30.0,
        "Seconds a PostgreSQL statement may run before the server cancels it; the request "
        "then fails as an outage (503 / `unavailable`).",
    )
    sqlite_synchronous: SqliteSynchronous = _setting(
        "normal",
        "SQLite `PRAGMA synchronous`: what an acknowledged write survives. `normal`: a "
        "process crash, not a power loss; `full`/`extra`: a power loss too; `off`: neither "
        "an OS crash nor a power loss.",
    )
    blob_dir: Path | None = _setting(None, "Directory of uploaded files; default DATA_DIR/blobs.")
    max_upload_bytes: Count = _setting(
        _FILES.max_upload_bytes, "Largest file upload in bytes; bigger gets 413."
    )
    upload_quota_user_bytes: Count = _setting(
        _FILES.user_quota_bytes,
        "Bytes of files one user may keep stored in an org (posted or not); over: 429.",
    )
    upload_quota_org_bytes: Count = _setting(
        _FILES.org_quota_bytes, "Bytes of files one org may keep stored; over: 429."
    )
    # Tokens
    jwt_secret: SecretStr = _setting(
        SecretStr(""),
        f"HS256 secret, at least {MIN_SECRET_BYTES} bytes (`parley secret` makes one). "
        "Empty and no public key: `parley serve` generates one into DATA_DIR/jwt_secret.",
    )
    jwt_public_key: str = _setting(
        "", "PEM RSA or EC P-256 public key: also accept RS256/ES256 tokens of your issuer."
    )
    jwt_public_key_file: Path | None = _setting(
        None, "File holding the PEM public key, instead of `jwt_public_key`."
    )
    # Connections
    ping_interval: Positive = _setting(25.0, "Seconds between WebSocket keepalive pings.")
    ping_timeout: Positive = _setting(
        10.0, "Seconds a pong may take before the connection is closed."
    )
    handshake_timeout: Positive = _setting(10.0, "Seconds a WebSocket handshake may take.")
    shutdown_timeout: Annotated[float, Field(ge=0, allow_inf_nan=False)] = _setting(
        5.0, "Seconds in-flight requests and connections get to finish on shutdown."
    )
    drain_delay: Annotated[float, Field(ge=0, allow_inf_nan=False)] = _setting(
        0.0,
        "Seconds a graceful shutdown keeps serving with `/readyz` unready before it closes "
        "connections, so a load balancer drains the node (a second signal skips the wait).",
    )
    # Logging
    log_level: LogLevel = _setting("info", "Least severe log level written.")
    log_format: LogFormat = _setting(
        "auto", "`json` lines, `pretty` for people, or `auto`: pretty on a terminal, else JSON."
    )
    access_log: bool = _setting(False, "Log one line per HTTP request (Hypercorn's access log).")
    meeting_url_template: str = _setting(
        "",
        'The web app\'s "start a call" link, an http(s) URL where `{room}` becomes a fresh '
        "room name (e.g. `https://meet.jit.si/parley-{room}`). Empty: no call button.",
    )
    # Limits (docs/protocol.md#limits)
    max_frame_bytes: Count = _setting(
        _LIMITS.max_frame_bytes, "Largest inbound WebSocket frame in bytes; bigger closes 1009."
    )
    max_subscriptions: Count = _setting(
        _LIMITS.max_subscriptions, "Subscriptions one connection may hold."
    )
    max_connections: Count = _setting(
        _LIMITS.max_connections, "Connections the whole server accepts; more close 4003."
    )
    max_connections_per_user: Count = _setting(
        _LIMITS.max_connections_per_user, "Concurrent connections of one user; more close 4500."
    )
    publish_rate: Positive = _setting(
        _LIMITS.publish_rate, "Publishes per second per connection (token bucket)."
    )
    publish_burst: Count = _setting(_LIMITS.publish_burst, "Burst of the publish token bucket.")
    user_publish_rate: Positive = _setting(
        _LIMITS.user_publish_rate,
        "Publishes per second per user, over all of the user's connections (token bucket).",
    )
    user_publish_burst: Count = _setting(
        _LIMITS.user_publish_burst, "Burst of the per-user publish token bucket."
    )
    max_bad_frames: Annotated[int, Field(ge=0)] = _setting(
        _LIMITS.max_bad_frames, "Error replies tolerated before close 1008."
    )
    outbox_max_frames: Count = _setting(
        _LIMITS.outbox_max_frames,
        "Outbound frames queued for one connection before it is a slow consumer (close 4000).",
    )
    outbox_max_bytes: Count = _setting(
        _LIMITS.outbox_max_bytes,
        "Outbound bytes queued for one connection before it is a slow consumer (close 4000).",
    )
    max_in_flight: Count = _setting(
        _LIMITS.max_in_flight, "Commands awaiting the store at once per connection."
    )
    recovery_max_events: Count = _setting(
        _LIMITS.recovery_max_events, "Events one recovery replay delivers at most."
    )
    # REST rate limits (docs/rest.md#limits)
    rest_write_rate: Positive = _setting(
        _RATES.write_rate,
        "REST writes (POST, PUT, PATCH, DELETE) per second per token (token bucket); over: 429.",
    )
    rest_write_burst: Count = _setting(_RATES.write_burst, "Burst of the REST write bucket.")
    rest_read_rate: Positive = _setting(
        _RATES.read_rate, "REST reads (GET) per second per token (token bucket); over: 429."
    )
    rest_read_burst: Count = _setting(_RATES.read_burst, "Burst of the REST read bucket.")
    rest_service_rate_factor: Annotated[float, Field(ge=1, allow_inf_nan=False)] = _setting(
        _RATES.service_factor,
        "Service tokens get this many times the REST rates and bursts.",
    )
    # Presence (docs/presence.md)
    presence_flush_interval: Positive = _setting(
        _PRESENCE.flush_interval, "Seconds between presence flushes."
    )
    presence_idle_after: Positive = _setting(
        _PRESENCE.idle_after, "Seconds without a command before a user is `away`."
    )
    presence_max_entries: Count = _setting(
        _PRESENCE.max_entries, "Users in one presence frame at most."
    )
    presence_typing_ttl: Positive = _setting(
        _PRESENCE.typing_ttl, "Seconds a `typing` event holds unless repeated."
    )
    presence_typing_refresh: Positive = _setting(
        _PRESENCE.typing_refresh, "Seconds within which a repeated `typing` is coalesced."
    )
    presence_typing_rate: Positive = _setting(
        _PRESENCE.typing_rate, "Typing pushes per second per user (token bucket)."
    )
    presence_typing_burst: Count = _setting(
        _PRESENCE.typing_burst, "Burst of the typing token bucket."
    )
    # Cluster (docs/cluster.md)
    nats_url: SecretStr = _setting(
        SecretStr(""),
        "NATS servers, comma-separated (`nats://HOST:PORT`, `tls://HOST:PORT`, credentials "
        "may be in the URL): run as one node of a cluster. Empty: one node, in memory. "
        "Passwords are redacted when shown.",
    )
    nats_token: SecretStr = _setting(SecretStr(""), "NATS authentication token.")
    nats_user: str = _setting("", "NATS user name (with `nats_password`).")
    nats_password: SecretStr = _setting(SecretStr(""), "NATS password.")
    nats_creds_file: Path | None = _setting(
        None, "NATS credentials file (`.creds`: user JWT and NKey seed)."
    )
    nats_tls: bool = _setting(False, "Require TLS to NATS (also implied by `tls://` URLs).")
    nats_tls_ca_file: Path | None = _setting(None, "CA bundle that signs the NATS servers.")
    nats_tls_cert_file: Path | None = _setting(None, "Client certificate for NATS (mutual TLS).")
    nats_tls_key_file: Path | None = _setting(None, "Key of the NATS client certificate.")
    cluster_gap_wait: Positive = _setting(
        0.1,
        "Seconds a node holds a channel's later events when one is missing before it reads "
        "the missing ones from the store.",
    )
    node_heartbeat: Positive = _setting(
        5.0,
        "Seconds between a node's heartbeats in the database; a node is live for three.",
    )
    # Link previews (docs/conversation.md)
    preview_hosts: Origins = _setting(
        (), "Hosts whose links get previews, comma-separated (`HOST[:PORT][!private]`); empty: off."
    )
    preview_timeout: Positive = _setting(_PREVIEWS.timeout, "Seconds one preview fetch may take.")
    # Notifications (docs/notifications.md)
    public_url: str = _setting(
        "",
        "Base URL users reach this server's REST API at (unsubscribe links in emails); "
        "empty: `http://HOST:HTTP_PORT`.",
    )
    smtp_url: SecretStr = _setting(
        SecretStr(""),
        "`smtp://[USER:PASSWORD@]HOST:PORT[?starttls=true]` or `smtps://...`: the server "
        "notification digests go out through. Empty: no email.",
    )
    smtp_from: str = _setting(_NOTIFY.smtp_from, "The `From` of notification emails.")
    email_delay: Annotated[float, Field(ge=0, allow_inf_nan=False)] = _setting(
        _NOTIFY.email_delay,
        "Seconds a notification must stay unread before it is emailed (in a digest).",
    )
    email_interval: Positive = _setting(
        _NOTIFY.email_interval, "Seconds between two sweeps of the email step (digests)."
    )
    vapid_private_key: SecretStr = _setting(
        SecretStr(""),
        "PEM EC P-256 private key that signs Web Push (VAPID). Empty: `parley serve` "
        "generates one into DATA_DIR/vapid_private_key.pem.",
    )
    vapid_subject: str = _setting(
        _NOTIFY.vapid_subject,
        "The contact (`mailto:` or `https:`) in VAPID tokens, for push services.",
    )
    push_ttl: Annotated[int, Field(ge=0, le=2_419_200)] = _setting(
        _NOTIFY.push_ttl, "Seconds a push service keeps an undelivered Web Push (TTL)."
    )

    # Federation (docs/federation.md)
    federation_rate: Positive = _setting(
        _FEDERATION.rate, "Events relayed per second per federated channel link (token bucket)."
    )
    federation_burst: Count = _setting(_FEDERATION.burst, "Burst of the relay token bucket.")
    federation_outbox_max: Count = _setting(
        _FEDERATION.outbox_max,
        "Most channel-log events a link's outbox holds while the remote side is down;"
        " beyond, the oldest are dropped (counted).",
    )
    matrix_homeserver_url: str = _setting(
        "", "The Matrix homeserver's client API base URL; empty: no Matrix bridge."
    )
    matrix_server_name: str = _setting("", "The homeserver's server name (the `:server` of ids).")
    matrix_as_token: SecretStr = _setting(
        SecretStr(""), "The application service's `as_token` (Parley to the homeserver)."
    )
    matrix_hs_token: SecretStr = _setting(
        SecretStr(""), "The registration's `hs_token` (the homeserver to Parley)."
    )
    matrix_bridge_url: str = _setting(
        "http://127.0.0.1:8080",
        "Where the homeserver reaches Parley's REST port (the registration's `url`).",
    )
    xmpp_component_host: str = _setting(
        "", "The XMPP server's component (XEP-0114) host; empty: no XMPP bridge."
    )
    xmpp_component_port: Port = _setting(5347, "The XMPP server's component port.")
    xmpp_component_domain: str = _setting(
        "", "The component's domain (puppet JIDs are `user@DOMAIN`)."
    )
    xmpp_component_secret: SecretStr = _setting(
        SecretStr(""), "The component's shared secret (the handshake)."
    )

    # Jobs, scheduled messages, reminders, webhooks, bots (docs/automation.md)
    jobs_poll_interval: Positive = _setting(
        _JOBS.poll_interval,
        "Longest seconds between two looks at the jobs table (how late another node's job starts).",
    )
    jobs_lease: Positive = _setting(
        _JOBS.lease, "Seconds a claimed job holds before another node may run it again."
    )
    jobs_concurrency: Count = _setting(_JOBS.concurrency, "Jobs running at once on one node.")
    webhook_allow_private: bool = _setting(
        _WEBHOOKS.allow_private,
        "Let webhooks and bots POST to private, loopback and link-local addresses.",
    )
    webhook_timeout: Positive = _setting(_WEBHOOKS.timeout, "Seconds one webhook POST may take.")
    webhook_max_failures: Count = _setting(
        _WEBHOOKS.max_failures, "Consecutive failed attempts that disable a webhook."
    )
    webhook_max_attempts: Count = _setting(
        _WEBHOOKS.max_attempts, "Attempts per webhook delivery before it is `failed`."
    )

    #: The PEM read from ``jwt_public_key_file``.
    _file_pem: str = PrivateAttr("")

    @field_validator("allowed_origins", mode="before")
    @classmethod
    def _origins(cls, v: object) -> object:
        return tuple(o.strip() for o in v.split(",") if o.strip()) if isinstance(v, str) else v

    @field_validator("topic_namespaces")
    @classmethod
    def _namespaces(cls, v: str) -> str:
        TopicPolicy.parse(v)  # ValueError: a one-line error naming the setting
        return v

    @field_validator("preview_hosts", mode="before")
    @classmethod
    def _hosts(cls, v: object) -> object:
        if isinstance(v, str):
            v = v.split(",")
        if isinstance(v, list | tuple):
            return tuple(h.strip().lower() for h in v if isinstance(h, str) and h.strip())
        return v

    @field_validator("log_level", "log_format", "sqlite_synchronous", mode="before")
    @classmethod
    def _lower(cls, v: object) -> object:
        return v.lower() if isinstance(v, str) else v

    @field_validator("smtp_url", mode="after")
    @classmethod
    def _smtp_url(cls, v: SecretStr) -> SecretStr:
        if v.get_secret_value():
            parse_smtp_url(v.get_secret_value())  # ValueError: one line naming the setting
        return v

    @field_validator("vapid_private_key", mode="after")
    @classmethod
    def _vapid_key(cls, v: SecretStr) -> SecretStr:
        if v.get_secret_value():
            VapidKey(v.get_secret_value())
        return v

    @field_validator("database_url", mode="after")
    @classmethod
    def _database_url(cls, v: SecretStr) -> SecretStr:
        check_database_url(v.get_secret_value())
        return v

    @field_validator("meeting_url_template", mode="after")
    @classmethod
    def _meeting_url(cls, v: str) -> str:
        v = v.strip()
        if v and (not v.startswith(("https://", "http://")) or "{room}" not in v):
            raise ValueError("must be an http(s) URL containing {room}")
        return v

    @field_validator("nats_url", mode="after")
    @classmethod
    def _nats_url(cls, v: SecretStr) -> SecretStr:
        urls = tuple(u for u in v.get_secret_value().split(",") if u.strip())
        if urls:
            parse_servers(urls)  # ValueError: a one-line error naming the setting
        return v

    @field_validator("jwt_secret", mode="after")
    @classmethod
    def _secret(cls, v: SecretStr) -> SecretStr:
        n = len(v.get_secret_value().encode())
        if 0 < n < MIN_SECRET_BYTES:
            raise ValueError(
                f"must be at least {MIN_SECRET_BYTES} bytes, is {n} (`parley secret` makes one)"
            )
        return v

    @field_validator("jwt_public_key", mode="after")
    @classmethod
    def _public_key(cls, v: str) -> str:
        if v:
            check_public_key(v)
        return v

    @model_validator(mode="after")
    def _public_key_file(self) -> SettingsModel:
        path = self.jwt_public_key_file
        if path is None:
            return self
        if self.jwt_public_key:
            raise ValueError("jwt_public_key_file: set it or jwt_public_key, not both")
        try:
            pem = path.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(
                f"jwt_public_key_file: cannot read {path}: {_os_reason(exc)}"
            ) from None
        try:
            check_public_key(pem)
        except ValueError as exc:
            raise ValueError(f"jwt_public_key_file: {path}: {exc}") from None
        self._file_pem = pem
        return self

    @model_validator(mode="after")
    def _bridges(self) -> SettingsModel:
        if self.matrix_homeserver_url:
            for name in ("matrix_server_name", "matrix_as_token", "matrix_hs_token"):
                value = getattr(self, name)
                if not (value.get_secret_value() if isinstance(value, SecretStr) else value):
                    raise ValueError(f"{name}: required with matrix_homeserver_url")
        if self.xmpp_component_host:
            for name in ("xmpp_component_domain", "xmpp_component_secret"):
                value = getattr(self, name)
                if not (value.get_secret_value() if isinstance(value, SecretStr) else value):
                    raise ValueError(f"{name}: required with xmpp_component_host")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        env, config_file = _SOURCES.get()
        sources: list[PydanticBaseSettingsSource] = [
            init_settings,
            _MappingEnvSource(settings_cls, os.environ if env is None else env),
        ]
        if config_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, config_file))
        return tuple(sources)

    def to_settings(self) -> Settings:
        secret = self.jwt_secret.get_secret_value()
        return Settings(
            host=self.host,
            ws_port=self.ws_port,
            http_port=self.http_port,
            data_dir=self.data_dir,
            database_url=self.database_url.get_secret_value(),
            database_connect_timeout=self.database_connect_timeout,
            database_statement_timeout=self.database_statement_timeout,
            sqlite_synchronous=self.sqlite_synchronous,
            jwt_secret=secret,
            jwt_public_key=self.jwt_public_key or self._file_pem,
            allowed_origins=self.allowed_origins,
            topic_namespaces=self.topic_namespaces,
            ping_interval=self.ping_interval,
            ping_timeout=self.ping_timeout,
            handshake_timeout=self.handshake_timeout,
            shutdown_timeout=self.shutdown_timeout,
            drain_delay=self.drain_delay,
            log_level=self.log_level,
            log_format=self.log_format,
            access_log=self.access_log,
            meeting_url_template=self.meeting_url_template,
            limits=Limits(**{name: getattr(self, name) for name in _LIMITS.as_dict()}),
            presence=PresenceConfig(
                **{name: getattr(self, f"presence_{name}") for name in PRESENCE_FIELDS}
            ),
            files=FilesConfig(
                max_upload_bytes=self.max_upload_bytes,
                blob_dir=self.blob_dir,
                user_quota_bytes=self.upload_quota_user_bytes,
                org_quota_bytes=self.upload_quota_org_bytes,
            ),
            previews=replace(_PREVIEWS, hosts=self.preview_hosts, timeout=self.preview_timeout),
            cluster=ClusterConfig(
                nats_servers=tuple(
                    u.strip() for u in self.nats_url.get_secret_value().split(",") if u.strip()
                ),
                nats_token=self.nats_token.get_secret_value(),
                nats_user=self.nats_user,
                nats_password=self.nats_password.get_secret_value(),
                nats_creds_file=self.nats_creds_file,
                nats_tls=self.nats_tls,
                nats_tls_ca_file=self.nats_tls_ca_file,
                nats_tls_cert_file=self.nats_tls_cert_file,
                nats_tls_key_file=self.nats_tls_key_file,
                gap_wait=self.cluster_gap_wait,
                node_heartbeat=self.node_heartbeat,
            ),
            rate_limits=replace(
                _RATES,
                write_rate=self.rest_write_rate,
                write_burst=self.rest_write_burst,
                read_rate=self.rest_read_rate,
                read_burst=self.rest_read_burst,
                service_factor=self.rest_service_rate_factor,
            ),
            federation=self._federation(),
            notifications=replace(
                _NOTIFY,
                public_url=self.public_url or f"http://{self.host}:{self.http_port}",
                smtp_url=self.smtp_url.get_secret_value(),
                smtp_from=self.smtp_from,
                email_delay=self.email_delay,
                email_interval=self.email_interval,
                vapid_private_key=self.vapid_private_key.get_secret_value(),
                vapid_subject=self.vapid_subject,
                push_ttl=self.push_ttl,
            ),
            jobs=replace(
                _JOBS,
                poll_interval=self.jobs_poll_interval,
                lease=self.jobs_lease,
                concurrency=self.jobs_concurrency,
            ),
            webhooks=replace(
                _WEBHOOKS,
                allow_private=self.webhook_allow_private,
                timeout=self.webhook_timeout,
                max_failures=self.webhook_max_failures,
                max_attempts=self.webhook_max_attempts,
            ),
        )

    def _federation(self) -> FederationConfig:
        matrix = xmpp = None
        if self.matrix_homeserver_url:
            matrix = MatrixConfig(
                homeserver_url=self.matrix_homeserver_url.rstrip("/"),
                server_name=self.matrix_server_name,
                as_token=self.matrix_as_token.get_secret_value(),
                hs_token=self.matrix_hs_token.get_secret_value(),
                bridge_url=self.matrix_bridge_url,
            )
        if self.xmpp_component_host:
            xmpp = XmppConfig(
                host=self.xmpp_component_host,
                port=self.xmpp_component_port,
                domain=self.xmpp_component_domain,
                secret=self.xmpp_component_secret.get_secret_value(),
            )
        return replace(
            _FEDERATION,
            rate=self.federation_rate,
            burst=self.federation_burst,
            outbox_max=self.federation_outbox_max,
            matrix=matrix,
            xmpp=xmpp,
        )


PRESENCE_FIELDS = tuple(PresenceConfig.__dataclass_fields__)

#: (env mapping or None for os.environ, TOML file or None) of the load under way.
_SOURCES: ContextVar[tuple[Mapping[str, str] | None, Path | None]] = ContextVar(
    "parley_settings_sources", default=(None, None)
)


class _MappingEnvSource(EnvSettingsSource):
    """``PARLEY_*`` variables from a given mapping (tests pass one; else ``os.environ``)."""

    def __init__(self, settings_cls: type[BaseSettings], env: Mapping[str, str]) -> None:
        self._given = env
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return parse_env_vars(
            self._given, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str
        )


def check_database_url(url: str) -> None:
    if not url:
        return
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if scheme in ("postgresql", "postgres"):
        if not url.startswith(f"{scheme}://") or len(url) == len(scheme) + 3:
            raise ValueError(f"expected {scheme}://USER@HOST/DB, got {redact_url(url)!r}")
        return
    if scheme == "sqlite":
        path = url.removeprefix("sqlite:///")
        if not url.startswith("sqlite:///") or not path or path == ":memory:":
            raise ValueError(f"expected sqlite:///PATH (a file), got {url!r}")
        return
    raise ValueError(f"scheme must be sqlite: or postgresql: (postgres:), got {redact_url(url)!r}")


def check_public_key(pem: str) -> None:
    try:
        TokenVerifier("", pem)
    except ValueError as exc:
        raise ValueError(str(exc).removeprefix("PARLEY_JWT_PUBLIC_KEY ")) from None


def redact_url(url: str) -> str:
    """``scheme://user:password@host/db`` without its credentials."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.rsplit('@', 1)[1]}"
    return url


def _os_reason(exc: BaseException) -> str:
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)


# --- Loading ---------------------------------------------------------------------------


def load_model(
    env: Mapping[str, str] | None = None,
    *,
    config_file: Path | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> SettingsModel:
    """Validate flags (``overrides``, by setting name) over ``env`` (``os.environ`` by
    default) over ``config_file`` over the defaults. Raises :class:`SettingsError`."""
    if config_file is not None:
        _check_config_file(config_file)
    values: dict[str, Any] = dict(overrides or {})
    token = _SOURCES.set((env, config_file))
    try:
        return SettingsModel(**values)
    except ValidationError as exc:
        raise SettingsError(list(_error_lines(exc, config_file, set(values)))) from None
    finally:
        _SOURCES.reset(token)


def load_settings(
    env: Mapping[str, str] | None = None,
    *,
    config_file: Path | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    return load_model(env, config_file=config_file, overrides=overrides).to_settings()


def _check_config_file(path: Path) -> None:
    try:
        with path.open("rb") as f:
            tomllib.load(f)
    except OSError as exc:
        raise SettingsError([f"config file {path}: {_os_reason(exc)}"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError([f"config file {path}: not valid TOML: {exc}"]) from None


def env_name(name: str) -> str:
    return ENV_PREFIX + name.upper()


def flag_name(name: str) -> str:
    return "--" + name.replace("_", "-")


def _error_lines(exc: ValidationError, config_file: Path | None, flags: set[str]) -> Iterator[str]:
    for e in exc.errors(include_url=False):
        name = str(e["loc"][0]) if e["loc"] else ""
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            where = f" in {config_file}" if config_file is not None else ""
            yield f"unknown setting {name!r}{where}"
            continue
        got = ""
        if not name:  # a check across settings says which one first: "name: reason"
            name, _, msg = msg.partition(": ")
        elif name not in SECRET_SETTINGS | {"database_url", "nats_url"} and "input" in e:
            got = f" (got {_short(e['input'])})"
        source = flag_name(name) if name in flags else env_name(name)
        yield f"setting {name} ({source}): {msg[:1].lower()}{msg[1:]}{got}"


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# --- Showing and documenting -----------------------------------------------------------

#: Settings whose value is never shown.
SECRET_SETTINGS = frozenset({"jwt_secret", "nats_token", "nats_password"})
REDACTED = "<redacted>"


def shown_value(model: SettingsModel, name: str) -> object:
    """The value ``parley config show`` prints: secrets redacted, plain types only."""
    value = getattr(model, name)
    if name in SECRET_SETTINGS:
        return REDACTED if value.get_secret_value() else ""
    if name == "database_url":
        return redact_url(value.get_secret_value())
    if name == "nats_url":
        return ",".join(redact_url(u) for u in value.get_secret_value().split(","))
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple):
        return list(value)
    return value


def toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)  # a TOML basic string


def show_toml(model: SettingsModel) -> str:
    """The effective configuration as TOML (usable as a ``--config`` file, less its
    redacted secrets). Unset optional settings are comments."""
    lines = []
    for name in SettingsModel.model_fields:
        value = shown_value(model, name)
        if value is None:
            lines.append(f"# {name} = (unset)")
        else:
            lines.append(f"{name} = {toml_value(value)}")
    return "\n".join(lines) + "\n"


def _default_text(info: FieldInfo, name: str) -> str:
    default = info.default
    if name == "blob_dir":
        return "DATA_DIR/blobs"
    if name == "database_url":
        return "SQLite in DATA_DIR"
    if isinstance(default, SecretStr):
        default = default.get_secret_value()
    if default is None or default in ("", ()):
        return "—"
    if isinstance(default, tuple):
        default = ",".join(default)
    if isinstance(default, bool):
        default = "true" if default else "false"
    return f"`{default}`"


def _type_text(info: FieldInfo) -> str:
    ann = info.annotation
    if ann is SecretStr:
        return "secret"
    if ann is bool:
        return "bool"
    if ann is Path or ann == Path | None:
        return "path"
    if ann is int:
        return "int"
    if ann is float:
        return "seconds" if (info.description or "").startswith("Seconds") else "number"
    origin = getattr(ann, "__args__", None)
    if ann == tuple[str, ...]:
        return "list"
    if origin and all(isinstance(a, str) for a in origin):
        return " \\| ".join(f"`{a}`" for a in origin)
    return getattr(ann, "__name__", str(ann))


def reference_markdown() -> str:
    """The table of every setting in docs/configuration.md."""
    rows = [
        "| Setting (config key) | Environment variable | Type | Default | Meaning |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, info in SettingsModel.model_fields.items():
        desc = (info.description or "").replace("|", "\\|")
        rows.append(
            f"| `{name}` | `{env_name(name)}` | {_type_text(info)} | "
            f"{_default_text(info, name)} | {desc} |"
        )
    return "\n".join(rows) + "\n"
