"""The `tocsin` command line: the service's own `serve`, and a client for everything else.

Every client command prints a readable table, or JSON with `--json`; a failure prints one
line starting with `error:` and exits non-zero (1 for a refused or failed call, 2 for usage).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn, TextIO

from clients import (
    alert_commands,
    directory_commands,
    escalation_commands,
    integration_commands,
    manifest_commands,
    server_commands,
    team_commands,
    token_commands,
)
from clients.arguments import UsageError, seconds
from clients.client import TocsinClient
from service import config as configuration
from service.errors import InvalidArgument, TocsinError
from service.tokens import ADMIN_TOKEN_FILE, read_token_file

DEFAULT_SERVER = "127.0.0.1:50051"
EXIT_FAILED = 1
EXIT_USAGE = 2


# Connection


def _token(args: argparse.Namespace) -> str:
    if args.token:
        return str(args.token)
    if os.environ.get("TOCSIN_TOKEN"):
        return os.environ["TOCSIN_TOKEN"]
    data_dir = args.data_dir or os.environ.get("TOCSIN_DATA_DIR") or ".tocsin"
    path = Path(data_dir) / ADMIN_TOKEN_FILE
    try:
        return read_token_file(path)
    except OSError:
        raise UsageError(
            f"no token: pass --token, set TOCSIN_TOKEN, or point --data-dir at the server's "
            f"data directory (no readable {path})"
        ) from None


def _client(args: argparse.Namespace) -> TocsinClient:
    server = args.server or os.environ.get("TOCSIN_SERVER") or DEFAULT_SERVER
    configuration.listen_address("--server", server)
    return TocsinClient(server, _token(args), timeout=args.timeout)


# The parser


class _Parser(argparse.ArgumentParser):
    """Usage mistakes, like every other error, are one line starting with `error:`."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"error: {self.prog}: {message} (see {self.prog} --help)\n")


def _common() -> _Parser:
    """Connection and output options, accepted before or after the command."""
    common = _Parser(add_help=False)
    s = argparse.SUPPRESS
    common.add_argument("--server", default=s, help="HOST:PORT (env TOCSIN_SERVER)")
    common.add_argument("--token", default=s, help="API token (env TOCSIN_TOKEN)")
    common.add_argument("--data-dir", default=s, help="read the admin token from this directory")
    common.add_argument("--json", action="store_true", default=s, help="print JSON")
    common.add_argument(
        "--timeout", type=seconds, default=s, help="seconds per call, more than 0 (default 10)"
    )
    return common


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="tocsin",
        description="Tocsin: alert and on-call notification service.",
        parents=[_common()],
    )
    # set_defaults rewrites the defaults of the very action objects it finds, so the commands
    # get their own copy of the common options, whose defaults stay suppressed.
    parser.set_defaults(server=None, token=None, data_dir=None, json=False, timeout=10.0)
    common = _common()
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    server_commands.add_commands(commands)
    alert_actions = alert_commands.add_commands(commands, common)
    team_actions = team_commands.add_commands(commands, common)
    integration_commands.add_commands(commands, common)
    directory_commands.add_commands(commands, common, team_actions)
    escalation_commands.add_commands(commands, common, alert_actions)
    manifest_commands.add_commands(commands, common)
    token_commands.add_commands(commands, common)
    return parser


# Entry points


async def _run_client(args: argparse.Namespace, out: TextIO) -> None:
    async with _client(args) as client:
        await args.run(client, args, out)


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    args = build_parser().parse_args(argv)
    try:
        if args.command in server_commands.COMMANDS:
            try:
                return server_commands.run(args, out)
            except OSError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return EXIT_FAILED
        asyncio.run(_run_client(args, out))
    except (UsageError, configuration.ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except InvalidArgument as exc:
        print(f"error: invalid {exc}", file=sys.stderr)
        return EXIT_FAILED
    except TocsinError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (e.g. `| head`); stop quietly, as Unix tools do.
        sys.stderr.close()
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
