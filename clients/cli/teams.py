"""`tocsin teams create|list|get|rename|delete`: the teams that own alerts."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, TextIO

from clients.cli import render
from clients.cli.parser import Commands

if TYPE_CHECKING:
    from clients.client import TocsinClient


async def teams_create(client: TocsinClient, args: argparse.Namespace, out: TextIO) -> None:
    team = await client.create_team(args.name, args.description or "")
    render.write_json(out, team) if args.json else render.team_detail(out, team)


async def teams_list(client: TocsinClient, args: argparse.Namespace, out: TextIO) -> None:
    teams = await client.list_teams()
    render.write_json(out, teams) if args.json else render.teams_table(out, teams)


async def teams_get(client: TocsinClient, args: argparse.Namespace, out: TextIO) -> None:
    team = await client.get_team(args.team_name)
    render.write_json(out, team) if args.json else render.team_detail(out, team)


async def teams_rename(client: TocsinClient, args: argparse.Namespace, out: TextIO) -> None:
    team = await client.rename_team(args.team_name, args.new_name)
    render.write_json(out, team) if args.json else render.team_detail(out, team)


async def teams_delete(client: TocsinClient, args: argparse.Namespace, out: TextIO) -> None:
    await client.delete_team(args.team_name)
    if args.json:
        render.write_json(out, {"deleted": args.team_name})
    else:
        out.write(f"deleted team {args.team_name}\n")


def add_commands(commands: Commands, common: argparse.ArgumentParser) -> Commands:
    """Registers `tocsin teams ...`; returns its actions, for the member commands."""
    teams = commands.add_parser("teams", help="manage teams")
    team_commands: Commands = teams.add_subparsers(
        dest="teams_command", required=True, metavar="ACTION"
    )
    team_create = team_commands.add_parser("create", parents=[common], help="create a team")
    team_create.add_argument("name", metavar="NAME", help="the team's name")
    team_create.add_argument("--description", help="what the team does")
    team_create.set_defaults(run=teams_create)
    team_commands.add_parser("list", parents=[common], help="list teams").set_defaults(
        run=teams_list
    )
    team_get = team_commands.add_parser("get", parents=[common], help="show a team")
    team_get.add_argument("team_name", metavar="TEAM", help="name or id")
    team_get.set_defaults(run=teams_get)
    team_rename = team_commands.add_parser("rename", parents=[common], help="rename a team")
    team_rename.add_argument("team_name", metavar="TEAM", help="name or id")
    team_rename.add_argument("new_name", metavar="NEW_NAME", help="the team's new name")
    team_rename.set_defaults(run=teams_rename)
    team_delete = team_commands.add_parser("delete", parents=[common], help="delete an empty team")
    team_delete.add_argument("team_name", metavar="TEAM", help="name or id")
    team_delete.set_defaults(run=teams_delete)
    return team_commands
