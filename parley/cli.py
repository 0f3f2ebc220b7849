"""The parley command: serve, token, secret, migrate, config, bench; and the clients
sub, pub, post (on the Python SDK, parley.client).

Settings come from flags, then PARLEY_* environment variables, then a TOML file given
with --config, then the defaults (docs/configuration.md lists them all)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import trio

from parley.core.errors import ClientError
from parley.core.topics import is_segment, parse_pattern, parse_topic
from parley.logs import configure_logging
from parley.settings import (
    DEFAULT_WS_PORT,
    SettingsError,
    SettingsModel,
    env_name,
    flag_name,
    load_model,
    new_secret,
    show_toml,
)

PROG = "parley"
#: Exit status of a bad command line or bad settings (argparse's own), and of a failed run.
EXIT_USAGE = 2
EXIT_FAILED = 1
DEFAULT_TTL = 3600.0
#: How long ``pub`` and ``post`` wait for the server before giving up.
CLIENT_TIMEOUT = 10.0
ROLES = ("service", "publisher")
#: The client commands (sub, pub, post) read these when their flags are not given.
URL_ENV, TOKEN_ENV = "PARLEY_URL", "PARLEY_TOKEN"

#: Settings ``parley serve`` (and ``config show``) offer as flags; any other one is
#: ``--set NAME=VALUE``.
SERVE_FLAGS = (
    "host",
    "ws_port",
    "http_port",
    "data_dir",
    "database_url",
    "nats_url",
    "allowed_origins",
    "log_level",
    "log_format",
    "access_log",
    "jwt_public_key_file",
    "shutdown_timeout",
    "drain_delay",
    "max_connections",
    "max_connections_per_user",
    "max_frame_bytes",
    "max_upload_bytes",
)


def package_version() -> str:
    try:
        return version("parley")
    except PackageNotFoundError:  # a source tree that was never installed
        return "unknown"


class CliError(Exception):
    """A one-line refusal: ``parley: error: <message>``, exit 2."""


def _fail(message: str, code: int) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return code


def _setting_help(name: str) -> str:
    info = SettingsModel.model_fields[name]
    default = info.default
    if hasattr(default, "get_secret_value"):
        default = default.get_secret_value()
    text = (info.description or "").replace("`", "").replace("%", "%%")
    shown = ",".join(default) if isinstance(default, tuple) else default
    tail = f"; default {shown}" if shown not in (None, "", False) else ""
    return f"{text} ({env_name(name)}{tail})"


def _add_setting(p: argparse.ArgumentParser, name: str) -> None:
    info = SettingsModel.model_fields[name]
    if info.annotation is bool:
        p.add_argument(
            flag_name(name),
            dest=name,
            action="store_const",
            const=True,
            default=None,
            help=_setting_help(name),
        )
        return
    meta = name.rsplit("_", 1)[-1].upper()
    p.add_argument(flag_name(name), dest=name, metavar=meta, help=_setting_help(name))


def _add_config(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="TOML file of settings (keys as in docs/configuration.md); flags and "
        "PARLEY_* variables override it",
    )


def _add_set(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="any other setting, e.g. --set ping_interval=30 (repeatable)",
    )


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for item in getattr(args, "set", []):
        name, eq, value = item.partition("=")
        name = name.strip().replace("-", "_")
        if not eq or not name:
            raise CliError(f"--set {item!r}: expected NAME=VALUE")
        if name not in SettingsModel.model_fields:
            raise CliError(f"--set {item!r}: unknown setting {name!r}")
        values[name] = value
    for name in SettingsModel.model_fields:
        value = getattr(args, name, None)
        if value is not None:
            values[name] = value
    return values


def _model(args: argparse.Namespace) -> SettingsModel:
    return load_model(config_file=args.config, overrides=_overrides(args))


def cmd_serve(args: argparse.Namespace) -> int:
    from parley.app import StartupError, run

    model = _model(args)
    settings = model.to_settings()
    configure_logging(settings.log_level, settings.log_format)
    try:
        trio.run(lambda: run(settings, broker_only=args.broker_only))
    except StartupError as exc:
        return _fail(str(exc), EXIT_FAILED)
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    from parley.broker.auth import issue_token

    if args.ttl <= 0:
        raise CliError(f"--ttl must be a positive number of seconds, got {args.ttl:g}")
    for role in args.role:
        if not is_segment(role):
            raise CliError(f"--role {role!r}: a role is letters, digits, '_' or '-'")
    settings = _model(args).to_settings()
    secret = settings.signing_secret()
    if secret is None:
        if settings.jwt_public_key:
            raise CliError(
                "parley token signs HS256 tokens: set PARLEY_JWT_SECRET (a public key alone "
                "verifies tokens from your own issuer)"
            )
        raise CliError(
            f"no JWT secret: set PARLEY_JWT_SECRET (`parley secret` makes one), or point "
            f"--data-dir at the data dir of a server that generated one (none in "
            f"{settings.secret_path})"
        )
    roles = sorted(set(args.role))
    print(issue_token(secret, sub=args.sub, org=args.org, ttl=args.ttl, roles=roles))
    return 0


def _client_target(args: argparse.Namespace) -> tuple[str, str]:
    url = args.url or os.environ.get(URL_ENV) or f"ws://127.0.0.1:{DEFAULT_WS_PORT}/ws"
    token = args.token or os.environ.get(TOKEN_ENV)
    if not token:
        raise CliError(
            f"no token: pass --token or set {TOKEN_ENV} (`parley token --sub USER --org ORG` "
            f"prints one)"
        )
    if not url.startswith(("ws://", "wss://")):
        raise CliError(f"--url {url!r}: expected ws://HOST:PORT/ws or wss://…")
    args.url_used = url  # for the timeout message
    return url, token


def _run_client(args: argparse.Namespace, main: Callable[[], Awaitable[None]]) -> int:
    """Run a client command; its failures are one line (exit 1), Ctrl-C exits 130."""
    from parley.client import CommandError, ParleyError, Stopped

    configure_logging("warning", "auto")
    try:
        if args.timeout is None:
            trio.run(main)
        else:
            trio.run(partial(_within, args.timeout, main))
    except CommandError as exc:
        return _fail(f"{exc.code}: {exc.message}", EXIT_FAILED)
    except Stopped as exc:
        return _fail(f"the server closed the connection: {exc}", EXIT_FAILED)
    except ParleyError as exc:
        return _fail(str(exc), EXIT_FAILED)
    except trio.TooSlowError:
        return _fail(f"no answer from {args.url_used} within {args.timeout:g} s", EXIT_FAILED)
    except KeyboardInterrupt:
        return 130
    except BaseExceptionGroup as group:
        if group.subgroup(KeyboardInterrupt) is not None:
            return 130
        raise
    return 0


async def _within(seconds: float, main: Callable[[], Awaitable[None]]) -> None:
    with trio.fail_after(seconds):
        await main()


def cmd_sub(args: argparse.Namespace) -> int:
    from parley.client.commands import run_sub

    url, token = _client_target(args)
    for pattern in args.pattern:
        _check(parse_pattern, pattern)
    if args.count is not None and args.count < 1:
        raise CliError(f"--count must be at least 1, got {args.count}")
    return _run_client(
        args,
        partial(run_sub, url, token, args.pattern, sys.stdout, count=args.count, status=sys.stderr),
    )


def cmd_pub(args: argparse.Namespace) -> int:
    from parley.client.commands import run_pub

    url, token = _client_target(args)
    _check(parse_topic, args.topic)
    try:
        data = json.loads(args.json)
    except ValueError as exc:
        raise CliError(f"JSON {args.json[:40]!r}: not valid JSON ({exc})") from None
    return _run_client(args, partial(run_pub, url, token, args.topic, data, sys.stdout))


def cmd_post(args: argparse.Namespace) -> int:
    from parley.client.commands import run_post

    url, token = _client_target(args)
    if not args.text.strip():
        raise CliError("TEXT is empty")
    return _run_client(
        args,
        partial(
            run_post, url, token, args.channel, args.text, sys.stdout, idempotency_key=args.key
        ),
    )


def _check(parse: Callable[[object], list[str]], value: str) -> None:
    try:
        parse(value)
    except ClientError as exc:
        raise CliError(f"{value!r}: {exc.message}") from None


def _add_client(p: argparse.ArgumentParser, *, timeout: float | None) -> None:
    p.add_argument(
        "--url",
        help=f"the broker's WebSocket URL ({URL_ENV}; default ws://127.0.0.1:{DEFAULT_WS_PORT}/ws)",
    )
    p.add_argument("--token", help=f"a JWT ({TOKEN_ENV}; `parley token` prints one)")
    p.add_argument(
        "--timeout",
        type=float,
        default=timeout,
        metavar="SECONDS",
        help="give up after this long"
        + (f" (default {timeout:g})" if timeout is not None else " (default: never)"),
    )


def cmd_secret(args: argparse.Namespace) -> int:
    print(new_secret())
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from parley.app import StartupError, migrate

    settings = _model(args).to_settings()
    try:
        version = trio.run(migrate, settings)
    except StartupError as exc:
        return _fail(str(exc), EXIT_FAILED)
    print(f"schema version {version}")
    return 0


def cmd_config_show(args: argparse.Namespace) -> int:
    print(show_toml(_model(args)), end="")
    return 0


def cmd_matrix_registration(args: argparse.Namespace) -> int:
    import yaml

    from parley.domain.matrix import registration

    matrix = _model(args).to_settings().federation.matrix
    if matrix is None:
        raise CliError(
            "no Matrix bridge is configured: set matrix_homeserver_url, matrix_server_name,"
            " matrix_as_token and matrix_hs_token (docs/federation.md)"
        )
    reg = registration(matrix, ephemeral=not args.no_ephemeral)
    print(yaml.safe_dump(reg, sort_keys=False), end="")
    return 0


class _Formatter(argparse.RawDescriptionHelpFormatter):
    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=32)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__, formatter_class=_Formatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help: str, description: str | None = None) -> argparse.ArgumentParser:
        return sub.add_parser(
            name, help=help, description=description or help, formatter_class=_Formatter
        )

    p = command(
        "serve",
        "run the broker and REST API",
        "Run the WebSocket broker and the REST API until SIGINT/SIGTERM, which close "
        "clients with 1001. Every setting is also a PARLEY_* variable; see "
        "docs/configuration.md.",
    )
    _add_config(p)
    for name in SERVE_FLAGS:
        _add_setting(p, name)
    _add_set(p)
    p.add_argument("--broker-only", action="store_true", help="no store, no REST: pub/sub only")
    p.set_defaults(func=cmd_serve)

    p = command(
        "token",
        "print a JWT signed with the configured secret",
        "Print an HS256 JWT signed with PARLEY_JWT_SECRET, or else with the secret a "
        "server generated in the data dir. Never generates a secret.",
    )
    _add_config(p)
    _add_setting(p, "data_dir")
    p.add_argument("--sub", required=True, help="user id")
    p.add_argument("--org", required=True, help="tenant id")
    p.add_argument(
        "--role",
        action="append",
        default=[],
        metavar="ROLE",
        help=f"a role (repeatable): {' or '.join(ROLES)}, or one a namespace grants "
        f"(role:NAME in PARLEY_TOPIC_NAMESPACES)",
    )
    p.add_argument(
        "--ttl",
        type=float,
        default=DEFAULT_TTL,
        metavar="SECONDS",
        help=f"lifetime in seconds (default {DEFAULT_TTL:g})",
    )
    p.set_defaults(func=cmd_token)

    p = command(
        "sub",
        "print events as JSON lines",
        f"Subscribe to PATTERN(s) and print each event as a JSON line until Ctrl-C (or "
        f"--count). Reconnects by itself and resumes: no event lost or printed twice. "
        f"URL and token from --url/--token or {URL_ENV}/{TOKEN_ENV}.",
    )
    p.add_argument("pattern", nargs="+", metavar="PATTERN", help="e.g. 'events.acme.>'")
    p.add_argument("--count", type=int, metavar="N", help="exit after N events")
    _add_client(p, timeout=None)
    p.set_defaults(func=cmd_sub)

    p = command("pub", "publish an event", "Publish JSON on TOPIC (not stored); print deliveries.")
    p.add_argument("topic", metavar="TOPIC", help="e.g. events.acme.client.hello")
    p.add_argument("json", metavar="JSON", help="the event data, e.g. '{\"n\": 1}'")
    _add_client(p, timeout=CLIENT_TIMEOUT)
    p.set_defaults(func=cmd_pub)

    p = command(
        "post",
        "post a message to a channel",
        "Post TEXT to CHANNEL over the WebSocket; print the reply (message_id, seq...).",
    )
    p.add_argument("channel", metavar="CHANNEL", help="a channel id (ch_…)")
    p.add_argument("text", metavar="TEXT")
    p.add_argument("--key", metavar="KEY", help="idempotency key (default: a new one)")
    _add_client(p, timeout=CLIENT_TIMEOUT)
    p.set_defaults(func=cmd_post)

    p = command(
        "secret",
        "print a new random HS256 secret",
        "Print a new random secret for PARLEY_JWT_SECRET (64 characters, 48 random bytes).",
    )
    p.set_defaults(func=cmd_secret)

    p = command("migrate", "apply schema migrations (serve does too)")
    _add_config(p)
    _add_setting(p, "data_dir")
    _add_setting(p, "database_url")
    p.set_defaults(func=cmd_migrate)

    p = command("config", "inspect the configuration")
    config_sub = p.add_subparsers(dest="config_command", required=True, metavar="COMMAND")
    show = config_sub.add_parser(
        "show",
        help="print the effective configuration, secrets redacted",
        description="Print the settings serve would use, as TOML, with secrets redacted.",
        formatter_class=_Formatter,
    )
    _add_config(show)
    for name in SERVE_FLAGS:
        _add_setting(show, name)
    _add_set(show)
    show.set_defaults(func=cmd_config_show)

    p = command("federation", "federation bridges (docs/federation.md)")
    fed_sub = p.add_subparsers(dest="federation_command", required=True, metavar="COMMAND")
    reg = fed_sub.add_parser(
        "matrix-registration",
        help="print the Matrix application-service registration (YAML)",
        description="Print the registration file for the homeserver's "
        "app_service_config_files, from the matrix_* settings.",
        formatter_class=_Formatter,
    )
    _add_config(reg)
    _add_set(reg)
    reg.add_argument(
        "--no-ephemeral",
        action="store_true",
        help="do not ask for typing and receipts (receive_ephemeral, MSC2409)",
    )
    reg.set_defaults(func=cmd_matrix_registration)

    # Only listed for --help: main() hands everything after "bench" to bench.cli unparsed.
    sub.add_parser("bench", help="run benchmarks (see docs/benchmarks.md)", add_help=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["bench"]:
        configure_logging("info", "auto")
        return _bench(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except SettingsError as exc:
        for line in exc.lines:
            print(f"{PROG}: error: {line}", file=sys.stderr)
        return EXIT_USAGE
    except CliError as exc:
        return _fail(str(exc), EXIT_USAGE)
    return code


def _bench(argv: list[str]) -> int:
    """``parley bench``: the benchmarks live in the source checkout (bench/ is not in the
    wheel), beside the ``parley`` package an editable install points at."""
    root = Path(__file__).resolve().parent.parent
    if not (root / "bench" / "cli.py").is_file():
        print("parley: error: bench runs from a source checkout (python -m bench)", file=sys.stderr)
        return EXIT_USAGE
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    # The load generators are ``python -m bench.loadgen`` child processes.
    paths = [str(root), os.environ.get("PYTHONPATH", "")]
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    from bench.cli import main as bench_main

    return bench_main(argv)


if __name__ == "__main__":
    sys.exit(main())
