"""The `tocsin` program: the service's own commands (serve, server, migrate, shim) and the
client's commands, which call it, in one parser.

Every client command prints a readable table, or JSON with `--json`; a failure prints one
line starting with `error:` and exits non-zero (1 for a refused or failed call, 2 for usage).
"""

from __future__ import annotations

# Only what `main` needs to take charge of Ctrl-C is imported before it runs; the rest is
# imported by what uses it, so each command loads only its own part.
import argparse
import os
import signal
import sys
from typing import TYPE_CHECKING, NoReturn, TextIO

if TYPE_CHECKING:
    from collections.abc import Sequence

EXIT_FAILED = 1
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report a command Ctrl-C stopped


def build_parser() -> argparse.ArgumentParser:
    from app import commands as server_commands
    from clients.cli import commands as client_commands
    from clients.cli.parser import add_examples, program_parser

    parser, commands = program_parser()
    server_commands.add_commands(commands)
    client_commands.add_commands(commands)
    add_examples(parser, serviceless=server_commands.COMMANDS)
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """The `tocsin` console script. Ctrl-C, at any moment after it starts, ends it with status
    130 and no traceback."""
    if argv is None:  # run as the program, not called by one
        signal.signal(signal.SIGINT, _interrupted)
    try:
        return _main(argv, out or sys.stdout)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


def _interrupted(signum: int, frame: object) -> NoReturn:
    # Raised as KeyboardInterrupt, Ctrl-C could land anywhere (an import, a callback, the
    # interpreter's shutdown), and Python prints a traceback for some of those. Nothing needs
    # undoing first: the service commits a call whole or not at all. serve, server and shim
    # replace this with their own graceful stop once they run.
    os._exit(EXIT_INTERRUPTED)


def _main(argv: Sequence[str] | None, out: TextIO) -> int:
    from app import commands as server_commands
    from clients.cli.arguments import UsageError
    from clients.cli.parser import EXIT_USAGE
    from service.core.errors import ConfigError, InvalidArgument, TocsinError

    args = build_parser().parse_args(argv)
    import asyncio  # after parsing: `--help` and usage mistakes end before they need it

    try:
        if args.command in server_commands.COMMANDS:
            try:
                return server_commands.run(args, out)
            except OSError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return EXIT_FAILED
        asyncio.run(_run_client(args, out))
    except (UsageError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except InvalidArgument as exc:
        print(f"error: invalid {exc}", file=sys.stderr)
        return EXIT_FAILED
    except TocsinError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except BrokenPipeError:
        # The reader went away (e.g. `| head`); stop quietly, as Unix tools do.
        sys.stderr.close()
        return 0
    return 0


async def _run_client(args: argparse.Namespace, out: TextIO) -> None:
    # A --server is checked as the service checks the addresses it is given.
    from app.config import listen_address
    from clients.cli import commands as client_commands

    await client_commands.run(args, out, listen_address)


if __name__ == "__main__":
    sys.exit(main())
