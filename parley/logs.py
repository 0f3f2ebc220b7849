"""Process-wide logging: structlog renders every record, ours and our libraries'.

Modules keep logging through the standard library (``logging.getLogger(__name__)``);
:func:`configure_logging` puts one handler on the root logger whose formatter is
structlog's ``ProcessorFormatter``: JSON lines (one object per record, for collectors) or
a pretty console line for people, chosen by ``log_format`` (``auto``: pretty on a
terminal). Before rendering, :func:`redact` scrubs tokens and secrets from every record.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, Processor

#: Fields whose value is never written.
SECRET_KEYS = frozenset(
    {"token", "access_token", "authorization", "jwt_secret", "secret", "password"}
)
REDACTED = "<redacted>"

_PATTERNS = (
    # A JWT: three base64url parts, the first two JSON ("eyJ").
    (re.compile(r"eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), REDACTED),
    # A token in a query string or a form body.
    (re.compile(r"((?:access_)?token=|link=)[^&\s\"']+", re.IGNORECASE), rf"\1{REDACTED}"),
    # Authorization: Bearer ...
    (re.compile(r"(Bearer\s+)[^\s\"',]+", re.IGNORECASE), rf"\1{REDACTED}"),
    # The password of a URL: scheme://user:password@host
    (re.compile(r"(://[^:/@\s]*:)[^@/\s]+@"), rf"\1{REDACTED}@"),
)


def scrub(text: str) -> str:
    for pattern, repl in _PATTERNS:
        text = pattern.sub(repl, text)
    return text


def redact(_logger: Any, _method: str, event_dict: EventDict) -> EventDict:
    """A structlog processor: secrets out of every field, known or found by pattern."""
    for key, value in list(event_dict.items()):
        if key.lower() in SECRET_KEYS:
            event_dict[key] = REDACTED
        elif isinstance(value, str):
            event_dict[key] = scrub(value)
    return event_dict


def use_pretty(log_format: str, stream: TextIO) -> bool:
    if log_format == "auto":
        isatty = getattr(stream, "isatty", None)
        return bool(isatty and isatty())
    return log_format == "pretty"


def configure_logging(
    level: str = "info", log_format: str = "auto", stream: TextIO | None = None
) -> None:
    """Send every log record to ``stream`` (stderr) through structlog, at ``level`` and
    above. Replaces whatever handlers the root logger had, so calling it again (tests)
    reconfigures rather than doubles the output."""
    stream = sys.stderr if stream is None else stream
    pretty = use_pretty(log_format, stream)
    shared: list[Processor] = [
        # The request or connection id bound in the task (contextvars stay per task
        # under trio: each task runs in a copy of its parent's context).
        structlog.contextvars.merge_contextvars,
        # Fields passed as ``extra=`` to a standard-library log call.
        structlog.stdlib.ExtraAdder(),
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Processor = (
        structlog.dev.ConsoleRenderer(colors=pretty and _colors_ok(stream))
        if pretty
        else structlog.processors.JSONRenderer()
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            redact,
            renderer,
        ],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # httpx logs every request at info: thousands of lines for one @channel's Web Pushes
    # (docs/notifications.md). Its warnings stay; PARLEY_LOG_LEVEL=debug shows them all.
    logging.getLogger("httpx").setLevel(
        logging.DEBUG if root.level <= logging.DEBUG else logging.WARNING
    )
    # structlog's own loggers (structlog.get_logger()) go the same way.
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


def _colors_ok(stream: TextIO) -> bool:
    return sys.platform != "win32" and bool(getattr(stream, "isatty", lambda: False)())
