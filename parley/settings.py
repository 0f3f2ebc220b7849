"""Settings from ``PARLEY_*`` environment variables, overridden by command-line flags.

The one place that reads configuration: :meth:`Settings.from_env` reads every variable
once, and the composition root (``parley.app``) hands each part its own config object."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from parley.broker.auth import TokenVerifier
from parley.broker.config import BrokerConfig
from parley.broker.presence import PresenceConfig
from parley.core.limits import Limits
from parley.domain.files import FilesConfig
from parley.domain.previews import PreviewConfig

DEFAULT_WS_PORT = 8765
DEFAULT_HTTP_PORT = 8080
SECRET_FILE = "jwt_secret"


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    ws_port: int = DEFAULT_WS_PORT
    http_port: int = DEFAULT_HTTP_PORT
    data_dir: Path = Path("data")
    database_url: str = ""  # empty: SQLite file in data_dir
    jwt_secret: str = ""
    jwt_public_key: str = ""  # PEM; enables RS256/ES256
    #: Exact origins allowed (``*`` allows any). Empty: allow requests without an Origin
    #: header (non-browser clients) and same-host browser origins only.
    allowed_origins: tuple[str, ...] = ()
    ping_interval: float = 25.0
    ping_timeout: float = 10.0
    handshake_timeout: float = 10.0
    shutdown_timeout: float = 5.0
    limits: Limits = field(default_factory=Limits)
    presence: PresenceConfig = field(default_factory=PresenceConfig)
    files: FilesConfig = field(default_factory=FilesConfig)
    previews: PreviewConfig = field(default_factory=PreviewConfig)

    @property
    def broker(self) -> BrokerConfig:
        return BrokerConfig(
            host=self.host,
            port=self.ws_port,
            allowed_origins=self.allowed_origins,
            ping_interval=self.ping_interval,
            ping_timeout=self.ping_timeout,
            handshake_timeout=self.handshake_timeout,
            shutdown_timeout=self.shutdown_timeout,
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

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        s = cls()
        lim = s.limits

        def get(name: str) -> str | None:
            v = env.get(f"PARLEY_{name}")
            return v if v not in (None, "") else None

        kw: dict[str, object] = {}
        if (v := get("HOST")) is not None:
            kw["host"] = v
        if (v := get("WS_PORT")) is not None:
            kw["ws_port"] = int(v)
        if (v := get("HTTP_PORT")) is not None:
            kw["http_port"] = int(v)
        if (v := get("DATA_DIR")) is not None:
            kw["data_dir"] = Path(v)
        if (v := get("DATABASE_URL")) is not None:
            kw["database_url"] = v
        if (v := get("JWT_SECRET")) is not None:
            kw["jwt_secret"] = v
        if (v := get("JWT_PUBLIC_KEY")) is not None:
            kw["jwt_public_key"] = v
        if (v := get("ALLOWED_ORIGINS")) is not None:
            kw["allowed_origins"] = tuple(o.strip() for o in v.split(",") if o.strip())
        if (v := get("PING_INTERVAL")) is not None:
            kw["ping_interval"] = float(v)
        if (v := get("PING_TIMEOUT")) is not None:
            kw["ping_timeout"] = float(v)
        lim_kw: dict[str, object] = {}
        for name in lim.as_dict():
            if (v := get(name.upper())) is not None:
                lim_kw[name] = type(getattr(lim, name))(v)
        if lim_kw:
            kw["limits"] = replace(lim, **lim_kw)  # type: ignore[arg-type]
        # PARLEY_PRESENCE_FLUSH_INTERVAL, PARLEY_PRESENCE_IDLE_AFTER, ... (the field names,
        # upper-cased, after PARLEY_PRESENCE_).
        presence_kw: dict[str, Any] = {}
        for f in fields(PresenceConfig):
            if (v := get(f"PRESENCE_{f.name.upper()}")) is not None:
                presence_kw[f.name] = int(v) if f.type in ("int", int) else float(v)
        kw["presence"] = PresenceConfig(**presence_kw)
        upload, blob_dir = get("MAX_UPLOAD_BYTES"), get("BLOB_DIR")
        files = FilesConfig()
        kw["files"] = FilesConfig(
            max_upload_bytes=int(upload) if upload else files.max_upload_bytes,
            blob_dir=Path(blob_dir) if blob_dir else None,
        )
        hosts = tuple(h.strip().lower() for h in (get("PREVIEW_HOSTS") or "").split(","))
        timeout = get("PREVIEW_TIMEOUT")
        kw["previews"] = PreviewConfig(
            hosts=tuple(h for h in hosts if h),
            timeout=float(timeout) if timeout else PreviewConfig().timeout,
        )
        return replace(s, **kw)  # type: ignore[arg-type]

    def with_secret(self) -> tuple[Settings, str]:
        """Return settings with a JWT secret, and where it came from: ``"configured"``,
        ``"loaded"`` (kept in the data dir by an earlier start) or ``"generated"`` (now,
        and kept in the data dir, readable by the owner only)."""
        if self.jwt_secret or self.jwt_public_key:
            return self, "configured"
        path = self.data_dir / SECRET_FILE
        if path.exists():
            return replace(self, jwt_secret=path.read_text().strip()), "loaded"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        secret = secrets.token_urlsafe(48)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secret + "\n")
        return replace(self, jwt_secret=secret), "generated"
