"""`tocsin schedules override add|remove|list`: someone else on call for a while."""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import TYPE_CHECKING, TextIO

from clients.cli import render
from clients.cli.arguments import OptionError
from clients.cli.parser import Commands
from clients.cli.schedule_times import typed_time, wall_time

if TYPE_CHECKING:
    from clients.client import TocsinClient


async def overrides_add(client: TocsinClient, args: argparse.Namespace, out: TextIO) -> None:
    schedule = await client.get_schedule(args.schedule)
    start = typed_time(args.start, schedule.time_zone, "--start") or datetime.now().astimezone()
    end = typed_time(args.end, schedule.time_zone, "--end")
    if end is None:
        raise OptionError("--end", "must be a time, not now")
    override = await client.add_override(schedule.id, args.user, start, end, args.rotation or "")
    if args.json:
        render.write_json(out, override)
        return
    scope = f" ({override.rotation})" if override.rotation else ""
    out.write(
        f"override {override.id}: {override.user} on call in {schedule.name}{scope} from "
        f"{wall_time(override.start, schedule.time_zone)} to "
        f"{wall_time(override.end, schedule.time_zone)}\n"
    )


async def overrides_remove(client: TocsinClient, args: argparse.Namespace, out: TextIO) -> None:
    ended = await client.remove_override(args.schedule, args.override_id)
    if args.json:
        render.write_json(out, {"removed": args.override_id, "ended_early": ended})
    elif ended is None:
        out.write(f"deleted override {args.override_id}\n")
    else:
        out.write(f"override {args.override_id} had begun: it now ends {render.when(ended.end)}\n")


async def overrides_list(client: TocsinClient, args: argparse.Namespace, out: TextIO) -> None:
    schedule = await client.get_schedule(args.schedule)
    overrides = await client.list_overrides(schedule.id)
    if args.json:
        render.write_json(out, overrides)
        return
    render.table(
        out,
        ["ID", "USER", "FROM", "TO", "ROTATION"],
        [
            [
                o.id,
                o.user,
                wall_time(o.start, schedule.time_zone),
                wall_time(o.end, schedule.time_zone),
                o.rotation or "(all)",
            ]
            for o in overrides
        ],
    )


def add_commands(actions: Commands, common: argparse.ArgumentParser) -> None:
    """Registers `override ...` among the `schedules` actions."""
    override = actions.add_parser("override", help="overrides: someone else on call for a while")
    override_actions = override.add_subparsers(
        dest="override_command", required=True, metavar="ACTION"
    )
    add = override_actions.add_parser("add", parents=[common], help="add an override")
    add.add_argument("schedule", help="name or id")
    add.add_argument("--user", required=True, help="who is on call instead (username or id)")
    add.add_argument("--start", help="default now; no offset = the schedule's zone")
    add.add_argument("--end", required=True, help="no offset = the schedule's zone")
    add.add_argument("--rotation", help="replace only this rotation's person")
    add.set_defaults(run=overrides_add)
    remove = override_actions.add_parser(
        "remove", parents=[common], help="delete an override, or end one in progress now"
    )
    remove.add_argument("schedule", help="name or id")
    remove.add_argument("override_id", metavar="OVERRIDE_ID", help="as `override list` shows")
    remove.set_defaults(run=overrides_remove)
    listing = override_actions.add_parser(
        "list", parents=[common], help="current and future overrides"
    )
    listing.add_argument("schedule", help="name or id")
    listing.set_defaults(run=overrides_list)
