"""`tocsin serve`, `server`, `migrate` and `shim`: the service itself.

What they need (the database drivers, the migrations, the HTTP stack) is imported only when
one of them runs, so the client commands start without it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from clients.cli.arguments import UsageError
from clients.cli.parser import Commands

if TYPE_CHECKING:
    from app.config import Config

COMMANDS = ("serve", "server", "shim", "migrate")


def _log_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--log-format",
        choices=["auto", "json", "text"],
        help="json, text, or auto: text on a terminal (env TOCSIN_LOG_FORMAT; default auto)",
    )
    parser.add_argument(
        "--log-level",
        choices=["debug", "info", "warning", "error"],
        help="the least severe messages logged (env TOCSIN_LOG_LEVEL; default info)",
    )


def _http_listen_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--http-listen",
        metavar="HOST:PORT",
        help="where HTTP listens (env TOCSIN_HTTP_LISTEN; default 127.0.0.1:8080)",
    )


def _database_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", type=Path, metavar="PATH", help="YAML configuration file (env TOCSIN_CONFIG)"
    )
    # Suppressed default: `tocsin --data-dir DIR serve` must not be undone by this flag's absence.
    parser.add_argument(
        "--data-dir",
        default=argparse.SUPPRESS,
        metavar="DIR",
        help="where the database lives (env TOCSIN_DATA_DIR; default ./.tocsin)",
    )
    parser.add_argument(
        "--database",
        metavar="URL",
        help="postgresql://USER@HOST/DB to share with other replicas "
        "(env TOCSIN_DATABASE_URL; default: SQLite in the data directory)",
    )
    _log_options(parser)


def _server_options(parser: argparse.ArgumentParser) -> None:
    _database_options(parser)
    parser.add_argument(
        "--grpc-listen",
        metavar="HOST:PORT",
        help="where gRPC listens (env TOCSIN_GRPC_LISTEN; default 127.0.0.1:50051)",
    )
    _http_listen_option(parser)


def add_commands(commands: Commands) -> None:
    """Registers the commands that run the service rather than call it."""
    serve = commands.add_parser("serve", help="run the service (gRPC, HTTP edge, engine)")
    _server_options(serve)
    server = commands.add_parser(
        "server",
        help="run the service without the public HTTP edge (a replica behind `tocsin shim`s)",
    )
    _server_options(server)
    migrate = commands.add_parser("migrate", help="bring the database's schema up to date")
    _database_options(migrate)

    shim_command = commands.add_parser(
        "shim", help="run the HTTP edge alone, in front of a service elsewhere"
    )
    shim_command.add_argument(
        "--grpc-target", metavar="HOST:PORT", help="the service (env TOCSIN_GRPC_TARGET)"
    )
    shim_command.add_argument(
        "--token", default=argparse.SUPPRESS, help="API token for the service (env TOCSIN_TOKEN)"
    )
    shim_command.add_argument(
        "--config", type=Path, metavar="PATH", help="YAML file (its sns: section is used)"
    )
    _http_listen_option(shim_command)
    _log_options(shim_command)


def _server_config(args: argparse.Namespace, *, sends_pages: bool = True) -> Config:
    """`sends_pages`: whether the command builds the senders, and so needs their secrets."""
    from app import config as configuration

    flags = {
        "data_dir": args.data_dir,
        "database_url": args.database,
        "grpc_listen": getattr(args, "grpc_listen", None),
        "http_listen": getattr(args, "http_listen", None),
        "log_format": args.log_format,
        "log_level": args.log_level,
    }
    return configuration.load(args.config, os.environ, flags, sends_pages=sends_pages)


def serve(args: argparse.Namespace) -> int:
    """`tocsin serve`, and `tocsin server`: the same service without the public HTTP edge."""
    # Imported here, as in each of these commands, so that client commands start without
    # loading the server's side.
    from app import logs
    from app.server import TocsinServer
    from service.core.clock import SystemClock

    cfg = _server_config(args)
    logs.configure(cfg.log_format, cfg.log_level)
    server = TocsinServer(cfg, SystemClock(), public_edge=args.command == "serve")
    asyncio.run(server.run_until_stopped())
    return 0


def migrate(args: argparse.Namespace, out: TextIO) -> int:
    from app import logs
    from app.server import open_store
    from service.core.clock import SystemClock
    from service.db.migrations import LATEST_VERSION

    # It changes the schema and pages nobody: the servers' shared file, without their
    # senders' secrets, is enough, as it is for the shim.
    cfg = _server_config(args, sends_pages=False)
    logs.configure(cfg.log_format, cfg.log_level)
    applied = asyncio.run(open_store(cfg, SystemClock()).migrate())
    for migration in applied:
        print(f"applied migration {migration}", file=out)
    print(f"the schema is up to date (version {LATEST_VERSION})", file=out)
    return 0


def shim(args: argparse.Namespace) -> int:
    from app import config as configuration
    from app import logs
    from app.shim import run_shim
    from service.core.clock import SystemClock

    target = args.grpc_target or os.environ.get("TOCSIN_GRPC_TARGET")
    if not target:
        raise UsageError("give the service's address: --grpc-target HOST:PORT")
    configuration.listen_address("--grpc-target", target)
    token = args.token or os.environ.get("TOCSIN_TOKEN")
    if not token:
        raise UsageError("give the shim a token to call the service with: --token or TOCSIN_TOKEN")
    flags = {
        "http_listen": args.http_listen,
        "log_format": args.log_format,
        "log_level": args.log_level,
    }
    # The servers' own file, whose senders' secrets (SMTP, webhook, FCM) the shim never needs.
    cfg = configuration.load(args.config, os.environ, flags, sends_pages=False)
    logs.configure(cfg.log_format, cfg.log_level)
    asyncio.run(run_shim(target, token, cfg, SystemClock()))
    return 0


def run(args: argparse.Namespace, out: TextIO) -> int:
    """Runs the server command `args` names."""
    if args.command == "migrate":
        return migrate(args, out)
    return shim(args) if args.command == "shim" else serve(args)
