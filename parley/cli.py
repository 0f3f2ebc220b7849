"""The ``parley`` command: serve, token, migrate, bench."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from dataclasses import replace
from pathlib import Path

import trio

from parley.settings import Settings


def _settings(args: argparse.Namespace) -> Settings:
    s = Settings.from_env()
    kw: dict[str, object] = {}
    for name in ("host", "ws_port", "http_port", "database_url"):
        value = getattr(args, name, None)
        if value is not None:
            kw[name] = value
    if getattr(args, "data_dir", None) is not None:
        kw["data_dir"] = Path(args.data_dir)
    return replace(s, **kw)  # type: ignore[arg-type]


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", help="data directory (PARLEY_DATA_DIR, default ./data)")
    p.add_argument("--database-url", help="sqlite:///PATH or postgresql://… (PARLEY_DATABASE_URL)")


def cmd_serve(args: argparse.Namespace) -> int:
    from parley.app import run

    settings = _settings(args)
    trio.run(lambda: run(settings, broker_only=args.broker_only))
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    from parley.broker.auth import issue_token

    settings, _ = _settings(args).with_secret()
    if not settings.jwt_secret:
        print(
            "parley token signs HS256 tokens: set PARLEY_JWT_SECRET (a public key alone "
            "verifies tokens from your own issuer)",
            file=sys.stderr,
        )
        return 2
    roles = [args.role] if args.role else []
    print(issue_token(settings.jwt_secret, sub=args.sub, org=args.org, ttl=args.ttl, roles=roles))
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from parley.store import migrate

    settings = _settings(args)
    url = settings.effective_database_url
    if url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    version = trio.run(migrate, url)
    print(f"schema version {version}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="parley", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="run the broker and REST API")
    _add_common(p)
    p.add_argument("--host", help="bind address (PARLEY_HOST, default 127.0.0.1)")
    p.add_argument("--ws-port", type=int, help="WebSocket port (PARLEY_WS_PORT, default 8765)")
    p.add_argument("--http-port", type=int, help="REST port (PARLEY_HTTP_PORT, default 8080)")
    p.add_argument("--broker-only", action="store_true", help="no store, no REST: pub/sub only")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("token", help="print a JWT signed with the configured secret")
    _add_common(p)
    p.add_argument("--sub", required=True, help="user id")
    p.add_argument("--org", required=True, help="tenant id")
    p.add_argument("--role", choices=["service", "publisher"], help="extra role")
    p.add_argument("--ttl", type=float, default=3600.0, help="lifetime in seconds")
    p.set_defaults(func=cmd_token)

    p = sub.add_parser("migrate", help="apply schema migrations")
    _add_common(p)
    p.set_defaults(func=cmd_migrate)

    # Only listed for --help: main() hands everything after "bench" to bench.cli unparsed.
    sub.add_parser("bench", help="run benchmarks (see docs/benchmarks.md)", add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["bench"]:
        return _bench(argv[1:])
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code


def _bench(argv: list[str]) -> int:
    """``parley bench``: the benchmarks live in the source checkout (bench/ is not in the
    wheel), beside the ``parley`` package an editable install points at."""
    root = Path(__file__).resolve().parent.parent
    if not (root / "bench" / "cli.py").is_file():
        print("parley: error: bench runs from a source checkout (python -m bench)", file=sys.stderr)
        return 2
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    # The load generators are ``python -m bench.loadgen`` child processes.
    paths = [str(root), os.environ.get("PYTHONPATH", "")]
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    from bench.cli import main as bench_main

    return bench_main(argv)


if __name__ == "__main__":
    sys.exit(main())
