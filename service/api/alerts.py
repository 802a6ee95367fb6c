"""AlertService over gRPC: decode, call the use case, encode. Errors map in the guard."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from protos.tocsin.v1 import alerts_pb2, alerts_pb2_grpc
from service.alerts.model import Actor, Transition
from service.alerts.usecases import ALERTS_PAGE_DEFAULT, ALERTS_PAGE_MAX, Alerts
from service.api import alert_codec, time_codec
from service.api.guard import Context, caller
from service.api.reply_size import fitted
from service.api.stream_slots import StreamSlots
from service.core import validation
from service.core.errors import InvalidArgument
from service.core.metrics import AlertMetrics


class AlertServicer(alerts_pb2_grpc.AlertServiceServicer):
    def __init__(self, alerts: Alerts, metrics: AlertMetrics, streams: StreamSlots) -> None:
        self._alerts = alerts
        self._metrics = metrics
        self._streams = streams

    @staticmethod
    def _actor(user: str, note: str) -> Actor:
        """The named user, else the calling token's name."""
        return Actor(user or caller().name, note)

    async def _act(
        self, request: Any, action: Callable[..., Awaitable[Transition]], *args: object
    ) -> alerts_pb2.AlertActionResponse:
        """`action` on the alert `request.ref` names, with `args`, as `request.user` (else the
        calling token) with `request.note`: the shape every alert action's request has."""
        actor = self._actor(request.user, request.note)
        ref = alert_codec.ref_from_pb(request.ref)
        return _reply(await action(ref, *args, actor))

    async def CreateAlert(
        self, request: alerts_pb2.CreateAlertRequest, context: Context
    ) -> alerts_pb2.CreateAlertResponse:
        result = await self._alerts.create(
            alert_codec.new_alert_from_pb(request), self._actor(request.user, request.note)
        )
        (self._metrics.deduplicated if result.deduplicated else self._metrics.created).inc()
        reply = alerts_pb2.CreateAlertResponse(
            alert=alert_codec.alert_to_pb(result.alert), deduplicated=result.deduplicated
        )
        if result.paging is not None:
            reply.paging.CopyFrom(alert_codec.paging_to_pb(result.paging))
        return reply

    async def GetAlert(
        self, request: alerts_pb2.GetAlertRequest, context: Context
    ) -> alerts_pb2.Alert:
        return alert_codec.alert_to_pb(await self._alerts.get(alert_codec.ref_from_pb(request.ref)))

    async def ListAlerts(
        self, request: alerts_pb2.ListAlertsRequest, context: Context
    ) -> alerts_pb2.ListAlertsResponse:
        size = validation.page_size(
            request.page_size, default=ALERTS_PAGE_DEFAULT, maximum=ALERTS_PAGE_MAX
        )
        alerts, token = await fitted(
            lambda n: self._alerts.list(alert_codec.query_from_pb(request, n)),
            alert_codec.alert_to_pb,
            size,
        )
        return alerts_pb2.ListAlertsResponse(alerts=alerts, next_page_token=token)

    async def AcknowledgeAlert(
        self, request: alerts_pb2.AlertActionRequest, context: Context
    ) -> alerts_pb2.AlertActionResponse:
        return await self._act(request, self._alerts.acknowledge)

    async def UnacknowledgeAlert(
        self, request: alerts_pb2.AlertActionRequest, context: Context
    ) -> alerts_pb2.AlertActionResponse:
        return await self._act(request, self._alerts.unacknowledge)

    async def CloseAlert(
        self, request: alerts_pb2.AlertActionRequest, context: Context
    ) -> alerts_pb2.AlertActionResponse:
        return await self._act(request, self._alerts.close)

    async def SnoozeAlert(
        self, request: alerts_pb2.SnoozeAlertRequest, context: Context
    ) -> alerts_pb2.AlertActionResponse:
        end: datetime | timedelta
        if request.HasField("until"):
            end = time_codec.instant(request.until, "until")
        elif request.HasField("duration"):
            end = time_codec.span(request.duration, "duration", validation.SNOOZE_MAX)
        else:
            raise InvalidArgument("until", "give the end of the snooze (until or duration)")
        return await self._act(request, self._alerts.snooze, end)

    async def AddNote(
        self, request: alerts_pb2.AlertActionRequest, context: Context
    ) -> alerts_pb2.AlertActionResponse:
        return await self._act(request, self._alerts.add_note)

    async def AddTags(
        self, request: alerts_pb2.TagsRequest, context: Context
    ) -> alerts_pb2.AlertActionResponse:
        return await self._act(request, self._alerts.add_tags, request.tags)

    async def RemoveTags(
        self, request: alerts_pb2.TagsRequest, context: Context
    ) -> alerts_pb2.AlertActionResponse:
        return await self._act(request, self._alerts.remove_tags, request.tags)

    async def AddDetails(
        self, request: alerts_pb2.AddDetailsRequest, context: Context
    ) -> alerts_pb2.AlertActionResponse:
        return await self._act(request, self._alerts.add_details, request.details)

    async def RemoveDetails(
        self, request: alerts_pb2.RemoveDetailsRequest, context: Context
    ) -> alerts_pb2.AlertActionResponse:
        return await self._act(request, self._alerts.remove_details, request.keys)

    async def UpdatePriority(
        self, request: alerts_pb2.UpdatePriorityRequest, context: Context
    ) -> alerts_pb2.AlertActionResponse:
        priority = alert_codec.priority(request.priority, "priority")
        return await self._act(request, self._alerts.update_priority, priority)

    async def ListAlertActivity(
        self, request: alerts_pb2.ListAlertActivityRequest, context: Context
    ) -> alerts_pb2.ListAlertActivityResponse:
        ref = alert_codec.ref_from_pb(request.ref)
        entries, token = await fitted(
            lambda n: self._alerts.activity(ref, n, request.page_token),
            alert_codec.entry_to_pb,
            request.page_size,  # 0 (the default size) until a page must shrink
        )
        return alerts_pb2.ListAlertActivityResponse(entries=entries, next_page_token=token)

    async def WatchAlerts(
        self, request: alerts_pb2.WatchAlertsRequest, context: Context
    ) -> AsyncIterator[alerts_pb2.AlertEvent]:
        cursor = request.resume_cursor
        after = validation.sequence_number("resume_cursor", cursor) if cursor else None
        with self._streams.taken(caller().id):
            async for event in self._alerts.watch(after, request.team):
                yield alert_codec.event_to_pb(event)


def _reply(transition: Transition) -> alerts_pb2.AlertActionResponse:
    return alerts_pb2.AlertActionResponse(
        alert=alert_codec.alert_to_pb(transition.alert), changed=transition.changed
    )
