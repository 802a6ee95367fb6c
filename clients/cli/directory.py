"""`tocsin users ...`, `tocsin teams members|add-member|remove-member` and
`tocsin schedules ...`: the CLI for people and on-call schedules.

Times typed without a UTC offset are wall-clock times in the schedule's zone; ones that zone
skips or repeats are refused with an explanation.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import io
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, TextIO

from clients.cli import render
from clients.cli.arguments import (
    OptionError,
    UsageError,
    check_writable,
    duration_text,
    whole_number,
    write_whole,
)
from clients.cli.parser import Commands
from service.core.errors import FailedPrecondition, InvalidArgument
from service.core.wallclock import parse_instant, zone
from service.oncall.model import OnCall, Restriction, Schedule, Timeline
from service.oncall.usecases import (
    CUSTOM,
    KINDS,
    TIMELINE_MAX,
    RotationSpec,
    ScheduleSpec,
    parse_restriction,
)
from service.people.model import Channel, NotificationRule, NotificationStep, User, effective_rule
from service.people.usecases import DELAY_MAX_MINUTES, REPEAT_TIMES_MAX, RULE_KINDS

if TYPE_CHECKING:
    from clients.client import TocsinClient


def _at(text: str | None, time_zone: str, field: str) -> datetime | None:
    """`now`, or ISO 8601 with an offset, or a wall time in `time_zone`."""
    if text is None or text.strip().lower() == "now":
        return None
    try:
        return parse_instant(text, zone(time_zone), field)
    except InvalidArgument as exc:  # typed wrong, not refused by the service
        raise OptionError(exc.field, exc.rule) from None


def _restriction(text: str) -> Restriction:
    try:
        return parse_restriction(text, "--restriction")
    except InvalidArgument as exc:
        raise argparse.ArgumentTypeError(exc.rule) from None


def _wall(instant: datetime, time_zone: str) -> str:
    return instant.astimezone(zone(time_zone)).strftime("%Y-%m-%d %H:%M %Z")


# Users


def _user_detail(out: TextIO, user: User) -> None:
    out.write(f"username:   {user.username}\n")
    out.write(f"id:         {user.id}\n")
    out.write(f"full name:  {user.full_name or '-'}\n")
    out.write(f"time zone:  {user.time_zone}\n")
    out.write(f"role:       {user.role.value}\n")
    out.write("contact methods:\n")
    methods = [[m.name, m.channel.value, m.address] for m in user.contact_methods]
    _indented(out, methods or [["(none)"]])
    for kind in RULE_KINDS:
        rule = effective_rule(user, high_priority=kind == "high_priority")
        own = getattr(user.notification_rules, kind) is not None
        label = kind.replace("_", " ")
        out.write(f"{label} rule{'' if own else ' (not set: uses this)'}:\n")
        if not rule.steps:
            out.write("  nothing: no contact method to page\n")
        _indented(
            out,
            [
                [f"after {duration_text(timedelta(minutes=s.delay_minutes))}", s.contact_method]
                for s in rule.steps
            ],
        )
        if rule.repeat_times:
            again = duration_text(timedelta(minutes=rule.repeat_minutes))
            out.write(f"  again every {again}, {rule.repeat_times} more times\n")


def _indented(out: TextIO, rows: list[list[str]]) -> None:
    """Rows under a heading, two spaces in, their columns aligned."""
    if not rows:
        return
    lines = io.StringIO()
    render.table(lines, rows[0], rows[1:])
    for line in lines.getvalue().splitlines():
        out.write(f"  {line}\n")


def _show_user(out: TextIO, args: argparse.Namespace, user: User) -> None:
    render.write_json(out, user) if args.json else _user_detail(out, user)


async def users_create(client: TocsinClient, args: argparse.Namespace, out: TextIO) -> None:
    user = await client.create_user(
        args.username,
        full_name=args.full_name or "",
        time_zone=args.time_zone or "",
        role=args.role or "",
    )
    _show_user(out, args, user)


async def users_list(client: TocsinClient, args: argparse.Namespace, out: TextIO) -> None:
    users = await client.list_users()
    if args.json:
        render.write_json(out, users)
        return
    render.table(
        out,
        ["USERNAME", "FULL NAME", "TIME ZONE", "ROLE", "CONTACT METHODS"],
        [
            [
                u.username,
                u.full_name,
                u.time_zone,
                u.role.value,
                ", ".join(f"{m.channel.value}:{m.name}" for m in u.contact_methods),
            ]
            for u in users
        ],
    )


async def users_get(client: TocsinClient, args: argparse.Namespace, out: TextIO) -> None:
    _show_user(out, args, await client.get_user(args.user))


async def users_update(client: TocsinClient, args: argparse.Namespace, out: TextIO) -> None:
    user = await client.update_user(
        args.user, full_name=args.full_name, time_zone=args.time_zone, role=args.role
    )
    _show_user(out, args, user)


async def users_delete(client: TocsinClient, args: argparse.Namespace, out: TextIO) -> None:
    await client.delete_user(args.user)
    render.write_json(out, {"deleted": args.user}) if args.json else out.write(
        f"deleted user {args.user}\n"
    )


async def users_add_contact(client: TocsinClient, args: argparse.Namespace, out: TextIO) -> None:
    user = await client.add_contact_method(args.user, args.channel, args.address, args.name or "")
    _show_user(out, args, user)


async def users_remove_contact(client: TocsinClient, args: argparse.Namespace, out: TextIO) -> None:
    _show_user(out, args, await client.remove_contact_method(args.user, args.contact_method))


def _step(text: str) -> NotificationStep:
    """`METHOD` or `METHOD:MINUTES`."""
    name, _, minutes = text.partition(":")
    if not name or (minutes and not minutes.isdigit()):
        raise argparse.ArgumentTypeError(
            f"expected CONTACT_METHOD or CONTACT_METHOD:MINUTES, such as sms:1, not {text!r}"
        )
    if int(minutes or 0) > DELAY_MAX_MINUTES:
        raise argparse.ArgumentTypeError(
            f"the minutes must be 0-{DELAY_MAX_MINUTES} (got {text!r})"
        )
    return NotificationStep(name, int(minutes or 0))


async def users_set_rule(client: TocsinClient, args: argparse.Namespace, out: TextIO) -> None:
    if args.default:
        if args.step:
            raise OptionError("--step", "give steps or --default, not both")
        rule = None
    else:
        if not args.step:
            raise OptionError("--step", "give at least one step, or --default")
        rule = NotificationRule(tuple(args.step), args.repeat_minutes, args.repeat_times)
    _show_user(out, args, await client.set_notification_rule(args.user, args.kind, rule))


# Team members


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


# Schedules


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
        out.write(f"  starts    {_wall(rotation.start, schedule.time_zone)}\n")
        if rotation.end is not None:
            out.write(f"  ends      {_wall(rotation.end, schedule.time_zone)}\n")
        people = ", ".join(u or "none" for u in rotation.current_users)
        out.write(f"  people    {people}\n")
        for restriction in rotation.restrictions:
            out.write(f"  only      {restriction.describe()}\n")


async def schedules_create(client: TocsinClient, args: argparse.Namespace, out: TextIO) -> None:
    rotations: tuple[RotationSpec, ...] = ()
    if args.rotation:
        if not args.start or not args.participants:
            raise OptionError("--rotation", "needs --start and --participants too")
        start = _at(args.start, args.time_zone, "--start")
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
                end=_at(args.end, args.time_zone, "--end") if args.end else None,
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
    from clients.manifest.plan import rotation_spec

    specs = [rotation_spec(r) for r in current.rotations]
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
    start = _at(args.start, time_zone, "--start") if args.start else None
    if args.start and start is None:
        raise OptionError("--start", "give a time, not now")
    changes = {
        "kind": args.type,
        "length": args.length,
        "unit": args.unit,
        "start": start,
        "end": _at(args.end, time_zone, "--end") if args.end else None,
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
    render.write_json(out, {"deleted": args.schedule}) if args.json else out.write(
        f"deleted schedule {args.schedule}\n"
    )


def _on_call_line(entries: Sequence[OnCall]) -> str:
    if not entries:
        return "nobody"
    return ", ".join(
        f"{e.user} ({e.rotation or 'override'}{', override' if e.override and e.rotation else ''})"
        for e in entries
    )


async def schedules_oncall(client: TocsinClient, args: argparse.Namespace, out: TextIO) -> None:
    schedule = await client.get_schedule(args.schedule)
    at = _at(args.at, schedule.time_zone, "--at")
    if args.next or args.previous:
        change = await client.next_on_call(schedule.id, at, previous=args.previous)
        if args.json:
            render.write_json(out, change)
        elif change is None:
            out.write("nobody else within a year\n")
        else:
            verb = "until" if args.previous else "from"
            out.write(f"{', '.join(change.users)} {verb} {_wall(change.at, schedule.time_zone)}\n")
        return
    when, entries = await client.who_is_on_call(schedule.id, at)
    if args.json:
        render.write_json(out, {"at": when, "on_call": entries})
        return
    out.write(f"{_wall(when, schedule.time_zone)}: {_on_call_line(entries)}\n")


def timeline_table(out: TextIO, time_zone: str, line: Timeline) -> None:
    rows = [
        [
            _wall(s.start, time_zone),
            _wall(s.end, time_zone),
            s.user,
            s.rotation or "override",
            s.override or "",
        ]
        for s in line.shifts
    ]
    rows += [
        [_wall(g.start, time_zone), _wall(g.end, time_zone), "(nobody)", "", ""] for g in line.gaps
    ]
    rows.sort(key=lambda r: r[0])
    render.table(out, ["FROM", "TO", "WHO", "ROTATION", "OVERRIDE"], rows)


async def schedules_timeline(client: TocsinClient, args: argparse.Namespace, out: TextIO) -> None:
    schedule = await client.get_schedule(args.schedule)
    start = _at(args.start, schedule.time_zone, "--from")
    end = _at(args.end, schedule.time_zone, "--to")
    if args.days is not None:
        end = (start or datetime.now().astimezone()) + timedelta(days=args.days)
    _, time_zone, line = await client.timeline(schedule.id, start, end)
    render.write_json(out, line) if args.json else timeline_table(out, time_zone, line)


async def schedules_gaps(client: TocsinClient, args: argparse.Namespace, out: TextIO) -> None:
    found = await client.find_gaps(args.schedule or "", args.days)
    with_gaps = [(name, tz, line) for name, tz, line in found if line.gaps]
    if args.json:
        render.write_json(out, [{"schedule": name, "gaps": line.gaps} for name, _, line in found])
    else:
        for name, time_zone, line in with_gaps:
            for gap in line.gaps:
                out.write(
                    f"{name}: nobody on call {_wall(gap.start, time_zone)} to "
                    f"{_wall(gap.end, time_zone)}\n"
                )
        if not with_gaps:
            out.write(f"no gaps in the next {args.days} days ({len(found)} schedule(s))\n")
    if with_gaps:
        # A check for scripts and CI: non-zero when anyone could go unpaged.
        raise FailedPrecondition(
            f"{len(with_gaps)} schedule(s) have times with nobody on call in the next "
            f"{args.days} days"
        )


async def overrides_add(client: TocsinClient, args: argparse.Namespace, out: TextIO) -> None:
    schedule = await client.get_schedule(args.schedule)
    start = _at(args.start, schedule.time_zone, "--start") or datetime.now().astimezone()
    end = _at(args.end, schedule.time_zone, "--end")
    if end is None:
        raise OptionError("--end", "must be a time, not now")
    override = await client.add_override(schedule.id, args.user, start, end, args.rotation or "")
    if args.json:
        render.write_json(out, override)
        return
    scope = f" ({override.rotation})" if override.rotation else ""
    out.write(
        f"override {override.id}: {override.user} on call in {schedule.name}{scope} from "
        f"{_wall(override.start, schedule.time_zone)} to "
        f"{_wall(override.end, schedule.time_zone)}\n"
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
                _wall(o.start, schedule.time_zone),
                _wall(o.end, schedule.time_zone),
                o.rotation or "(all)",
            ]
            for o in overrides
        ],
    )


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


def add_commands(commands: Commands, common: argparse.ArgumentParser, teams: Commands) -> None:
    _user_commands(commands, common)
    _member_commands(teams, common)
    _schedule_commands(commands, common)


def _user_commands(commands: Commands, common: argparse.ArgumentParser) -> None:
    users = commands.add_parser("users", help="manage users and how they are paged")
    actions = users.add_subparsers(dest="users_command", required=True, metavar="ACTION")
    create = actions.add_parser("create", parents=[common], help="create a user")
    create.add_argument("username", help="what they log in and are named by")
    create.add_argument("--full-name", help="their name as people say it")
    create.add_argument("--time-zone", help="IANA zone, e.g. Europe/Berlin (default UTC)")
    create.add_argument("--role", choices=["admin", "user"], help="their role (default user)")
    create.set_defaults(run=users_create)
    actions.add_parser("list", parents=[common], help="list users").set_defaults(run=users_list)
    for name, run, text in (
        ("get", users_get, "show a user, their contact methods and rules"),
        ("delete", users_delete, "delete a user who is in no schedule"),
    ):
        one = actions.add_parser(name, parents=[common], help=text)
        one.add_argument("user", help="username or id")
        one.set_defaults(run=run)
    update = actions.add_parser("update", parents=[common], help="change a user's details")
    update.add_argument("user", help="username or id")
    update.add_argument("--full-name", help="a new full name (default: unchanged)")
    update.add_argument("--time-zone", help="a new IANA zone (default: unchanged)")
    update.add_argument("--role", choices=["admin", "user"], help="a new role (default: unchanged)")
    update.set_defaults(run=users_update)
    add = actions.add_parser("add-contact", parents=[common], help="add a contact method")
    add.add_argument("user", help="username or id")
    add.add_argument(
        "--channel", required=True, choices=[c.value for c in Channel], help="how to reach them"
    )
    add.add_argument("--address", required=True, help="email, E.164 number or device token")
    add.add_argument("--name", help="what rules call it (default: the channel)")
    add.set_defaults(run=users_add_contact)
    remove = actions.add_parser("remove-contact", parents=[common], help="remove a contact method")
    remove.add_argument("user", help="username or id")
    remove.add_argument("contact_method", metavar="CONTACT_METHOD", help="its name or id")
    remove.set_defaults(run=users_remove_contact)
    rule = actions.add_parser(
        "set-rule", parents=[common], help="set how a user is paged (or restore the default)"
    )
    rule.add_argument("user", help="username or id")
    rule.add_argument(
        "--kind",
        choices=RULE_KINDS,
        default="new_alert",
        help="which rule: for new alerts, or for P1-P2 ones (default new_alert)",
    )
    rule.add_argument(
        "--step",
        type=_step,
        action="append",
        default=[],
        help="CONTACT_METHOD[:MINUTES], whole minutes after the alert (default 0); "
        "in order (repeatable)",
    )
    rule.add_argument(
        "--repeat-minutes",
        type=whole_number(0, DELAY_MAX_MINUTES),
        default=0,
        help=f"start the steps again every this many whole minutes, 0-{DELAY_MAX_MINUTES} "
        "(default 0)",
    )
    rule.add_argument(
        "--repeat-times",
        type=whole_number(0, REPEAT_TIMES_MAX),
        default=0,
        help=f"how many more times (0-{REPEAT_TIMES_MAX})",
    )
    rule.add_argument("--default", action="store_true", help="restore the default rule")
    rule.set_defaults(run=users_set_rule)


def _member_commands(teams: Commands, common: argparse.ArgumentParser) -> None:
    members = teams.add_parser("members", parents=[common], help="list a team's members")
    members.add_argument("team_name", metavar="TEAM", help="name or id")
    members.set_defaults(run=teams_members)
    add = teams.add_parser(
        "add-member", parents=[common], help="add a user to a team (or change their role)"
    )
    add.add_argument("team_name", metavar="TEAM", help="name or id")
    add.add_argument("user", help="username or id")
    add.add_argument(
        "--role", choices=["admin", "member"], help="their role in the team (default member)"
    )
    add.set_defaults(run=teams_add_member)
    remove = teams.add_parser("remove-member", parents=[common], help="take a user off a team")
    remove.add_argument("team_name", metavar="TEAM", help="name or id")
    remove.add_argument("user", help="username or id")
    remove.set_defaults(run=teams_remove_member)


_days = whole_number(1, TIMELINE_MAX.days)


def _schedule_commands(commands: Commands, common: argparse.ArgumentParser) -> None:
    schedules = commands.add_parser("schedules", help="on-call schedules")
    actions = schedules.add_subparsers(dest="schedules_command", required=True, metavar="ACTION")
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
    create.add_argument(
        "--type",
        choices=[*KINDS, CUSTOM],
        default="weekly",
        help="how often the rotation hands off (default weekly)",
    )
    create.add_argument(
        "--length", type=whole_number(1), default=1, help="units per shift (default 1)"
    )
    create.add_argument("--unit", choices=["hours", "days", "weeks"], help="for custom rotations")
    create.add_argument("--start", help="first hand-off; no offset = wall time in the zone")
    create.add_argument("--end", help="when the rotation stops")
    create.add_argument("--participants", help="usernames in order, comma-separated; none = empty")
    create.add_argument(
        "--restriction",
        type=_restriction,
        action="append",
        default=[],
        help="09:00-17:00 or mon 09:00-fri 17:00 (repeatable)",
    )
    create.set_defaults(run=schedules_create)
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
    update.add_argument("--type", choices=[*KINDS, CUSTOM], help="how often the rotation hands off")
    update.add_argument("--length", type=whole_number(1), help="units per shift")
    update.add_argument("--unit", choices=["hours", "days", "weeks"], help="for custom rotations")
    update.add_argument("--start", help="first hand-off; no offset = wall time in the zone")
    update.add_argument("--end", help="when the rotation stops")
    update.add_argument("--participants", help="usernames in order, comma-separated; none = empty")
    update.add_argument(
        "--restriction",
        type=_restriction,
        action="append",
        help="09:00-17:00 or mon 09:00-fri 17:00 (repeatable; replaces the rotation's)",
    )
    update.set_defaults(run=schedules_update)
    listing = actions.add_parser("list", parents=[common], help="list schedules")
    listing.add_argument("--team", help="only this team's")
    listing.set_defaults(run=schedules_list)
    for name, run, text in (
        ("get", schedules_get, "show a schedule"),
        ("delete", schedules_delete, "delete a schedule and its overrides"),
    ):
        one = actions.add_parser(name, parents=[common], help=text)
        one.add_argument("schedule", help="name or id")
        one.set_defaults(run=run)
    oncall = actions.add_parser("oncall", parents=[common], help="who is on call")
    oncall.add_argument("schedule", help="name or id")
    oncall.add_argument("--at", help="a time (default now); no offset = the schedule's zone")
    which = oncall.add_mutually_exclusive_group()
    which.add_argument("--next", action="store_true", help="who is on call next")
    which.add_argument("--previous", action="store_true", help="who was on call before")
    oncall.set_defaults(run=schedules_oncall)
    timeline = actions.add_parser("timeline", parents=[common], help="every shift in a window")
    timeline.add_argument("schedule", help="name or id")
    timeline.add_argument("--from", dest="start", help="default now")
    until = timeline.add_mutually_exclusive_group()
    until.add_argument("--to", dest="end", help="default a week after --from")
    until.add_argument("--days", type=_days, help="instead of --to")
    timeline.set_defaults(run=schedules_timeline)
    gaps = actions.add_parser(
        "gaps", parents=[common], help="check for times nobody is on call (exit 1 if any)"
    )
    gaps.add_argument("schedule", nargs="?", help="name or id (default: every schedule)")
    gaps.add_argument("--days", type=_days, default=14, help="how far ahead (default 14)")
    gaps.set_defaults(run=schedules_gaps)
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
