"""Schedule use cases: checking what people send (rotations as `service.oncall.rotations`
builds them), keeping participant history, and asking the pure on-call functions in
`service.oncall.shifts` who is on call.

Participants and override users are stored by user id, so they survive nothing but their
user; callers name users by username (or id) and get usernames back through `names()`.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from service.core import validation
from service.core.clock import Clock
from service.core.errors import FailedPrecondition, InvalidArgument, NotFound
from service.core.ids import new_uuid
from service.core.wallclock import zone
from service.oncall import ical
from service.oncall import shifts as oncall
from service.oncall.model import OnCall, OnCallChange, Override, Rotation, Schedule, Timeline
from service.oncall.rotations import (
    RotationSpec,
    build_rotation,
    check_start,
    merged,
    users_by_reference,
)
from service.oncall.store import ScheduleStore
from service.people.store import PeopleStore
from service.teams.store import TeamStore

ROTATIONS_MAX = 20
TIMELINE_MAX = timedelta(days=400)
OVERRIDE_MAX = timedelta(days=366)
ICAL_PAST = timedelta(days=30)
ICAL_AHEAD = timedelta(days=180)
# What an update may name (its mask).
SCHEDULE_FIELDS = ("name", "team", "time_zone", "description", "rotations")


@dataclass(frozen=True)
class ScheduleSpec:
    name: str
    team: str = ""
    time_zone: str = "UTC"
    description: str = ""
    rotations: tuple[RotationSpec, ...] = ()


class SchedulesPorts(ScheduleStore, TeamStore, PeopleStore, Protocol):
    """What `Schedules` reads and writes: schedules, and the teams and users they name."""


class Schedules:
    def __init__(
        self,
        store: SchedulesPorts,
        clock: Clock,
        new_id: Callable[[], str] = new_uuid,
        new_secret: Callable[[], str] = lambda: secrets.token_urlsafe(24),
    ) -> None:
        self._store = store
        self._clock = clock
        self._new_id = new_id
        self._new_secret = new_secret

    def now(self) -> datetime:
        return self._clock.now()

    async def names(self) -> dict[str, str]:
        """Usernames by user id, for showing participants and shifts."""
        return {user.id: user.username for user in await self._store.list_users()}

    async def _rotations(self, spec: ScheduleSpec) -> tuple[Rotation, ...]:
        zone(spec.time_zone)
        if len(spec.rotations) > ROTATIONS_MAX:
            raise InvalidArgument(
                "rotations", f"must have at most {ROTATIONS_MAX} (got {len(spec.rotations)})"
            )
        users = users_by_reference(await self._store.list_users())
        rotations = [
            build_rotation(r, spec.time_zone, users, f"rotations[{i}]")
            for i, r in enumerate(spec.rotations)
        ]
        seen: set[str] = set()
        for index, rotation in enumerate(rotations):
            if rotation.name.lower() in seen:
                raise InvalidArgument(
                    f"rotations[{index}].name", f"{rotation.name!r} is used twice in the schedule"
                )
            seen.add(rotation.name.lower())
        return tuple(rotations)

    def _check_header(self, spec: ScheduleSpec) -> None:
        validation.object_name(spec.name)
        validation.text("description", spec.description, validation.TEAM_DESCRIPTION_MAX)
        zone(spec.time_zone)

    async def create(self, spec: ScheduleSpec) -> Schedule:
        self._check_header(spec)
        rotations = await self._rotations(spec)
        team = await self._store.get_team(spec.team or "default")
        schedule = Schedule(
            id=self._new_id(),
            name=spec.name,
            team_id=team.id,
            time_zone=zone(spec.time_zone).key,
            description=spec.description,
            rotations=rotations,
            ical_secret=self._new_secret(),
            created_at=self._clock.now(),
        )
        return await self._store.create_schedule(schedule)

    async def update(
        self, schedule: str, spec: ScheduleSpec, fields: Collection[str] = ()
    ) -> Schedule:
        """Changes the schedule's `fields` (see `SCHEDULE_FIELDS`; none means all) to the
        spec's and keeps the rest as they are when the change is made; an empty team keeps
        its own. Given rotations replace the list, keeping participant history as `merged`
        says."""
        validation.reference("schedule", schedule)
        given = validation.update_mask("a schedule", fields, SCHEDULE_FIELDS)
        if "name" in given:
            validation.object_name(spec.name)
        if "description" in given:
            validation.text("description", spec.description, validation.TEAM_DESCRIPTION_MAX)
        new_zone = zone(spec.time_zone).key if "time_zone" in given else None
        rotations: tuple[Rotation, ...] | None = None
        if "rotations" in given:
            # Read in the zone they will have: the new one, else the schedule's.
            where = new_zone or (await self._store.get_schedule(schedule)).time_zone
            rotations = await self._rotations(dataclasses.replace(spec, time_zone=where))
        team = await self._store.get_team(spec.team) if "team" in given and spec.team else None
        now = self._clock.now()

        def change(current: Schedule) -> Schedule:
            tz_name = new_zone or current.time_zone
            kept = current.rotations if rotations is None else rotations
            for index, rotation in enumerate(kept):  # its zone may have changed meanwhile
                check_start(rotation, tz_name, f"rotations[{index}]")
            return dataclasses.replace(
                current,
                name=spec.name if "name" in given else current.name,
                team_id=current.team_id if team is None else team.id,
                time_zone=tz_name,
                description=spec.description if "description" in given else current.description,
                rotations=kept if rotations is None else merged(current, kept, tz_name, now),
            )

        return await self._store.update_schedule(schedule, change)

    async def rotate_ical_secret(self, schedule: str) -> Schedule:
        validation.reference("schedule", schedule)
        secret = self._new_secret()
        return await self._store.update_schedule(
            schedule, lambda s: dataclasses.replace(s, ical_secret=secret)
        )

    async def get(self, schedule: str) -> Schedule:
        validation.reference("schedule", schedule)
        return await self._store.get_schedule(schedule)

    async def list(self, team: str = "") -> Sequence[Schedule]:
        return await self._store.list_schedules(team)

    async def delete(self, schedule: str) -> None:
        validation.reference("schedule", schedule)
        await self._store.delete_schedule(schedule)

    # Overrides

    async def add_override(
        self, schedule: str, user: str, start: datetime, end: datetime, rotation: str = ""
    ) -> Override:
        """One that would have begun already begins now: who was on call stays as it was."""
        validation.reference("schedule", schedule)
        validation.reference("user", user)
        now = self._clock.now()
        if end <= start:
            raise InvalidArgument("end", "must be after the start")
        if end <= now:
            raise InvalidArgument("end", "is in the past: history is not rewritten")
        start = max(start, now)
        if end - start > OVERRIDE_MAX:
            raise InvalidArgument("end", "an override lasts at most a year")
        if start > now + OVERRIDE_MAX:
            # Overrides are listed (and exported) up to two years ahead: one that starts
            # within a year always ends inside that.
            raise InvalidArgument("start", "an override starts at most a year ahead")
        found = await self._store.get_schedule(schedule)
        if rotation and rotation.lower() not in {r.name.lower() for r in found.rotations}:
            known = ", ".join(r.name for r in found.rotations) or "none"
            raise InvalidArgument("rotation", f"no rotation {rotation!r} in {found.name} ({known})")
        named = next((r.name for r in found.rotations if r.name.lower() == rotation.lower()), "")
        who = await self._store.get_user(user)
        override = Override(self._new_id(), found.id, who.id, start, end, named, now)
        return await self._store.add_override(override)

    async def remove_override(self, schedule: str, override: str) -> Override | None:
        """Deletes an override that has not begun; ends one in progress now (what happened
        stays as it was); refuses one that is over."""
        validation.reference("schedule", schedule)
        validation.reference("override", override)
        now = self._clock.now()

        def end(current: Override) -> Override | None:
            if current.end <= now:
                raise FailedPrecondition(
                    f"override {current.id} ended at {current.end.isoformat()}: it is history"
                )
            if current.start >= now:
                return None
            return dataclasses.replace(current, end=now)

        return await self._store.end_override(schedule, override, end)

    async def overrides(
        self, schedule: str, start: datetime | None = None, end: datetime | None = None
    ) -> Sequence[Override]:
        found = await self.get(schedule)
        now = self._clock.now()
        return await self._store.list_overrides(
            [found.id], start or now, end or now + OVERRIDE_MAX * 2
        )

    # Questions

    async def _with_overrides(
        self, schedule: str, start: datetime, end: datetime
    ) -> tuple[Schedule, Sequence[Override]]:
        found = await self.get(schedule)
        return found, await self._store.list_overrides([found.id], start, end)

    async def on_call(self, schedule: str, at: datetime | None = None) -> tuple[OnCall, ...]:
        when = at or self._clock.now()
        found, overrides = await self._with_overrides(schedule, when, when + timedelta(seconds=1))
        return oncall.who_is_on_call(found, overrides, when)

    async def next_on_call(
        self, schedule: str, at: datetime | None = None, previous: bool = False
    ) -> OnCallChange | None:
        when = at or self._clock.now()
        horizon = oncall.SEARCH_HORIZON
        found, overrides = await self._with_overrides(schedule, when - horizon, when + horizon)
        ask = oncall.previous_on_call if previous else oncall.next_on_call
        return ask(found, overrides, when)

    async def timeline(
        self, schedule: str, start: datetime | None = None, end: datetime | None = None
    ) -> tuple[Schedule, Timeline]:
        begin = start or self._clock.now()
        finish = end or begin + timedelta(days=7)
        if finish <= begin:
            raise InvalidArgument("to", "must be after from")
        if finish - begin > TIMELINE_MAX:
            raise InvalidArgument("to", f"a timeline covers at most {TIMELINE_MAX.days} days")
        found, overrides = await self._with_overrides(schedule, begin, finish)
        return found, oncall.timeline(found, overrides, begin, finish)

    async def gaps(self, schedule: str, days: int) -> Sequence[tuple[Schedule, Timeline]]:
        """The next `days` days of one schedule (or of all, when `schedule` is empty), for
        finding times nobody is on call."""
        if not 1 <= days <= TIMELINE_MAX.days:
            raise InvalidArgument("days", f"must be 1-{TIMELINE_MAX.days} (got {days})")
        now = self._clock.now()
        chosen = [await self.get(schedule)] if schedule else list(await self.list())
        out = []
        for found in chosen:
            overrides = await self._store.list_overrides([found.id], now, now + timedelta(days))
            out.append((found, oncall.timeline(found, overrides, now, now + timedelta(days))))
        return out

    async def by_secret(self, schedule_id: str, secret: str) -> Schedule:
        """The schedule an iCalendar link names, if its secret matches (else NotFound, which
        says nothing about which part was wrong)."""
        try:
            found = await self._store.get_schedule(schedule_id)
        except NotFound:
            found = None
        if (
            found is None
            or found.id != schedule_id
            or not secrets.compare_digest(found.ical_secret.encode(), secret.encode())
        ):
            raise NotFound("no such calendar")
        return found

    async def ical_feed(self, schedule_id: str, secret: str, user: str = "") -> str:
        """What the secret URL serves."""
        return await self.ical(await self.by_secret(schedule_id, secret), user)

    async def ical(self, found: Schedule, user: str = "") -> str:
        """The schedule's shifts from a month ago to half a year ahead, as iCalendar; only
        `user`'s when given."""
        user_id = (await self._store.get_user(user)).id if user else ""
        now = self._clock.now()
        start, end = now - ICAL_PAST, now + ICAL_AHEAD
        overrides = await self._store.list_overrides([found.id], start, end)
        line = oncall.timeline(found, overrides, start, end)
        # A shift the window cuts is named by its true start, which an override that ended
        # before the window may have moved: look that far back too, so the name holds still.
        earliest = min((shift.began for shift in line.shifts), default=start)
        if earliest < start:
            overrides = await self._store.list_overrides([found.id], earliest, end)
            line = oncall.timeline(found, overrides, start, end)
        return ical.calendar(found, line, await self.names(), now, user_id)
