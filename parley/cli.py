"""The parley command: serve, token, secret, migrate, config, bench.

Settings come from flags, then PARLEY_* environment variables, then a TOML file given
with --config, then the defaults (docs/configuration.md lists them all)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import trio

from parley.logs import configure_logging
from parley.settings import (
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
ROLES = ("service", "publisher")

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
        choices=ROLES,
        default=[],
        help="extra role (repeatable)",
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
