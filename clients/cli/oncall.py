"""`tocsin schedules oncall|timeline|gaps`: who is on call in a schedule, now or over time,
and the times nobody is."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, TextIO

from clients.cli import render
from clients.cli.arguments import whole_number
from clients.cli.parser import Commands
from clients.cli.schedule_times import typed_time, wall_time
from service.core.errors import FailedPrecondition
from service.oncall.model import OnCall, Timeline
from service.oncall.usecases import TIMELINE_MAX

if TYPE_CHECKING:
    from clients.client import TocsinClient

_days = whole_number(1, TIMELINE_MAX.days)


def _on_call_line(entries: Sequence[OnCall]) -> str:
    if not entries:
        return "nobody"
    return ", ".join(
        f"{e.user} ({e.rotation or 'override'}{', override' if e.override and e.rotation else ''})"
        for e in entries
    )


async def schedules_oncall(client: TocsinClient, args: argparse.Namespace, out: TextIO) -> None:
    schedule = await client.get_schedule(args.schedule)
    at = typed_time(args.at, schedule.time_zone, "--at")
    if args.next or args.previous:
        change = await client.next_on_call(schedule.id, at, previous=args.previous)
        if args.json:
            render.write_json(out, change)
        elif change is None:
            out.write("nobody else within a year\n")
        else:
            verb = "until" if args.previous else "from"
            out.write(
                f"{', '.join(change.users)} {verb} {wall_time(change.at, schedule.time_zone)}\n"
            )
        return
    when, entries = await client.who_is_on_call(schedule.id, at)
    if args.json:
        render.write_json(out, {"at": when, "on_call": entries})
        return
    out.write(f"{wall_time(when, schedule.time_zone)}: {_on_call_line(entries)}\n")


def timeline_table(out: TextIO, time_zone: str, line: Timeline) -> None:
    rows = [
        [
            wall_time(s.start, time_zone),
            wall_time(s.end, time_zone),
            s.user,
            s.rotation or "override",
            s.override or "",
        ]
        for s in line.shifts
    ]
    rows += [
        [wall_time(g.start, time_zone), wall_time(g.end, time_zone), "(nobody)", "", ""]
        for g in line.gaps
    ]
    rows.sort(key=lambda r: r[0])
    render.table(out, ["FROM", "TO", "WHO", "ROTATION", "OVERRIDE"], rows)


async def schedules_timeline(client: TocsinClient, args: argparse.Namespace, out: TextIO) -> None:
    schedule = await client.get_schedule(args.schedule)
    start = typed_time(args.start, schedule.time_zone, "--from")
    end = typed_time(args.end, schedule.time_zone, "--to")
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
                    f"{name}: nobody on call {wall_time(gap.start, time_zone)} to "
                    f"{wall_time(gap.end, time_zone)}\n"
                )
        if not with_gaps:
            out.write(f"no gaps in the next {args.days} days ({len(found)} schedule(s))\n")
    if with_gaps:
        # A check for scripts and CI: non-zero when anyone could go unpaged.
        raise FailedPrecondition(
            f"{len(with_gaps)} schedule(s) have times with nobody on call in the next "
            f"{args.days} days"
        )


def add_commands(actions: Commands, common: argparse.ArgumentParser) -> None:
    """Registers `oncall`, `timeline` and `gaps` among the `schedules` actions."""
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
