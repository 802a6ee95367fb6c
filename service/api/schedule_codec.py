"""Schedules, their overrides and who is on call between protobuf and the domain's values,
both ways: the servicer and the Python client share it.

On the wire people are usernames. The service stores user ids, so it renames ids to
usernames (`named_*`) before encoding; the client's values hold usernames throughout.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import datetime

from protos.tocsin.v1 import schedules_pb2
from service.api.time_codec import instant, optional_instant, timestamp
from service.core.errors import InvalidArgument
from service.oncall.model import (
    WEEKDAYS,
    Gap,
    OnCall,
    OnCallChange,
    Override,
    Participants,
    Restriction,
    Rotation,
    Schedule,
    Shift,
    Timeline,
    Unit,
)
from service.oncall.restrictions import restriction
from service.oncall.rotations import CUSTOM, KINDS, RotationSpec
from service.oncall.usecases import ScheduleSpec
from service.people.model import EMPTY_SLOT


def _user_name(names: Mapping[str, str], user: str | None) -> str | None:
    return None if user is None else names.get(user, user)


def named_schedule(schedule: Schedule, names: Mapping[str, str], team: str) -> Schedule:
    """The schedule with usernames for user ids and the team's name for its id."""
    rotations = tuple(
        dataclasses.replace(
            r,
            participants=tuple(
                Participants(p.from_shift, tuple(_user_name(names, u) for u in p.users))
                for p in r.participants
            ),
        )
        for r in schedule.rotations
    )
    return dataclasses.replace(schedule, rotations=rotations, team_id=team)


def named_timeline(line: Timeline, names: Mapping[str, str]) -> Timeline:
    return dataclasses.replace(
        line,
        shifts=tuple(dataclasses.replace(s, user=names.get(s.user, s.user)) for s in line.shifts),
    )


def named_override(override: Override, names: Mapping[str, str], schedule: str) -> Override:
    return dataclasses.replace(
        override, user=names.get(override.user, override.user), schedule_id=schedule
    )


def _restriction_to_pb(r: Restriction) -> schedules_pb2.Restriction:
    message = schedules_pb2.Restriction(start_time=f"{r.start:%H:%M}", end_time=f"{r.end:%H:%M}")
    if r.start_day is not None and r.end_day is not None:
        message.start_day = WEEKDAYS[r.start_day]
        message.end_day = WEEKDAYS[r.end_day]
    return message


def _restriction_from_pb(message: schedules_pb2.Restriction, field: str) -> Restriction:
    return restriction(
        message.start_time, message.end_time, message.start_day, message.end_day, field
    )


def _restrictions_from_pb(message: schedules_pb2.Rotation, field: str) -> tuple[Restriction, ...]:
    return tuple(
        _restriction_from_pb(r, f"{field}.restrictions[{i}]")
        for i, r in enumerate(message.restrictions)
    )


def rotation_to_pb(rotation: Rotation) -> schedules_pb2.Rotation:
    """A stored rotation as its spec shows it: its current participant list."""
    return rotation_spec_to_pb(RotationSpec.of(rotation))


def rotation_spec_to_pb(spec: RotationSpec) -> schedules_pb2.Rotation:
    message = schedules_pb2.Rotation(
        name=spec.name,
        type=spec.kind,
        length=spec.length,
        unit=spec.unit,
        start=timestamp(spec.start),
        participants=list(spec.participants),
        restrictions=[_restriction_to_pb(r) for r in spec.restrictions],
    )
    if spec.end is not None:
        message.end.CopyFrom(timestamp(spec.end))
    return message


def rotation_spec_from_pb(message: schedules_pb2.Rotation, field: str) -> RotationSpec:
    if not message.HasField("start"):
        raise InvalidArgument(f"{field}.start", "is required")
    return RotationSpec(
        name=message.name,
        kind=message.type,
        start=instant(message.start, f"{field}.start"),
        participants=tuple(message.participants),
        length=message.length or 1,
        unit=message.unit,
        end=optional_instant(message, "end"),
        restrictions=_restrictions_from_pb(message, field),
    )


def spec_to_pb(spec: ScheduleSpec) -> schedules_pb2.CreateScheduleRequest:
    return schedules_pb2.CreateScheduleRequest(
        name=spec.name,
        team=spec.team,
        time_zone=spec.time_zone,
        description=spec.description,
        rotations=[rotation_spec_to_pb(r) for r in spec.rotations],
    )


def spec_from_pb(message: schedules_pb2.CreateScheduleRequest) -> ScheduleSpec:
    return ScheduleSpec(
        name=message.name,
        team=message.team,
        time_zone=message.time_zone or "UTC",
        description=message.description,
        rotations=tuple(
            rotation_spec_from_pb(r, f"rotations[{i}]") for i, r in enumerate(message.rotations)
        ),
    )


