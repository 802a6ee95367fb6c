"""ScheduleService over gRPC: users travel as usernames, stored as ids (see
`service.api.schedule_codec`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from urllib.parse import quote

from protos.tocsin.v1 import schedules_pb2, schedules_pb2_grpc
from service.api import schedule_codec
from service.api.guard import Context, audit
from service.api.time_codec import optional_instant, timestamp
from service.core import validation
from service.core.errors import InvalidArgument
from service.oncall.model import Override, Schedule
from service.oncall.usecases import Schedules
from service.teams.usecases import Teams


class ScheduleServicer(schedules_pb2_grpc.ScheduleServiceServicer):
    def __init__(self, schedules: Schedules, teams: Teams, base_url: Callable[[], str]) -> None:
        """`base_url` gives the public HTTP address the iCalendar links start with."""
        self._schedules = schedules
        self._teams = teams
        self._base_url = base_url

    async def _shown(self, schedule: Schedule) -> schedules_pb2.Schedule:
        team = await self._teams.get(schedule.team_id)
        names = await self._schedules.names()
        return schedule_codec.schedule_to_pb(
            schedule_codec.named_schedule(schedule, names, team.name)
        )

    async def CreateSchedule(
        self, request: schedules_pb2.CreateScheduleRequest, context: Context
    ) -> schedules_pb2.Schedule:
        schedule = await self._schedules.create(schedule_codec.spec_from_pb(request))
        audit("schedule created", schedule=schedule.name, schedule_id=schedule.id)
        return await self._shown(schedule)

    async def GetSchedule(
        self, request: schedules_pb2.GetScheduleRequest, context: Context
    ) -> schedules_pb2.Schedule:
        return await self._shown(await self._schedules.get(request.schedule))

    async def ListSchedules(
        self, request: schedules_pb2.ListSchedulesRequest, context: Context
    ) -> schedules_pb2.ListSchedulesResponse:
        names = await self._schedules.names()
        teams = {team.id: team.name for team in await self._teams.list()}
        return schedules_pb2.ListSchedulesResponse(
            schedules=[
                schedule_codec.schedule_to_pb(
                    schedule_codec.named_schedule(s, names, teams.get(s.team_id, s.team_id))
                )
                for s in await self._schedules.list(request.team)
            ]
        )

    async def UpdateSchedule(
        self, request: schedules_pb2.UpdateScheduleRequest, context: Context
    ) -> schedules_pb2.Schedule:
        schedule = await self._schedules.update(
            request.schedule, schedule_codec.spec_from_pb(request.spec), request.update_mask.paths
        )
        audit("schedule updated", schedule=schedule.name, schedule_id=schedule.id)
        return await self._shown(schedule)

    async def DeleteSchedule(
        self, request: schedules_pb2.DeleteScheduleRequest, context: Context
    ) -> schedules_pb2.DeleteScheduleResponse:
        await self._schedules.delete(request.schedule)
        audit("schedule deleted", schedule=request.schedule)
        return schedules_pb2.DeleteScheduleResponse()

    async def _overrides_shown(
        self, schedule: str, overrides: Iterable[Override]
    ) -> list[schedules_pb2.Override]:
        """The overrides with usernames for user ids, under the schedule as the request named it."""
        names = await self._schedules.names()
        return [
            schedule_codec.override_to_pb(schedule_codec.named_override(o, names, schedule))
            for o in overrides
        ]

    async def AddOverride(
        self, request: schedules_pb2.AddOverrideRequest, context: Context
    ) -> schedules_pb2.Override:
        start = _time(request, "start")
        end = _time(request, "end")
        if start is None or end is None:
            raise InvalidArgument("start" if start is None else "end", "is required")
        override = await self._schedules.add_override(
            request.schedule, request.user, start, end, request.rotation
        )
        audit("override added", schedule=request.schedule, override=override.id)
        (shown,) = await self._overrides_shown(request.schedule, [override])
        return shown

    async def RemoveOverride(
        self, request: schedules_pb2.RemoveOverrideRequest, context: Context
    ) -> schedules_pb2.RemoveOverrideResponse:
        ended = await self._schedules.remove_override(request.schedule, request.override_id)
        audit("override removed", schedule=request.schedule, override=request.override_id)
        if ended is None:
            return schedules_pb2.RemoveOverrideResponse()
        (shown,) = await self._overrides_shown(request.schedule, [ended])
        return schedules_pb2.RemoveOverrideResponse(ended=shown)

    async def ListOverrides(
        self, request: schedules_pb2.ListOverridesRequest, context: Context
    ) -> schedules_pb2.ListOverridesResponse:
        found = await self._schedules.overrides(
            request.schedule,
            _time(request, "from"),
            _time(request, "to"),
        )
        return schedules_pb2.ListOverridesResponse(
            overrides=await self._overrides_shown(request.schedule, found)
        )

    async def WhoIsOnCall(
        self, request: schedules_pb2.WhoIsOnCallRequest, context: Context
    ) -> schedules_pb2.WhoIsOnCallResponse:
        at = _time(request, "at")
        when = at or self._schedules.now()
        entries = await self._schedules.on_call(request.schedule, when)
        names = await self._schedules.names()
        return schedules_pb2.WhoIsOnCallResponse(
            at=timestamp(when), on_call=schedule_codec.on_call_to_pb(entries, names)
        )

    async def NextOnCall(
        self, request: schedules_pb2.OnCallChangeRequest, context: Context
    ) -> schedules_pb2.OnCallChangeResponse:
        change = await self._schedules.next_on_call(request.schedule, _time(request, "at"))
        return schedule_codec.change_to_pb(change, await self._schedules.names())

    async def PreviousOnCall(
        self, request: schedules_pb2.OnCallChangeRequest, context: Context
    ) -> schedules_pb2.OnCallChangeResponse:
        change = await self._schedules.next_on_call(
            request.schedule, _time(request, "at"), previous=True
        )
        return schedule_codec.change_to_pb(change, await self._schedules.names())

    async def GetTimeline(
        self, request: schedules_pb2.GetTimelineRequest, context: Context
    ) -> schedules_pb2.Timeline:
        schedule, line = await self._schedules.timeline(
            request.schedule, _time(request, "from"), _time(request, "to")
        )
        return schedule_codec.timeline_to_pb(
            schedule, schedule_codec.named_timeline(line, await self._schedules.names())
        )

    async def FindGaps(
        self, request: schedules_pb2.FindGapsRequest, context: Context
    ) -> schedules_pb2.FindGapsResponse:
        found = await self._schedules.gaps(request.schedule, request.days)
        names = await self._schedules.names()
        return schedules_pb2.FindGapsResponse(
            schedules=[
                schedule_codec.timeline_to_pb(s, schedule_codec.named_timeline(line, names))
                for s, line in found
            ]
        )

    def _feed_url(self, schedule: Schedule, user: str) -> str:
        url = f"{self._base_url()}/v1/ical/{schedule.id}/{schedule.ical_secret}.ics"
        return url + (f"?user={quote(user)}" if user else "")

    async def ExportICalendar(
        self, request: schedules_pb2.ExportICalendarRequest, context: Context
    ) -> schedules_pb2.ExportICalendarResponse:
        schedule = await self._schedules.get(request.schedule)
        text = await self._schedules.ical(schedule, request.user)
        return schedules_pb2.ExportICalendarResponse(
            ical=text, url=self._feed_url(schedule, request.user)
        )

    async def GetICalendarFeed(
        self, request: schedules_pb2.GetICalendarFeedRequest, context: Context
    ) -> schedules_pb2.ExportICalendarResponse:
        text = await self._schedules.ical_feed(request.schedule_id, request.secret, request.user)
        return schedules_pb2.ExportICalendarResponse(ical=text)

    async def RotateICalendarSecret(
        self, request: schedules_pb2.RotateICalendarSecretRequest, context: Context
    ) -> schedules_pb2.ExportICalendarResponse:
        schedule = await self._schedules.rotate_ical_secret(request.schedule)
        audit("calendar secret rotated", schedule=schedule.name)
        return schedules_pb2.ExportICalendarResponse(
            ical=await self._schedules.ical(schedule), url=self._feed_url(schedule, "")
        )


def _time(request: object, field: str) -> datetime | None:
    """A time the request may give, within the years a schedule can be asked about."""
    return validation.schedule_time(field, optional_instant(request, field))
