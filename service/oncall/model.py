"""Schedules as values: rotations, restrictions, participant history and overrides.

The maths over them lives in `service.oncall.shifts`; the rules for valid input in
`service.oncall.restrictions`, `service.oncall.rotations` and `service.oncall.usecases`.
Instants are timezone-aware UTC datetimes; wall-clock times are naive and belong to the
schedule's zone.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta


class Unit(enum.Enum):
    HOURS = "hours"
    DAYS = "days"
    WEEKS = "weeks"

    @property
    def step(self) -> timedelta:
        return _STEPS[self]


_STEPS = {
    Unit.HOURS: timedelta(hours=1),
    Unit.DAYS: timedelta(days=1),
    Unit.WEEKS: timedelta(weeks=1),
}


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class Restriction:
    """A window of wall-clock time when a rotation is on call.

    Without days it recurs daily from `start` to `end` (an end at or before the start crosses
    midnight). With days (0 = Monday) it recurs weekly from `start_day start` to
    `end_day end` (an end at or before the start wraps into the next week).
    """

    start: time
    end: time
    start_day: int | None = None
    end_day: int | None = None

    @property
    def weekly(self) -> bool:
        return self.start_day is not None

    def describe(self) -> str:
        span = f"{self.start:%H:%M}-{self.end:%H:%M}"
        if self.start_day is None or self.end_day is None:
            return span
        return (
            f"{WEEKDAYS[self.start_day]} {self.start:%H:%M}-"
            f"{WEEKDAYS[self.end_day]} {self.end:%H:%M}"
        )


@dataclass(frozen=True)
class Participants:
    """Who takes the shifts from shift number `from_shift` on, in order; None is an empty slot."""

    from_shift: int
    users: tuple[str | None, ...]


@dataclass(frozen=True)
class Rotation:
    name: str
    unit: Unit
    length: int
    start: datetime
    end: datetime | None = None
    # Oldest first; the first starts at shift 0. A change applies from the next handoff, so
    # earlier shifts keep who had them.
    participants: tuple[Participants, ...] = ()
    restrictions: tuple[Restriction, ...] = ()

    @property
    def period(self) -> timedelta:
        return self.unit.step * self.length

    @property
    def wall_aligned(self) -> bool:
        """Days and weeks, and hours that divide a day, hand off at wall-clock times; other
        lengths are exact elapsed durations."""
        return self.unit is not Unit.HOURS or 24 % self.length == 0

    @property
    def current_users(self) -> tuple[str | None, ...]:
        return self.participants[-1].users if self.participants else ()

    @property
    def kind(self) -> str:
        """hourly, daily or weekly for one unit; custom for longer lengths."""
        if self.length != 1:
            return "custom"
        return {Unit.HOURS: "hourly", Unit.DAYS: "daily", Unit.WEEKS: "weekly"}[self.unit]


def same_timing(a: Rotation, b: Rotation) -> bool:
    return (a.unit, a.length, a.start) == (b.unit, b.length, b.start)


def continued(before: Sequence[Rotation], after: Sequence[Rotation]) -> list[Rotation | None]:
    """For each rotation of `after`, the one of `before` it carries on, if any: the one of
    the same name (case aside), or, renamed, the first whose name is gone and whose timing
    is the same."""
    by_name = {r.name.lower(): r for r in before}
    names = {r.name.lower() for r in after}
    renamed = [r for r in before if r.name.lower() not in names]
    found: list[Rotation | None] = []
    for rotation in after:
        earlier = by_name.get(rotation.name.lower())
        if earlier is None:
            earlier = next((r for r in renamed if same_timing(r, rotation)), None)
            if earlier is not None:
                renamed.remove(earlier)
        found.append(earlier)
    return found


@dataclass(frozen=True)
class Schedule:
    id: str
    name: str
    team_id: str
    time_zone: str
    description: str = ""
    rotations: tuple[Rotation, ...] = ()
    # The secret that makes the iCalendar URL; rotating it revokes old links.
    ical_secret: str = ""
    created_at: datetime | None = None


@dataclass(frozen=True)
class Override:
    """`user` is on call from `start` to `end` instead of whoever the schedule (or, when
    `rotation` is set, that rotation) names."""

    id: str
    schedule_id: str
    user: str
    start: datetime
    end: datetime
    rotation: str = ""
    created_at: datetime | None = None


@dataclass(frozen=True)
class Shift:
    """A stretch of time one user is on call through one rotation, or through an override
    (`override` holds its id; `rotation` is empty for a schedule-wide override). `origin` is
    the shift's true start when the query window cut it off: what identifies the shift, so a
    calendar event keeps its UID however the window moves."""

    user: str
    start: datetime
    end: datetime
    rotation: str
    override: str = ""
    origin: datetime | None = None

    @property
    def began(self) -> datetime:
        """When the shift truly started, inside the query window or not."""
        return self.origin or self.start


@dataclass(frozen=True)
class Gap:
    start: datetime
    end: datetime


@dataclass(frozen=True)
class OnCall:
    """One user on call at an instant, and through what."""

    user: str
    rotation: str
    override: str = ""


@dataclass(frozen=True)
class Timeline:
    start: datetime
    end: datetime
    shifts: tuple[Shift, ...] = ()
    gaps: tuple[Gap, ...] = ()


@dataclass(frozen=True)
class OnCallChange:
    """Who is on call from `at` (the answer to next/previous on-call)."""

    at: datetime
    users: tuple[str, ...] = field(default_factory=tuple)
