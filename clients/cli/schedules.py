"""`tocsin schedules ...`: on-call schedules, their rotations and their iCalendar feeds; who
is on call (`oncall`, `timeline`, `gaps`) and overrides have modules of their own."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
from typing import TYPE_CHECKING, TextIO

from clients.cli import oncall, overrides, render
from clients.cli.arguments import (
    OptionError,
    UsageError,
    check_writable,
    whole_number,
    write_whole,
)
from clients.cli.parser import Commands, add_object_commands
from clients.cli.schedule_times import typed_time, wall_time
from service.core.errors import InvalidArgument
from service.oncall.model import Restriction, Schedule
from service.oncall.restrictions import parse_restriction
from service.oncall.rotations import CUSTOM, KINDS, RotationSpec
from service.oncall.usecases import ScheduleSpec

if TYPE_CHECKING:
    from clients.client import TocsinClient


def _restriction(text: str) -> Restriction:
    try:
        return parse_restriction(text, "--restriction")
    except InvalidArgument as exc:
        raise argparse.ArgumentTypeError(exc.rule) from None


def schedule_detail(out: TextIO, schedule: Schedule) -> None:
    out.write(f"schedule:   {schedule.name}\n")
    out.write(f"id:         {schedule.id}\n")
    out.write(f"team:       {schedule.team_id}\n")
    out.write(f"time zone:  {schedule.time_zone}\n")
    if schedule.description:
        out.write(f"about:      {schedule.description}\n")
    for rotation in schedule.rotations:
        length = "" if rotation.length == 1 else f" every {rotation.length} {rotation.unit.value}"
        out.write(f"rotation {rotation.name}: {rotation.kind}{length}\n")
        out.write(f"  starts    {wall_time(rotation.start, schedule.time_zone)}\n")
        if rotation.end is not None:
            out.write(f"  ends      {wall_time(rotation.end, schedule.time_zone)}\n")
        people = ", ".join(u or "none" for u in rotation.current_users)
        out.write(f"  people    {people}\n")
        for restriction in rotation.restrictions:
            out.write(f"  only      {restriction.describe()}\n")


async def schedules_create(client: TocsinClient, args: argparse.Namespace, out: TextIO) -> None:
    rotations: tuple[RotationSpec, ...] = ()
    if args.rotation:
        if not args.start or not args.participants:
            raise OptionError("--rotation", "needs --start and --participants too")
        start = typed_time(args.start, args.time_zone, "--start")
        if start is None:
            raise OptionError("--start", "give a time, not now")
        rotations = (
            RotationSpec(
                name=args.rotation,
                kind=args.type,
                start=start,
                participants=tuple(p.strip() for p in args.participants.split(",")),
                length=args.length,
                unit=args.unit or "",
                end=typed_time(args.end, args.time_zone, "--end") if args.end else None,
                restrictions=tuple(args.restriction),
            ),
        )
    spec = ScheduleSpec(
        name=args.name,
        team=args.team or "",
        time_zone=args.time_zone,
        description=args.description or "",
        rotations=rotations,
    )
    schedule = await client.create_schedule(spec)
    render.write_json(out, schedule) if args.json else schedule_detail(out, schedule)


async def schedules_update(client: TocsinClient, args: argparse.Namespace, out: TextIO) -> None:
    """Sends only what is given; rotation options change the rotation --rotation names (or
    add it), and the other rotations go back as they are, keeping their history."""
    header = (
        ("name", args.name),
        ("team", args.team),
        ("time_zone", args.time_zone),
        ("description", args.description),
    )
    fields = [name for name, value in header if value is not None]
    rotations: tuple[RotationSpec, ...] = ()
    if args.rotation or args.remove_rotation:
        current = await client.get_schedule(args.schedule)
        rotations = _changed_rotations(current, args, args.time_zone or current.time_zone)
        fields.append("rotations")
    elif any(getattr(args, option) is not None for option in _ROTATION_OPTIONS):
        raise OptionError("--rotation", "name the rotation the rotation options change")
    if not fields:
        raise UsageError("nothing to change: give at least one option (see --help)")
    spec = ScheduleSpec(
        name=args.name or "",
        team=args.team or "",
        time_zone=args.time_zone or "UTC",
        description=args.description or "",
        rotations=rotations,
    )
    schedule = await client.update_schedule(args.schedule, spec, fields)
    render.write_json(out, schedule) if args.json else schedule_detail(out, schedule)


_ROTATION_OPTIONS = ("type", "length", "unit", "start", "end", "participants", "restriction")


def _changed_rotations(
    current: Schedule, args: argparse.Namespace, time_zone: str
) -> tuple[RotationSpec, ...]:
    # The file format is imported by the command that needs it, not at every start.

    specs = [RotationSpec.of(r) for r in current.rotations]
    names = [spec.name.lower() for spec in specs]
    known = ", ".join(spec.name for spec in specs) or "none"
    if args.remove_rotation:
        if args.remove_rotation.lower() not in names:
            raise OptionError(
                "--remove-rotation",
                f"no rotation {args.remove_rotation!r} in {current.name} (it has: {known})",
            )
        del specs[names.index(args.remove_rotation.lower())]
        names.remove(args.remove_rotation.lower())
    if not args.rotation:
        return tuple(specs)
    index = names.index(args.rotation.lower()) if args.rotation.lower() in names else None
    if index is None and (not args.start or not args.participants):
        raise OptionError(
            "--rotation",
            f"{current.name} has no rotation {args.rotation!r} (it has: {known}); "
            "a new one needs --start and --participants",
        )
    before = specs[index] if index is not None else None
    start = typed_time(args.start, time_zone, "--start") if args.start else None
    if args.start and start is None:
        raise OptionError("--start", "give a time, not now")
    changes = {
        "kind": args.type,
        "length": args.length,
        "unit": args.unit,
        "start": start,
        "end": typed_time(args.end, time_zone, "--end") if args.end else None,
        "participants": tuple(p.strip() for p in args.participants.split(","))
        if args.participants
        else None,
        "restrictions": tuple(args.restriction) if args.restriction else None,
    }
    given = {key: value for key, value in changes.items() if value is not None}
    if before is None:
        changed = RotationSpec(name=args.rotation, **{"kind": "weekly", **given})
        return (*specs, changed)
    specs[index or 0] = dataclasses.replace(before, **given)
    return tuple(specs)


async def schedules_get(client: TocsinClient, args: argparse.Namespace, out: TextIO) -> None:
    schedule = await client.get_schedule(args.schedule)
    render.write_json(out, schedule) if args.json else schedule_detail(out, schedule)


async def schedules_list(client: TocsinClient, args: argparse.Namespace, out: TextIO) -> None:
    schedules = await client.list_schedules(args.team or "")
    if args.json:
        render.write_json(out, schedules)
        return
    render.table(
        out,
        ["NAME", "TEAM", "TIME ZONE", "ROTATIONS"],
        [
            [s.name, s.team_id, s.time_zone, ", ".join(r.name for r in s.rotations)]
            for s in schedules
        ],
    )


async def schedules_delete(client: TocsinClient, args: argparse.Namespace, out: TextIO) -> None:
    await client.delete_schedule(args.schedule)
    render.deleted(out, args.json, "schedule", args.schedule)


async def schedules_export_ical(
    client: TocsinClient, args: argparse.Namespace, out: TextIO
) -> None:
    if args.output:  # a rotated secret's new URL must not be lost to a bad path
        await asyncio.to_thread(check_writable, args.output)
    calendar = (
        await client.rotate_ical_secret(args.schedule)
        if args.rotate_secret
        else await client.export_ical(args.schedule, args.user or "")
    )
    if args.output:
        await asyncio.to_thread(write_whole, args.output, calendar.ical)
    if args.json:  # with -o, the file has the calendar and the JSON says where it went
        shown = {"url": calendar.url, **({"output": args.output} if args.output else {})}
        render.write_json(out, shown if args.output else {**shown, "ical": calendar.ical})
    elif args.output:
        out.write(f"wrote {args.output}; subscribe at {calendar.url}\n")
    else:
        out.write(calendar.ical)


# The parser


def add_commands(commands: Commands, common: argparse.ArgumentParser) -> None:
    """Registers `tocsin schedules ...`, in the order its help lists them."""
    schedules = commands.add_parser("schedules", help="on-call schedules")
    actions = schedules.add_subparsers(dest="schedules_command", required=True, metavar="ACTION")
    _create_command(actions, common)
    _update_command(actions, common)
    listing = actions.add_parser("list", parents=[common], help="list schedules")
    listing.add_argument("--team", help="only this team's")
    listing.set_defaults(run=schedules_list)
    add_object_commands(
        actions,
        common,
        "schedule",
        (
            ("get", schedules_get, "show a schedule"),
            ("delete", schedules_delete, "delete a schedule and its overrides"),
        ),
        help="name or id",
    )
    oncall.add_commands(actions, common)
    _ical_command(actions, common)
    overrides.add_commands(actions, common)


def _create_command(actions: Commands, common: argparse.ArgumentParser) -> None:
    create = actions.add_parser(
        "create",
        parents=[common],
        help="create a schedule (with one rotation; more with `tocsin apply`)",
    )
    create.add_argument("name", help="the schedule's name")
    create.add_argument("--time-zone", required=True, help="IANA zone, e.g. America/New_York")
    create.add_argument("--team", help="owner team (default: default)")
    create.add_argument("--description", help="what the schedule is for")
    create.add_argument("--rotation", help="the rotation's name")
    _rotation_options(create, changing=False)
    create.set_defaults(run=schedules_create)


def _update_command(actions: Commands, common: argparse.ArgumentParser) -> None:
    update = actions.add_parser(
        "update",
        parents=[common],
        help="change what is given of a schedule; the rest stays (with --rotation, change or "
        "add that rotation: the others stay as they are)",
    )
    update.add_argument("schedule", help="name or id")
    update.add_argument("--name", help="rename it")
    update.add_argument("--time-zone", help="IANA zone, e.g. America/New_York")
    update.add_argument("--team", help="move it to this team")
    update.add_argument("--description", help="what the schedule is for")
    update.add_argument("--rotation", help="the rotation to change, or to add")
    update.add_argument("--remove-rotation", metavar="ROTATION", help="drop this rotation")
    _rotation_options(update, changing=True)
    update.set_defaults(run=schedules_update)


def _rotation_options(parser: argparse.ArgumentParser, *, changing: bool) -> None:
    """The rotation's options, shared by create and update: a new rotation gets defaults; in
    a change, an option left out leaves that part of the rotation as it is."""
    if changing:
        parser.add_argument(
            "--type", choices=[*KINDS, CUSTOM], help="how often the rotation hands off"
        )
        parser.add_argument("--length", type=whole_number(1), help="units per shift")
    else:
        parser.add_argument(
            "--type",
            choices=[*KINDS, CUSTOM],
            default="weekly",
            help="how often the rotation hands off (default weekly)",
        )
        parser.add_argument(
            "--length", type=whole_number(1), default=1, help="units per shift (default 1)"
        )
    parser.add_argument("--unit", choices=["hours", "days", "weeks"], help="for custom rotations")
    parser.add_argument("--start", help="first hand-off; no offset = wall time in the zone")
    parser.add_argument("--end", help="when the rotation stops")
    parser.add_argument("--participants", help="usernames in order, comma-separated; none = empty")
    replaces = "; replaces the rotation's" if changing else ""
    parser.add_argument(
        "--restriction",
        type=_restriction,
        action="append",
        default=None if changing else [],  # None: left out, the rotation's stay
        help=f"09:00-17:00 or mon 09:00-fri 17:00 (repeatable{replaces})",
    )


def _ical_command(actions: Commands, common: argparse.ArgumentParser) -> None:
    ical = actions.add_parser(
        "export-ical", parents=[common], help="the schedule as iCalendar, and its feed URL"
    )
    ical.add_argument("schedule", help="name or id")
    ical.add_argument("--user", help="only this user's shifts")
    ical.add_argument("-o", "--output", help="write the file here and print the feed URL")
    ical.add_argument(
        "--rotate-secret", action="store_true", help="new feed URL; the old one stops working"
    )
    ical.set_defaults(run=schedules_export_ical)