def schedule_to_pb(schedule: Schedule) -> schedules_pb2.Schedule:
    """A named schedule (see `named_schedule`): `team_id` holds the team's name."""
    return schedules_pb2.Schedule(
        id=schedule.id,
        name=schedule.name,
        team=schedule.team_id,
        time_zone=schedule.time_zone,
        description=schedule.description,
        rotations=[rotation_to_pb(r) for r in schedule.rotations],
        created_at=timestamp(schedule.created_at or datetime.fromtimestamp(0).astimezone()),
    )


def schedule_from_pb(message: schedules_pb2.Schedule) -> Schedule:
    """The schedule as shown: participants are usernames, `team_id` the team's name, and
    each rotation's list is its current one."""
    return Schedule(
        id=message.id,
        name=message.name,
        team_id=message.team,
        time_zone=message.time_zone,
        description=message.description,
        rotations=tuple(
            _rotation_from_pb(r, f"rotations[{i}]") for i, r in enumerate(message.rotations)
        ),
        created_at=instant(message.created_at),
    )


def _rotation_from_pb(message: schedules_pb2.Rotation, field: str) -> Rotation:
    unit = Unit(message.unit) if message.type == CUSTOM else KINDS[message.type]
    return Rotation(
        name=message.name,
        unit=unit,
        length=message.length,
        start=instant(message.start),
        end=optional_instant(message, "end"),
        participants=(
            Participants(0, tuple(None if p == EMPTY_SLOT else p for p in message.participants)),
        ),
        restrictions=_restrictions_from_pb(message, field),
    )


def override_to_pb(override: Override) -> schedules_pb2.Override:
    return schedules_pb2.Override(
        id=override.id,
        schedule=override.schedule_id,
        user=override.user,
        start=timestamp(override.start),
        end=timestamp(override.end),
        rotation=override.rotation,
        created_at=timestamp(override.created_at or override.start),
    )


def override_from_pb(message: schedules_pb2.Override) -> Override:
    return Override(
        id=message.id,
        schedule_id=message.schedule,
        user=message.user,
        start=instant(message.start),
        end=instant(message.end),
        rotation=message.rotation,
        created_at=instant(message.created_at),
    )


def on_call_to_pb(
    entries: Sequence[OnCall], names: Mapping[str, str]
) -> list[schedules_pb2.OnCall]:
    return [
        schedules_pb2.OnCall(
            user=names.get(e.user, e.user), rotation=e.rotation, override_id=e.override
        )
        for e in entries
    ]


def on_call_from_pb(entries: Sequence[schedules_pb2.OnCall]) -> tuple[OnCall, ...]:
    return tuple(OnCall(e.user, e.rotation, e.override_id) for e in entries)


def change_to_pb(
    change: OnCallChange | None, names: Mapping[str, str]
) -> schedules_pb2.OnCallChangeResponse:
    if change is None:
        return schedules_pb2.OnCallChangeResponse(found=False)
    return schedules_pb2.OnCallChangeResponse(
        found=True, at=timestamp(change.at), users=sorted(names.get(u, u) for u in change.users)
    )


def change_from_pb(message: schedules_pb2.OnCallChangeResponse) -> OnCallChange | None:
    if not message.found:
        return None
    return OnCallChange(instant(message.at), tuple(message.users))


def timeline_to_pb(schedule: Schedule, line: Timeline) -> schedules_pb2.Timeline:
    """A named timeline (see `named_timeline`)."""
    return schedules_pb2.Timeline(
        schedule=schedule.name,
        time_zone=schedule.time_zone,
        **{"from": timestamp(line.start)},
        to=timestamp(line.end),
        shifts=[
            schedules_pb2.Shift(
                user=s.user,
                rotation=s.rotation,
                start=timestamp(s.start),
                end=timestamp(s.end),
                override_id=s.override,
            )
            for s in line.shifts
        ],
        gaps=[schedules_pb2.Gap(start=timestamp(g.start), end=timestamp(g.end)) for g in line.gaps],
    )


def timeline_from_pb(message: schedules_pb2.Timeline) -> tuple[str, str, Timeline]:
    """The schedule's name and zone, and its timeline."""
    line = Timeline(
        start=instant(getattr(message, "from")),
        end=instant(message.to),
        shifts=tuple(
            Shift(s.user, instant(s.start), instant(s.end), s.rotation, s.override_id)
            for s in message.shifts
        ),
        gaps=tuple(Gap(instant(g.start), instant(g.end)) for g in message.gaps),
    )
    return message.schedule, message.time_zone, line
