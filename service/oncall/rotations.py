"""Rotations from what people send: a `RotationSpec` checked and built into a `Rotation`,
and a schedule's new rotations merged with the participant history of its old ones. Pure:
the caller reads the users and the clock."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from service.core import validation
from service.core.errors import InvalidArgument
from service.core.wallclock import local, resolve, zone
from service.oncall import shifts as oncall
from service.oncall.model import (
    Participants,
    Restriction,
    Rotation,
    Schedule,
    Unit,
    continued,
    same_timing,
)
from service.oncall.restrictions import RESTRICTIONS_MAX
from service.people.model import EMPTY_SLOT, User

PARTICIPANTS_MAX = 100
ROTATION_NAME_MAX = 100
PERIOD_MAX = timedelta(days=366)
KINDS = {"hourly": Unit.HOURS, "daily": Unit.DAYS, "weekly": Unit.WEEKS}
CUSTOM = "custom"
# Rotations live between these: beyond them, instants in some zones are outside what
# datetime can represent, and every reader of the schedule would fail.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)

_ROTATION_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._-]*")


@dataclass(frozen=True)
class RotationSpec:
    """A rotation as a person describes it: kind hourly, daily, weekly, or custom with a unit;
    participants by username (or id), `none` for an empty slot."""

    name: str
    kind: str
    start: datetime
    participants: tuple[str, ...]
    length: int = 1
    unit: str = ""
    end: datetime | None = None
    restrictions: tuple[Restriction, ...] = ()

    @classmethod
    def of(cls, rotation: Rotation) -> RotationSpec:
        """A stored rotation as its spec, to show or to send back unchanged: its current
        participant list, and a unit only where the kind does not imply one."""
        return cls(
            name=rotation.name,
            kind=rotation.kind,
            start=rotation.start,
            participants=tuple(u or EMPTY_SLOT for u in rotation.current_users),
            length=rotation.length,
            unit=rotation.unit.value if rotation.kind == CUSTOM else "",
            end=rotation.end,
            restrictions=rotation.restrictions,
        )


def _unit(spec: RotationSpec, field: str) -> Unit:
    if spec.kind in KINDS:
        if spec.unit and spec.unit != KINDS[spec.kind].value:
            raise InvalidArgument(
                f"{field}.unit", f"is only for custom rotations (got {spec.unit!r})"
            )
        return KINDS[spec.kind]
    if spec.kind != CUSTOM:
        raise InvalidArgument(
            f"{field}.type", f"must be hourly, daily, weekly or custom (got {spec.kind!r})"
        )
    try:
        return Unit(spec.unit)
    except ValueError:
        raise InvalidArgument(
            f"{field}.unit", f"a custom rotation needs hours, days or weeks (got {spec.unit!r})"
        ) from None


def check_start(rotation: Rotation, time_zone: str, field: str) -> None:
    """Wall-aligned hand-offs repeat the start's wall time, so it must be one the zone has
    exactly once; the second pass through a repeated hour cannot be repeated."""
    if not rotation.wall_aligned:
        return
    tz = zone(time_zone)
    wall = local(rotation.start, tz)
    if resolve(wall, tz) != rotation.start:
        first = resolve(wall, tz).astimezone(tz).isoformat(timespec="minutes")
        raise InvalidArgument(
            f"{field}.start",
            f"{wall:%Y-%m-%d %H:%M} happens twice in {time_zone} and this is its second "
            f"occurrence; hand-offs repeat at the first ({first}): start there instead",
        )


def _participants(
    names: Sequence[str], users: Mapping[str, str], field: str
) -> tuple[str | None, ...]:
    if not names:
        raise InvalidArgument(field, f"needs at least one user (or {EMPTY_SLOT!r})")
    if len(names) > PARTICIPANTS_MAX:
        raise InvalidArgument(
            field, f"must have at most {PARTICIPANTS_MAX} entries (got {len(names)})"
        )
    out: list[str | None] = []
    for index, name in enumerate(names):
        if name.strip().lower() == EMPTY_SLOT:
            out.append(None)
            continue
        found = users.get(name) or users.get(name.strip().lower())
        if found is None:
            raise InvalidArgument(f"{field}[{index}]", f"no user named {name!r}")
        out.append(found)
    return tuple(out)


def build_rotation(
    spec: RotationSpec, time_zone: str, users: Mapping[str, str], field: str
) -> Rotation:
    """The rotation `spec` describes, with its participants as one list from shift 0."""
    validation.text(f"{field}.name", spec.name, ROTATION_NAME_MAX, required=True)
    if not _ROTATION_NAME.fullmatch(spec.name) or spec.name != spec.name.strip():
        raise InvalidArgument(
            f"{field}.name",
            f"must be letters, digits, spaces, '.', '_' and '-' (got {spec.name!r})",
        )
    unit = _unit(spec, field)
    if spec.length < 1 or unit.step * spec.length > PERIOD_MAX:
        raise InvalidArgument(
            f"{field}.length", f"must be 1 or more {unit.value}, at most a year (got {spec.length})"
        )
    if spec.start.tzinfo is None:
        raise InvalidArgument(f"{field}.start", "must carry a time zone")
    for name, value in (("start", spec.start), ("end", spec.end)):
        if value is not None and not EARLIEST <= value < LATEST:
            raise InvalidArgument(
                f"{field}.{name}", f"must be between {EARLIEST:%Y} and {LATEST:%Y} (got {value})"
            )
    if spec.end is not None and spec.end <= spec.start:
        raise InvalidArgument(f"{field}.end", "must be after the start")
    if len(spec.restrictions) > RESTRICTIONS_MAX:
        raise InvalidArgument(
            f"{field}.restrictions", f"must have at most {RESTRICTIONS_MAX} windows"
        )
    people = _participants(spec.participants, users, f"{field}.participants")
    rotation = Rotation(
        name=spec.name,
        unit=unit,
        length=spec.length,
        start=spec.start,
        end=spec.end,
        participants=(Participants(0, people),),
        restrictions=spec.restrictions,
    )
    check_start(rotation, time_zone, field)
    return rotation


def merged(
    current: Schedule | None, rotations: Sequence[Rotation], time_zone: str, now: datetime
) -> tuple[Rotation, ...]:
    """The new rotations, keeping each existing one's participant history: a changed list
    takes effect at the next hand-off after `now`, so the past and the shift on now keep
    their people, also when it is renamed (see `continued`). One whose timing (or the
    schedule's zone) changed starts afresh."""
    if current is None:
        return tuple(rotations)
    out = []
    for rotation, before in zip(rotations, continued(current.rotations, rotations), strict=True):
        if before is None or not same_timing(before, rotation) or time_zone != current.time_zone:
            out.append(rotation)
            continue
        users = rotation.current_users
        if users == before.current_users:
            out.append(dataclasses.replace(rotation, participants=before.participants))
            continue
        k = oncall.next_handoff_shift(before, time_zone, now)
        kept = tuple(p for p in before.participants if p.from_shift < k)
        if kept and kept[-1].users == users:
            # Back to the list in force now (a pending change undone): it simply carries on.
            out.append(dataclasses.replace(rotation, participants=kept))
            continue
        out.append(dataclasses.replace(rotation, participants=(*kept, Participants(k, users))))
    return tuple(out)


def users_by_reference(users: Sequence[User]) -> dict[str, str]:
    """User ids by id, username and lower-cased username."""
    found: dict[str, str] = {}
    for user in users:
        found[user.id] = user.id
        found[user.username] = user.id
        found[user.username.lower()] = user.id
    return found
