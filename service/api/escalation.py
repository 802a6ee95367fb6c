"""EscalationService over gRPC: policies, team routing, EscalateToNext and the page ledger."""

from __future__ import annotations

from protos.tocsin.v1 import escalations_pb2, escalations_pb2_grpc
from service.alerts.usecases import Alerts
from service.api import policy_codec
from service.api.alert_codec import parse_ref
from service.api.guard import Context, audit
from service.escalation.model import Policy, Routing
from service.escalation.usecases import Policies
from service.teams.usecases import Teams


class EscalationServicer(escalations_pb2_grpc.EscalationServiceServicer):
    def __init__(self, policies: Policies, alerts: Alerts, teams: Teams) -> None:
        self._policies = policies
        self._alerts = alerts
        self._teams = teams

    async def _shown(self, policy: Policy) -> escalations_pb2.Policy:
        team = await self._teams.get(policy.team_id)
        return policy_codec.policy_to_pb(policy, team.name)

    async def CreatePolicy(
        self, request: escalations_pb2.Policy, context: Context
    ) -> escalations_pb2.Policy:
        policy = await self._policies.create(policy_codec.spec_from_pb(request))
        audit("policy created", policy=policy.name, policy_id=policy.id)
        return await self._shown(policy)

    async def GetPolicy(
        self, request: escalations_pb2.GetPolicyRequest, context: Context
    ) -> escalations_pb2.Policy:
        return await self._shown(await self._policies.get(request.policy))

    async def ListPolicies(
        self, request: escalations_pb2.ListPoliciesRequest, context: Context
    ) -> escalations_pb2.ListPoliciesResponse:
        teams = {t.id: t.name for t in await self._teams.list()}
        return escalations_pb2.ListPoliciesResponse(
            policies=[
                policy_codec.policy_to_pb(p, teams.get(p.team_id, p.team_id))
                for p in await self._policies.list(request.team)
            ]
        )

    async def UpdatePolicy(
        self, request: escalations_pb2.UpdatePolicyRequest, context: Context
    ) -> escalations_pb2.Policy:
        policy = await self._policies.update(
            request.policy, policy_codec.spec_from_pb(request.spec), request.update_mask.paths
        )
        audit("policy updated", policy=policy.name, policy_id=policy.id)
        return await self._shown(policy)

    async def DeletePolicy(
        self, request: escalations_pb2.DeletePolicyRequest, context: Context
    ) -> escalations_pb2.DeletePolicyResponse:
        await self._policies.delete(request.policy)
        audit("policy deleted", policy=request.policy)
        return escalations_pb2.DeletePolicyResponse()

    async def _routing_shown(self, routing: Routing) -> escalations_pb2.TeamRouting:
        return policy_codec.routing_to_pb(routing, await self._policies.routing_names())

    async def SetTeamRouting(
        self, request: escalations_pb2.TeamRouting, context: Context
    ) -> escalations_pb2.TeamRouting:
        routing = await self._policies.set_routing(policy_codec.routing_spec_from_pb(request))
        audit("team routing set", team=request.team)
        return await self._routing_shown(routing)

    async def GetTeamRouting(
        self, request: escalations_pb2.GetTeamRoutingRequest, context: Context
    ) -> escalations_pb2.TeamRouting:
        return await self._routing_shown(await self._policies.routing(request.team))

    async def EscalateToNext(
        self, request: escalations_pb2.EscalateToNextRequest, context: Context
    ) -> escalations_pb2.EscalateToNextResponse:
        alert = await self._alerts.get(parse_ref(request.alert))
        await self._policies.escalate_now(alert.id)
        audit("escalated to next", alert=str(alert.tiny_id), user=request.user)
        return escalations_pb2.EscalateToNextResponse()

    async def ListPages(
        self, request: escalations_pb2.ListPagesRequest, context: Context
    ) -> escalations_pb2.ListPagesResponse:
        alert = await self._alerts.get(parse_ref(request.alert))
        pages = await self._policies.pages(alert.id)
        return escalations_pb2.ListPagesResponse(pages=[policy_codec.page_to_pb(p) for p in pages])
