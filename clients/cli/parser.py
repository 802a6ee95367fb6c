"""What every part of the `tocsin` parser shares: one-line usage errors, the connection and
output options, each command's example, and the types command groups register with."""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable, Collection, Iterable
from typing import TYPE_CHECKING, Any, NoReturn, TextIO, TypeAlias

if TYPE_CHECKING:
    from clients.client import TocsinClient

# The actions of a command group, which `add_parser` extends (quoted: not subscriptable at
# run time).
Commands: TypeAlias = "argparse._SubParsersAction[Any]"
# What a client command runs: a call on the service, printing to `out`.
Handler: TypeAlias = Callable[["TocsinClient", argparse.Namespace, TextIO], Awaitable[None]]

DEFAULT_SERVER = "127.0.0.1:50051"
EXIT_USAGE = 2
GLOBAL_OPTIONS = "--server, --token, --data-dir, --json, --timeout"


class Parser(argparse.ArgumentParser):
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


def program_parser() -> tuple[Parser, Commands]:
    """The `tocsin` parser with its global options, and the commands it is yet to be given."""
    parser = Parser(
        prog="tocsin",
        description="Tocsin: alert and on-call notification service.",
        epilog="`tocsin COMMAND --help` describes a command, with an example.",
        parents=[common_options(shown=True)],
    )
    # set_defaults rewrites the defaults of the very action objects it finds, so the commands
    # get their own copy of the common options, whose defaults stay suppressed.
    parser.set_defaults(server=None, token=None, data_dir=None, json=False, timeout=10.0)
    return parser, parser.add_subparsers(dest="command", required=True, metavar="COMMAND")


def common_options(shown: bool) -> Parser:
    """Connection and output options, accepted before or after the command. They are
    described once, in `tocsin --help`; each command's help names them in a line."""
    from clients.cli.arguments import seconds

    common = Parser(add_help=False)
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


def add_object_commands(
    actions: Commands,
    common: argparse.ArgumentParser,
    argument: str,
    commands: Iterable[tuple[str, Handler, str]],
    **argument_options: Any,
) -> None:
    """Registers commands that take one object (`argument`, with `argument_options`) and
    nothing else: each is (its name, what it runs, its help), in the order help lists them."""
    for name, run, text in commands:
        one = actions.add_parser(name, parents=[common], help=text)
        one.add_argument(argument, **argument_options)
        one.set_defaults(run=run)


def add_examples(
    parser: argparse.ArgumentParser, serviceless: Collection[str], path: tuple[str, ...] = ()
) -> None:
    """Ends each command's help with its example and, unless it is one of `serviceless`
    (which call no service), a pointer to the global options."""
    from clients.cli.examples import EXAMPLES

    subcommands = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    for action in subcommands:
        for name, child in action.choices.items():
            add_examples(child, serviceless, (*path, name))
    if path and not subcommands:
        parser.epilog = f"example:\n  {EXAMPLES[' '.join(path)]}"
        if path[0] not in serviceless:
            parser.epilog += f"\n\nglobal options ({GLOBAL_OPTIONS}): see `tocsin --help`"
