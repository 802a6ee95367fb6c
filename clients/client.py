"""`TocsinClient`: the typed asyncio Python client for the Tocsin gRPC API.

Every unary call carries a deadline; failures raise the same exception types the service
uses (`NotFound`, `InvalidArgument`, ...), so callers handle one vocabulary. Replies come back
as the domain's plain values, never protobuf messages.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import TracebackType

import grpc

from clients.calls import Req, error_from_rpc
from clients.directory import DirectoryCalls
from clients.escalations import EscalationCalls
from clients.integrations import IntegrationCalls
from clients.integrations import IntegrationInfo as IntegrationInfo  # part of the API
from clients.integrations import IntegrationKey as IntegrationKey
from clients.integrations import RuleTest as RuleTest
from clients.integrations import RuleTestAction as RuleTestAction
from protos.tocsin.v1 import (
    alerts_pb2,
    alerts_pb2_grpc,
    teams_pb2,
    teams_pb2_grpc,
    tokens_pb2,
    tokens_pb2_grpc,
)
from service.alerts.model import (
    ActivityEntry,
    Alert,
    AlertEvent,
    AlertQuery,
    AlertRef,
    CreateResult,
    NewAlert,
    Priority,
)
from service.api import alert_codec, team_codec, time_codec, token_codec
from service.api.alert_codec import parse_ref as parse_ref
from service.core.pages import Page
from service.teams.model import Team
from service.tokens.model import TokenInfo

DEFAULT_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class ActionResult:
    alert: Alert
    changed: bool


class TocsinClient(DirectoryCalls, EscalationCalls, IntegrationCalls):
    def __init__(
        self,
        target: str,
        token: str,
        *,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        channel: grpc.aio.Channel | None = None,
    ) -> None:
        super().__init__(channel or grpc.aio.insecure_channel(target), token, timeout)
        self._alerts = alerts_pb2_grpc.AlertServiceStub(self._channel)
        self._teams = teams_pb2_grpc.TeamServiceStub(self._channel)
        self._tokens = tokens_pb2_grpc.TokenServiceStub(self._channel)

    async def close(self) -> None:
        await self._channel.close(None)

    async def __aenter__(self) -> TocsinClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    # Alerts

    async def create_alert(
        self, alert: NewAlert, *, user: str = "", note: str = ""
    ) -> CreateResult:
        request = alert_codec.create_request(alert, user, note)
        reply = await self._call(self._alerts.CreateAlert, request)
        paging = alert_codec.paging_from_pb(reply.paging) if reply.HasField("paging") else None
        return CreateResult(alert_codec.alert_from_pb(reply.alert), reply.deduplicated, paging)

    async def get_alert(self, ref: AlertRef) -> Alert:
        request = alerts_pb2.GetAlertRequest(ref=alert_codec.ref_to_pb(ref))
        return alert_codec.alert_from_pb(await self._call(self._alerts.GetAlert, request))

    async def list_alerts(self, query: AlertQuery | None = None) -> Page[Alert]:
        reply = await self._call(
            self._alerts.ListAlerts, alert_codec.query_to_pb(query or AlertQuery())
        )
        return Page(
            tuple(alert_codec.alert_from_pb(a) for a in reply.alerts), reply.next_page_token
        )

    async def acknowledge(self, ref: AlertRef, *, user: str = "", note: str = "") -> ActionResult:
        return await self._act(self._alerts.AcknowledgeAlert, _action(ref, user, note))

    async def unacknowledge(self, ref: AlertRef, *, user: str = "", note: str = "") -> ActionResult:
        return await self._act(self._alerts.UnacknowledgeAlert, _action(ref, user, note))

    async def close_alert(self, ref: AlertRef, *, user: str = "", note: str = "") -> ActionResult:
        return await self._act(self._alerts.CloseAlert, _action(ref, user, note))

    async def snooze(
        self, ref: AlertRef, end: datetime | timedelta, *, user: str = "", note: str = ""
    ) -> ActionResult:
        """Until an instant, or for a duration measured by the server's clock."""
        request = alerts_pb2.SnoozeAlertRequest(
            ref=alert_codec.ref_to_pb(ref), user=user, note=note
        )
        if isinstance(end, datetime):
            request.until.CopyFrom(time_codec.timestamp(end))
        else:
            request.duration.FromTimedelta(end)
        return await self._act(self._alerts.SnoozeAlert, request)

    async def add_note(self, ref: AlertRef, note: str, *, user: str = "") -> ActionResult:
        return await self._act(self._alerts.AddNote, _action(ref, user, note))

    async def add_tags(
        self, ref: AlertRef, tags: Iterable[str], *, user: str = "", note: str = ""
    ) -> ActionResult:
        return await self._act(self._alerts.AddTags, _tags(ref, tags, user, note))

    async def remove_tags(
        self, ref: AlertRef, tags: Iterable[str], *, user: str = "", note: str = ""
    ) -> ActionResult:
        return await self._act(self._alerts.RemoveTags, _tags(ref, tags, user, note))

    async def add_details(
        self, ref: AlertRef, details: Mapping[str, str], *, user: str = "", note: str = ""
    ) -> ActionResult:
        request = alerts_pb2.AddDetailsRequest(
            ref=alert_codec.ref_to_pb(ref), details=dict(details), user=user, note=note
        )
        return await self._act(self._alerts.AddDetails, request)

    async def remove_details(
        self, ref: AlertRef, keys: Iterable[str], *, user: str = "", note: str = ""
    ) -> ActionResult:
        request = alerts_pb2.RemoveDetailsRequest(
            ref=alert_codec.ref_to_pb(ref), keys=keys, user=user, note=note
        )
        return await self._act(self._alerts.RemoveDetails, request)

    async def update_priority(
        self, ref: AlertRef, priority: Priority, *, user: str = "", note: str = ""
    ) -> ActionResult:
        request = alerts_pb2.UpdatePriorityRequest(
            ref=alert_codec.ref_to_pb(ref),
            priority=int(priority),  # type: ignore[arg-type]
            user=user,
            note=note,
        )
        return await self._act(self._alerts.UpdatePriority, request)

    async def activity(
        self, ref: AlertRef, *, page_size: int = 0, page_token: str = ""
    ) -> Page[ActivityEntry]:
        request = alerts_pb2.ListAlertActivityRequest(
            ref=alert_codec.ref_to_pb(ref), page_size=page_size, page_token=page_token
        )
        reply = await self._call(self._alerts.ListAlertActivity, request)
        return Page(
            tuple(alert_codec.entry_from_pb(e) for e in reply.entries), reply.next_page_token
        )

    async def watch(
        self, *, resume_cursor: str = "", team: str = ""
    ) -> AsyncGenerator[AlertEvent, None]:
        """Every change from now (or after `resume_cursor`), until the caller stops reading.

        A stream has no deadline; the event's `entry.seq` is its resume cursor.
        """
        call = self._alerts.WatchAlerts(
            alerts_pb2.WatchAlertsRequest(resume_cursor=resume_cursor, team=team),
            metadata=self._metadata,
        )
        try:
            async for message in call:
                yield alert_codec.event_from_pb(message)
        except grpc.aio.AioRpcError as exc:
            raise error_from_rpc(exc) from None
        finally:
            call.cancel()

    async def _act(
        self,
        method: grpc.aio.UnaryUnaryMultiCallable[Req, alerts_pb2.AlertActionResponse],
        request: Req,
    ) -> ActionResult:
        reply = await self._call(method, request)
        return ActionResult(alert_codec.alert_from_pb(reply.alert), reply.changed)

    # Teams

    async def create_team(self, name: str, description: str = "") -> Team:
        request = teams_pb2.CreateTeamRequest(name=name, description=description)
        return team_codec.team_from_pb(await self._call(self._teams.CreateTeam, request))

    async def list_teams(self) -> list[Team]:
        reply = await self._call(self._teams.ListTeams, teams_pb2.ListTeamsRequest())
        return [team_codec.team_from_pb(team) for team in reply.teams]

    async def get_team(self, team: str) -> Team:
        request = teams_pb2.GetTeamRequest(team=team)
        return team_codec.team_from_pb(await self._call(self._teams.GetTeam, request))

    async def rename_team(self, team: str, new_name: str) -> Team:
        request = teams_pb2.RenameTeamRequest(team=team, new_name=new_name)
        return team_codec.team_from_pb(await self._call(self._teams.RenameTeam, request))

    async def delete_team(self, team: str) -> None:
        request = teams_pb2.DeleteTeamRequest(team=team)
        await self._call(self._teams.DeleteTeam, request)

    # Tokens

    async def create_token(self, name: str) -> tuple[TokenInfo, str]:
        request = tokens_pb2.CreateTokenRequest(name=name)
        reply = await self._call(self._tokens.CreateToken, request)
        return token_codec.token_from_pb(reply.info), reply.token

    async def list_tokens(self) -> list[TokenInfo]:
        request = tokens_pb2.ListTokensRequest()
        reply = await self._call(self._tokens.ListTokens, request)
        return [token_codec.token_from_pb(token) for token in reply.tokens]

    async def caller_token(self) -> TokenInfo:
        """The token this client calls with."""
        request = tokens_pb2.GetCallerTokenRequest()
        return token_codec.token_from_pb(await self._call(self._tokens.GetCallerToken, request))

    async def revoke_token(self, token_id: str) -> TokenInfo:
        request = tokens_pb2.RevokeTokenRequest(id=token_id)
        return token_codec.token_from_pb(await self._call(self._tokens.RevokeToken, request))


def _action(ref: AlertRef, user: str, note: str) -> alerts_pb2.AlertActionRequest:
    return alerts_pb2.AlertActionRequest(ref=alert_codec.ref_to_pb(ref), user=user, note=note)


def _tags(ref: AlertRef, tags: Iterable[str], user: str, note: str) -> alerts_pb2.TagsRequest:
    return alerts_pb2.TagsRequest(ref=alert_codec.ref_to_pb(ref), tags=tags, user=user, note=note)
