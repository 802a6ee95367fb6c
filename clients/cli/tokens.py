"""`tocsin tokens create|list|revoke`: the API tokens every call needs."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, TextIO

from clients.cli import render
from clients.cli.credentials import token_in_use
from clients.cli.parser import Commands
from service.core.errors import FailedPrecondition

if TYPE_CHECKING:
    from clients.client import TocsinClient


async def tokens_create(client: TocsinClient, args: argparse.Namespace, out: TextIO) -> None:
    info, secret = await client.create_token(args.name)
    if args.json:
        render.write_json(out, {"token": secret, "info": info})
        return
    out.write(f"created token {info.id} ({info.name}); its secret, shown only now:\n{secret}\n")


async def tokens_list(client: TocsinClient, args: argparse.Namespace, out: TextIO) -> None:
    tokens = await client.list_tokens()
    render.write_json(out, tokens) if args.json else render.tokens_table(out, tokens)


async def tokens_revoke(client: TocsinClient, args: argparse.Namespace, out: TextIO) -> None:
    if not args.force:
        mine = await client.caller_token()
        if args.id == mine.id:
            raise FailedPrecondition(
                f"token {mine.id} ({mine.name}) is the one this command runs with "
                f"(from {token_in_use(args)[1]}): once revoked, every command made with it "
                "fails; pass --force to revoke it anyway"
            )
    info = await client.revoke_token(args.id)
    render.write_json(out, info) if args.json else out.write(f"revoked token {info.id}\n")


def add_commands(commands: Commands, common: argparse.ArgumentParser) -> None:
    """Registers `tocsin tokens ...`."""
    tokens = commands.add_parser("tokens", help="manage API tokens")
    token_commands = tokens.add_subparsers(dest="tokens_command", required=True, metavar="ACTION")
    token_create = token_commands.add_parser("create", parents=[common], help="create a token")
    token_create.add_argument(
        "name", metavar="NAME", help="what the token is for; recorded as the actor of its changes"
    )
    token_create.set_defaults(run=tokens_create)
    token_commands.add_parser("list", parents=[common], help="list tokens").set_defaults(
        run=tokens_list
    )
    token_revoke = token_commands.add_parser("revoke", parents=[common], help="revoke a token")
    token_revoke.add_argument("id", metavar="TOKEN_ID", help="its id, as `tokens list` shows")
    token_revoke.add_argument(
        "--force", action="store_true", help="revoke it even if it is the token this command uses"
    )
    token_revoke.set_defaults(run=tokens_revoke)
