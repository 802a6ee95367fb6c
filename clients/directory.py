"""The client's calls for people and schedules: users, team members, schedules, overrides and
on-call questions. A base of `TocsinClient`, which supplies the channel and `_call`.

Users travel as usernames: schedules, shifts and overrides come back naming people by
username, and each rotation's participants are its current list.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime

from google.protobuf.field_mask_pb2 import FieldMask

from clients.calls import Calls
from protos.tocsin.v1 import (
    schedules_pb2,
    schedules_pb2_grpc,
    teams_pb2,
    teams_pb2_grpc,
    users_pb2,
    users_pb2_grpc,
)
from service.api import people_codec, schedule_codec
from service.api.time_codec import instant, timestamp
from service.oncall.model import OnCall, OnCallChange, Override, Schedule, Timeline
from service.oncall.usecases import ScheduleSpec
from service.people.model import NotificationRule, TeamMember, User


class Calendar:
    """An exported iCalendar file and the secret URL that serves it."""

    def __init__(self, ical: str, url: str) -> None:
        self.ical = ical
        self.url = url


class DirectoryCalls(Calls):
    _teams: teams_pb2_grpc.TeamServiceAsyncStub

    @functools.cached_property
    def _users(self) -> users_pb2_grpc.UserServiceAsyncStub:
        return users_pb2_grpc.UserServiceStub(self._channel)

    @functools.cached_property
    def _schedules(self) -> schedules_pb2_grpc.ScheduleServiceAsyncStub:
        return schedules_pb2_grpc.ScheduleServiceStub(self._channel)

    # Users

    async def create_user(
        self, username: str, *, full_name: str = "", time_zone: str = "", role: str = ""
    ) -> User:
        request = users_pb2.CreateUserRequest(
            username=username, full_name=full_name, time_zone=time_zone, role=role
        )
        return people_codec.user_from_pb(await self._call(self._users.CreateUser, request))

    async def get_user(self, user: str) -> User:
        request = users_pb2.GetUserRequest(user=user)
        return people_codec.user_from_pb(await self._call(self._users.GetUser, request))

    async def list_users(self) -> list[User]:
        reply = await self._call(self._users.ListUsers, users_pb2.ListUsersRequest())
        return [people_codec.user_from_pb(u) for u in reply.users]

    async def update_user(
        self,
        user: str,
        *,
        full_name: str | None = None,
        time_zone: str | None = None,
        role: str | None = None,
    ) -> User:
        request = users_pb2.UpdateUserRequest(
            user=user, full_name=full_name, time_zone=time_zone, role=role
        )
        return people_codec.user_from_pb(await self._call(self._users.UpdateUser, request))

    async def delete_user(self, user: str) -> None:
        await self._call(self._users.DeleteUser, users_pb2.DeleteUserRequest(user=user))

    async def add_contact_method(
        self, user: str, channel: str, address: str, name: str = ""
    ) -> User:
        request = users_pb2.AddContactMethodRequest(
            user=user, channel=channel, address=address, name=name
        )
        return people_codec.user_from_pb(await self._call(self._users.AddContactMethod, request))

    async def remove_contact_method(self, user: str, contact_method: str) -> User:
        request = users_pb2.RemoveContactMethodRequest(user=user, contact_method=contact_method)
        return people_codec.user_from_pb(await self._call(self._users.RemoveContactMethod, request))

    async def set_notification_rule(
        self, user: str, kind: str, rule: NotificationRule | None
    ) -> User:
        """`kind` is new_alert or high_priority; None restores the default."""
        request = users_pb2.SetNotificationRuleRequest(user=user, kind=kind)
        if rule is not None:
            request.rule.CopyFrom(people_codec.rule_to_pb(rule))
        return people_codec.user_from_pb(await self._call(self._users.SetNotificationRule, request))

    # Team members

    async def set_team_member(self, team: str, user: str, role: str = "") -> TeamMember:
        request = teams_pb2.SetTeamMemberRequest(team=team, user=user, role=role)
        return people_codec.member_from_pb(await self._call(self._teams.SetTeamMember, request))

    async def remove_team_member(self, team: str, user: str) -> None:
        request = teams_pb2.RemoveTeamMemberRequest(team=team, user=user)
        await self._call(self._teams.RemoveTeamMember, request)

    async def list_team_members(self, team: str) -> list[TeamMember]:
        request = teams_pb2.ListTeamMembersRequest(team=team)
        reply = await self._call(self._teams.ListTeamMembers, request)
        return [people_codec.member_from_pb(m) for m in reply.members]

    # Schedules

    async def create_schedule(self, spec: ScheduleSpec) -> Schedule:
        reply = await self._call(self._schedules.CreateSchedule, schedule_codec.spec_to_pb(spec))
        return schedule_codec.schedule_from_pb(reply)

    async def update_schedule(
        self, schedule: str, spec: ScheduleSpec, fields: Sequence[str] = ()
    ) -> Schedule:
        """Changes the `fields` of the schedule (see `service.schedules.SCHEDULE_FIELDS`) to
        the spec's; with none, replaces the whole schedule."""
        request = schedules_pb2.UpdateScheduleRequest(
            schedule=schedule,
            spec=schedule_codec.spec_to_pb(spec),
            update_mask=FieldMask(paths=list(fields)),
        )
        return schedule_codec.schedule_from_pb(
            await self._call(self._schedules.UpdateSchedule, request)
        )

    async def get_schedule(self, schedule: str) -> Schedule:
        request = schedules_pb2.GetScheduleRequest(schedule=schedule)
        return schedule_codec.schedule_from_pb(
            await self._call(self._schedules.GetSchedule, request)
        )

    async def list_schedules(self, team: str = "") -> list[Schedule]:
        request = schedules_pb2.ListSchedulesRequest(team=team)
        reply = await self._call(self._schedules.ListSchedules, request)
        return [schedule_codec.schedule_from_pb(s) for s in reply.schedules]

    async def delete_schedule(self, schedule: str) -> None:
        request = schedules_pb2.DeleteScheduleRequest(schedule=schedule)
        await self._call(self._schedules.DeleteSchedule, request)

    async def add_override(
        self, schedule: str, user: str, start: datetime, end: datetime, rotation: str = ""
    ) -> Override:
        request = schedules_pb2.AddOverrideRequest(
            schedule=schedule,
            user=user,
            start=timestamp(start),
            end=timestamp(end),
            rotation=rotation,
        )
        return schedule_codec.override_from_pb(
            await self._call(self._schedules.AddOverride, request)
        )

    async def remove_override(self, schedule: str, override_id: str) -> Override | None:
        """None when the override was deleted; the override, now ending, if it had begun."""
        request = schedules_pb2.RemoveOverrideRequest(schedule=schedule, override_id=override_id)
        reply = await self._call(self._schedules.RemoveOverride, request)
        return schedule_codec.override_from_pb(reply.ended) if reply.HasField("ended") else None

    async def list_overrides(
        self, schedule: str, start: datetime | None = None, end: datetime | None = None
    ) -> list[Override]:
        request = schedules_pb2.ListOverridesRequest(schedule=schedule)
        if start is not None:
            getattr(request, "from").CopyFrom(timestamp(start))
        if end is not None:
            request.to.CopyFrom(timestamp(end))
        reply = await self._call(self._schedules.ListOverrides, request)
        return [schedule_codec.override_from_pb(o) for o in reply.overrides]

    async def who_is_on_call(
        self, schedule: str, at: datetime | None = None
    ) -> tuple[datetime, tuple[OnCall, ...]]:
        request = schedules_pb2.WhoIsOnCallRequest(schedule=schedule)
        if at is not None:
            request.at.CopyFrom(timestamp(at))
        reply = await self._call(self._schedules.WhoIsOnCall, request)
        return instant(reply.at), schedule_codec.on_call_from_pb(reply.on_call)

    async def next_on_call(
        self, schedule: str, at: datetime | None = None, *, previous: bool = False
    ) -> OnCallChange | None:
        request = schedules_pb2.OnCallChangeRequest(schedule=schedule)
        if at is not None:
            request.at.CopyFrom(timestamp(at))
        method = self._schedules.PreviousOnCall if previous else self._schedules.NextOnCall
        return schedule_codec.change_from_pb(await self._call(method, request))

    async def timeline(
        self, schedule: str, start: datetime | None = None, end: datetime | None = None
    ) -> tuple[str, str, Timeline]:
        """The schedule's name and zone, and its timeline."""
        request = schedules_pb2.GetTimelineRequest(schedule=schedule)
        if start is not None:
            getattr(request, "from").CopyFrom(timestamp(start))
        if end is not None:
            request.to.CopyFrom(timestamp(end))
        return schedule_codec.timeline_from_pb(
            await self._call(self._schedules.GetTimeline, request)
        )

    async def find_gaps(self, schedule: str, days: int) -> list[tuple[str, str, Timeline]]:
        request = schedules_pb2.FindGapsRequest(schedule=schedule, days=days)
        reply = await self._call(self._schedules.FindGaps, request)
        return [schedule_codec.timeline_from_pb(t) for t in reply.schedules]

    async def export_ical(self, schedule: str, user: str = "") -> Calendar:
        request = schedules_pb2.ExportICalendarRequest(schedule=schedule, user=user)
        reply = await self._call(self._schedules.ExportICalendar, request)
        return Calendar(reply.ical, reply.url)

    async def rotate_ical_secret(self, schedule: str) -> Calendar:
        request = schedules_pb2.RotateICalendarSecretRequest(schedule=schedule)
        reply = await self._call(self._schedules.RotateICalendarSecret, request)
        return Calendar(reply.ical, reply.url)
