"""The `tocsin` command line: the service's own `serve`, and a client for everything else.

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
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

if TYPE_CHECKING:
    from collections.abc import Sequence

    from clients.client import TocsinClient

DEFAULT_SERVER = "127.0.0.1:50051"
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report a command Ctrl-C stopped
GLOBAL_OPTIONS = "--server, --token, --data-dir, --json, --timeout"


# Connection


def _client(args: argparse.Namespace) -> TocsinClient:
    from app import config as configuration
    from clients.cli.credentials import token_in_use
    from clients.client import TocsinClient

    server = args.server or os.environ.get("TOCSIN_SERVER") or DEFAULT_SERVER
    configuration.listen_address("--server", server)
    return TocsinClient(server, token_in_use(args)[0], timeout=args.timeout)


# The parser


class _Parser(argparse.ArgumentParser):
    """Usage mistakes, like every other error, are one line starting with `error:`; help keeps
    each command's example as written."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"error: {self.prog}: {_suggest(message)} (see {self.prog} --help)\n")


def _suggest(message: str) -> str:
    """A mistyped command or value: the nearest known one instead of the whole list."""
    import difflib
    import re

    found = re.search(r"invalid choice: '(?P<typed>[^']*)' \(choose from (?P<known>.*)\)", message)
    if found is None:
        return message
    known = re.findall(r"'([^']*)'", found["known"])
    near = difflib.get_close_matches(found["typed"], known, n=1, cutoff=0.6)
    if not near:
        return message
    return (
        f"{message[: found.start()]}invalid choice: {found['typed']!r} (did you mean {near[0]!r}?)"
    )


def _common(shown: bool) -> _Parser:
    """Connection and output options, accepted before or after the command. They are
    described once, in `tocsin --help`; each command's help names them in a line."""
    from clients.cli.arguments import seconds

    common = _Parser(add_help=False)
    s = argparse.SUPPRESS

    def text(help_text: str) -> str:
        return help_text if shown else s

    common.add_argument(
        "--server",
        default=s,
        metavar="HOST:PORT",
        help=text(f"the service (env TOCSIN_SERVER; default {DEFAULT_SERVER})"),
    )
    common.add_argument(
        "--token",
        default=s,
        help=text("API token (env TOCSIN_TOKEN; default: the admin token in --data-dir)"),
    )
    common.add_argument(
        "--data-dir",
        default=s,
        metavar="DIR",
        help=text(
            "read the admin token from this directory (env TOCSIN_DATA_DIR; default ./.tocsin)"
        ),
    )
    common.add_argument(
        "--json", action="store_true", default=s, help=text("print JSON instead of tables")
    )
    common.add_argument(
        "--timeout",
        type=seconds,
        default=s,
        metavar="SECONDS",
        help=text("seconds each call may take, more than 0 (default 10)"),
    )
    return common


def _add_examples(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> None:
    """Ends each command's help with its example and a pointer to the global options."""
    from app import commands as server_commands
    from clients.cli.examples import EXAMPLES

    subcommands = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    for action in subcommands:
        for name, child in action.choices.items():
            _add_examples(child, (*path, name))
    if path and not subcommands:
        parser.epilog = f"example:\n  {EXAMPLES[' '.join(path)]}"
        if path[0] not in server_commands.COMMANDS:  # which call no service
            parser.epilog += f"\n\nglobal options ({GLOBAL_OPTIONS}): see `tocsin --help`"


def build_parser() -> argparse.ArgumentParser:
    from app import commands as server_commands
    from clients.cli import alert_arguments
    from clients.cli import directory as directory_commands
    from clients.cli import escalation as escalation_commands
    from clients.cli import integrations as integration_commands
    from clients.cli import manifest as manifest_commands
    from clients.cli import teams as team_commands
    from clients.cli import tokens as token_commands

    parser = _Parser(
        prog="tocsin",
        description="Tocsin: alert and on-call notification service.",
        epilog="`tocsin COMMAND --help` describes a command, with an example.",
        parents=[_common(shown=True)],
    )
    # set_defaults rewrites the defaults of the very action objects it finds, so the commands
    # get their own copy of the common options, whose defaults stay suppressed.
    parser.set_defaults(server=None, token=None, data_dir=None, json=False, timeout=10.0)
    common = _common(shown=False)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    server_commands.add_commands(commands)
    alert_actions = alert_arguments.add_commands(commands, common)
    team_actions = team_commands.add_commands(commands, common)
    integration_commands.add_commands(commands, common)
    directory_commands.add_commands(commands, common, team_actions)
    escalation_commands.add_commands(commands, common, alert_actions)
    manifest_commands.add_commands(commands, common)
    token_commands.add_commands(commands, common)
    _add_examples(parser)
    return parser


# Entry points


async def _run_client(args: argparse.Namespace, out: TextIO) -> None:
    async with _client(args) as client:
        await args.run(client, args, out)


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


if __name__ == "__main__":
    sys.exit(main())
