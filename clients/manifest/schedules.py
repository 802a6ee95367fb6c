"""Schedules in the manifest, with their rotations and overrides: read from the file,
planned against the server, and written out by an export. Overrides are only ever added,
so those made through the API survive."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from clients.client import TocsinClient
from clients.manifest import fields
from clients.manifest.changes import PlannedCall, PlannedChange, field_lines, known, value_lines
from service.core.errors import InvalidArgument
from service.core.wallclock import zone
from service.oncall.model import Override, Rotation, Schedule
from service.oncall.restrictions import parse_restriction
from service.oncall.rotations import CUSTOM, RotationSpec, build_rotation
from service.oncall.usecases import ROTATIONS_MAX, ScheduleSpec
from service.people.model import EMPTY_SLOT

ROTATION_KEYS = ("length", "unit", "end", "restrictions")


@dataclass(frozen=True)
class ScheduleDecl:
    """What the file declares; None is a key it leaves out (or gives no value)."""

    name: str
    time_zone: str
    team: str | None = None
    description: str | None = None
    rotations: tuple[RotationSpec, ...] | None = None
    overrides: tuple[Override, ...] = ()  # id and schedule_id unused


# Reading


def read(value: object, path: str) -> ScheduleDecl:
    found = fields.keys(
        value, path, ("name", "time_zone"), ("team", "description", "rotations", "overrides")
    )
    name = fields.name(found["name"], f"{path}.name")
    where = f"{path}.time_zone"
    tz = zone(fields.text(found["time_zone"], where), where)
    return ScheduleDecl(
        name,
        tz.key,
        team=fields.optional(found, "team", path, fields.text),
        description=fields.optional(found, "description", path, fields.description),
        rotations=fields.optional(found, "rotations", path, functools.partial(_rotations, tz=tz)),
        overrides=fields.listed(
            found.get("overrides"), f"{path}.overrides", functools.partial(_override, tz=tz)
        ),
    )


def _rotations(value: object, path: str, tz: ZoneInfo) -> tuple[RotationSpec, ...]:
    rotations = fields.listed(value, path, functools.partial(_rotation, tz=tz))
    if len(rotations) > ROTATIONS_MAX:
        raise InvalidArgument(path, f"must have at most {ROTATIONS_MAX} rotations")
    fields.unique([r.name for r in rotations], path, "name")
    return rotations


def _rotation(value: object, path: str, tz: ZoneInfo) -> RotationSpec:
    found = fields.keys(value, path, ("name", "type", "start", "participants"), ROTATION_KEYS)
    participants = found["participants"]
    if not isinstance(participants, list):
        raise InvalidArgument(f"{path}.participants", "must be a list of usernames")
    return RotationSpec(
        name=fields.text(found["name"], f"{path}.name"),
        kind=fields.text(found["type"], f"{path}.type"),
        start=fields.instant(found["start"], tz, f"{path}.start"),
        participants=tuple(
            fields.text(p, f"{path}.participants[{i}]") for i, p in enumerate(participants)
        ),
        length=fields.whole_number(found.get("length") or 1, f"{path}.length"),
        unit=fields.text(found.get("unit") or "", f"{path}.unit"),
        end=fields.optional(found, "end", path, functools.partial(_instant, tz=tz)),
        restrictions=fields.listed(
            found.get("restrictions"),
            f"{path}.restrictions",
            lambda item, where: parse_restriction(fields.text(item, where), where),
        ),
    )


def _instant(value: object, path: str, tz: ZoneInfo) -> datetime:
    return fields.instant(value, tz, path)


def _override(value: object, path: str, tz: ZoneInfo) -> Override:
    found = fields.keys(value, path, ("user", "start", "end"), ("rotation",))
    start = fields.instant(found["start"], tz, f"{path}.start")
    end = fields.instant(found["end"], tz, f"{path}.end")
    if end <= start:
        raise InvalidArgument(f"{path}.end", "must be after the start")
    user = fields.text(found["user"], f"{path}.user")
    rotation = fields.text(found.get("rotation") or "", f"{path}.rotation")
    return Override("", "", user, start, end, rotation)


# Planning


def change(
    decl: ScheduleDecl,
    path: str,
    current: Schedule | None,
    users: Mapping[str, str],
    teams: Mapping[str, str],
) -> PlannedChange | None:
    """Creating the schedule, or updating it whole when anything the file gives differs."""
    team = known(
        teams, decl.team or (current.team_id if current else "default"), f"{path}.team", "team"
    )
    if decl.rotations is not None:
        specs = decl.rotations
        rotations = [
            build_rotation(spec, decl.time_zone, users, f"{path}.rotations[{i}]")
            for i, spec in enumerate(specs)
        ]
    else:
        rotations = list(current.rotations) if current else []
        specs = tuple(RotationSpec.of(r) for r in rotations)
    description = decl.description
    if description is None:
        description = current.description if current else ""
    spec = ScheduleSpec(
        name=current.name if current else decl.name,
        team=team,
        time_zone=decl.time_zone,
        description=description,
        rotations=specs,
    )
    if current is None:
        create = functools.partial(TocsinClient.create_schedule, spec=spec)
        return PlannedChange((f"+ schedule {decl.name}",), (PlannedCall(path, create),))
    lines = value_lines(
        (
            ("team", current.team_id, team),
            ("time_zone", current.time_zone, decl.time_zone),
            ("description", current.description, description),
        )
    )
    if decl.rotations is not None:
        lines.extend(_rotation_lines(current.rotations, rotations, zone(decl.time_zone)))
    if not lines:
        return None
    update = functools.partial(TocsinClient.update_schedule, schedule=current.name, spec=spec)
    return PlannedChange(
        tuple(f"~ schedule {current.name}: {line}" for line in lines), (PlannedCall(path, update),)
    )


def _stamp(instant: datetime, tz: ZoneInfo) -> str:
    """An instant as ISO 8601 in `tz`, with its offset: to the minute when that is exact."""
    wall = instant.astimezone(tz)
    return wall.isoformat(timespec="minutes" if not (wall.second or wall.microsecond) else "auto")


def _rotation_fields(rotation: Rotation, tz: ZoneInfo) -> dict[str, str]:
    kind = rotation.kind
    return {
        "type": kind if kind != CUSTOM else f"every {rotation.length} {rotation.unit.value}",
        "start": _stamp(rotation.start, tz),
        "end": "none" if rotation.end is None else _stamp(rotation.end, tz),
        "participants": ",".join(u or EMPTY_SLOT for u in rotation.current_users),
        "restrictions": ", ".join(r.describe() for r in rotation.restrictions) or "none",
    }


def _rotation_lines(have: Sequence[Rotation], want: Sequence[Rotation], tz: ZoneInfo) -> list[str]:
    """Rotations are matched by name: added, changed, removed, then reordered."""
    old = {r.name.lower(): r for r in have}
    new = {r.name.lower() for r in want}
    lines = []
    for i, rotation in enumerate(want):
        before = old.get(rotation.name.lower())
        if before is None:
            lines.append(f"+ rotation {rotation.name}")
            continue
        lines.extend(
            field_lines(
                f"rotations[{i}]", _rotation_fields(before, tz), _rotation_fields(rotation, tz)
            )
        )
    lines.extend(f"- rotation {r.name}" for r in have if r.name.lower() not in new)
    order_before = [r.name for r in have if r.name.lower() in new]
    order_after = [old[r.name.lower()].name for r in want if r.name.lower() in old]
    if order_before != order_after:
        lines.append(f"rotations order {','.join(order_before)} -> {','.join(order_after)}")
    return lines


def override_changes(
    decl: ScheduleDecl,
    path: str,
    current: Schedule | None,
    overrides: Sequence[Override],
    users: Mapping[str, str],
) -> list[PlannedChange]:
    """Adding the file's overrides that `overrides`, the server's, lacks."""
    name = current.name if current else decl.name
    if decl.rotations is not None:
        rotations = [r.name for r in decl.rotations]
    else:
        rotations = [r.name for r in current.rotations] if current else []
    tz = zone(decl.time_zone)
    have = {(o.user.lower(), o.start, o.end, o.rotation.lower()) for o in overrides}
    out = []
    for j, override in enumerate(decl.overrides):
        where = f"{path}.overrides[{j}]"
        user = known(users, override.user, f"{where}.user", "user")
        rotation = override.rotation
        if rotation and rotation.lower() not in {r.lower() for r in rotations}:
            raise InvalidArgument(
                f"{where}.rotation",
                f"no rotation {rotation!r} in {name} (has: {', '.join(rotations) or 'none'})",
            )
        key = (user.lower(), override.start, override.end, rotation.lower())
        if key in have:
            continue
        have.add(key)
        span = f"{_stamp(override.start, tz)}..{_stamp(override.end, tz)}"
        line = f"+ override {user} on {name} {span}" + (f" ({rotation})" if rotation else "")
        add = functools.partial(
            TocsinClient.add_override,
            schedule=name,
            user=user,
            start=override.start,
            end=override.end,
            rotation=rotation,
        )
        out.append(PlannedChange((line,), (PlannedCall(where, add),)))
    return out


# Exporting


def document(schedule: Schedule, overrides: Sequence[Override]) -> dict[str, object]:
    tz = zone(schedule.time_zone)
    return {
        "name": schedule.name,
        "team": schedule.team_id,  # the client gives the team's name here
        "time_zone": schedule.time_zone,
        "description": schedule.description,
        "rotations": [_rotation_document(r, tz) for r in schedule.rotations],
        "overrides": [
            {"user": o.user, "start": _stamp(o.start, tz), "end": _stamp(o.end, tz)}
            | ({"rotation": o.rotation} if o.rotation else {})
            for o in sorted(overrides, key=lambda o: (o.start, o.end, o.user))
        ],
    }


def _rotation_document(rotation: Rotation, tz: ZoneInfo) -> dict[str, object]:
    doc: dict[str, object] = {"name": rotation.name, "type": rotation.kind}
    if rotation.kind == CUSTOM:
        doc.update(length=rotation.length, unit=rotation.unit.value)
    doc["start"] = _stamp(rotation.start, tz)
    if rotation.end is not None:
        doc["end"] = _stamp(rotation.end, tz)
    doc["participants"] = [u or EMPTY_SLOT for u in rotation.current_users]
    if rotation.restrictions:
        doc["restrictions"] = [r.describe() for r in rotation.restrictions]
    return doc
