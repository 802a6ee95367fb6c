"""`tocsin teams ...`: the teams that own alerts, and their members."""

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
    render.deleted(out, args.json, "team", args.team_name)


async def teams_members(client: TocsinClient, args: argparse.Namespace, out: TextIO) -> None:
    members = await client.list_team_members(args.team_name)
    if args.json:
        render.write_json(out, members)
        return
    render.table(out, ["USERNAME", "ROLE"], [[m.username, m.role.value] for m in members])


async def teams_add_member(client: TocsinClient, args: argparse.Namespace, out: TextIO) -> None:
    member = await client.set_team_member(args.team_name, args.user, args.role or "")
    if args.json:
        render.write_json(out, member)
        return
    out.write(f"{member.username}: {member.role.value} of {args.team_name}\n")


async def teams_remove_member(client: TocsinClient, args: argparse.Namespace, out: TextIO) -> None:
    await client.remove_team_member(args.team_name, args.user)
    if args.json:
        render.write_json(out, {"removed": args.user, "team": args.team_name})
        return
    out.write(f"removed {args.user} from {args.team_name}\n")


def add_commands(commands: Commands, common: argparse.ArgumentParser) -> None:
    """Registers `tocsin teams ...`."""
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
    _member_commands(team_commands, common)


def _member_commands(team_commands: Commands, common: argparse.ArgumentParser) -> None:
    members = team_commands.add_parser("members", parents=[common], help="list a team's members")
    members.add_argument("team_name", metavar="TEAM", help="name or id")
    members.set_defaults(run=teams_members)
    add = team_commands.add_parser(
        "add-member", parents=[common], help="add a user to a team (or change their role)"
    )
    add.add_argument("team_name", metavar="TEAM", help="name or id")
    add.add_argument("user", help="username or id")
    add.add_argument(
        "--role", choices=["admin", "member"], help="their role in the team (default member)"
    )
    add.set_defaults(run=teams_add_member)
    remove = team_commands.add_parser(
        "remove-member", parents=[common], help="take a user off a team"
    )
    remove.add_argument("team_name", metavar="TEAM", help="name or id")
    remove.add_argument("user", help="username or id")
    remove.set_defaults(run=teams_remove_member)
