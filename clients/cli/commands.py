"""The commands that call the service: every client command group in the parser, and running
the command typed.

Each prints a readable table, or JSON with `--json`; the program they run in turns a failure
into one line starting with `error:`.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from typing import TextIO

from clients.cli import (
    alert_arguments,
    escalation,
    integrations,
    manifest,
    schedules,
    teams,
    tokens,
    users,
)
from clients.cli.parser import DEFAULT_SERVER, Commands, common_options


def add_commands(commands: Commands) -> None:
    """Registers every client command group, in the order `tocsin --help` lists them."""
    common = common_options(shown=False)
    alert_actions = alert_arguments.add_commands(commands, common)
    teams.add_commands(commands, common)
    integrations.add_commands(commands, common)
    users.add_commands(commands, common)
    schedules.add_commands(commands, common)
    escalation.add_commands(commands, common, alert_actions)
    manifest.add_commands(commands, common)
    tokens.add_commands(commands, common)


async def run(
    args: argparse.Namespace, out: TextIO, check_address: Callable[[str, str], object]
) -> None:
    """Runs the client command `args` names. `check_address(option, value)` refuses a service
    address that is not HOST:PORT, as the service's own configuration would."""
    # The gRPC client is loaded only now: `--help` and usage mistakes end without it.
    from clients.cli.credentials import token_in_use
    from clients.client import TocsinClient

    server = args.server or os.environ.get("TOCSIN_SERVER") or DEFAULT_SERVER
    check_address("--server", server)
    async with TocsinClient(server, token_in_use(args)[0], timeout=args.timeout) as client:
        await args.run(client, args, out)
