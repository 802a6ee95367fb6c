"""The client's calls for escalation policies, team routing and pages. A base of
`TocsinClient`, which supplies the channel and `_call`."""

from __future__ import annotations

import functools
from collections.abc import Sequence

from google.protobuf.field_mask_pb2 import FieldMask

from clients.calls import Calls
from protos.tocsin.v1 import escalations_pb2, escalations_pb2_grpc
from service.api import policy_codec
from service.escalation.usecases import PolicySpec, RoutingSpec
from service.paging.planning import PageRecord


class EscalationCalls(Calls):
    @functools.cached_property
    def _escalations(self) -> escalations_pb2_grpc.EscalationServiceAsyncStub:
        return escalations_pb2_grpc.EscalationServiceStub(self._channel)

    async def create_policy(self, spec: PolicySpec) -> PolicySpec:
        reply = await self._call(self._escalations.CreatePolicy, policy_codec.spec_to_pb(spec))
        return policy_codec.spec_from_pb(reply)

    async def update_policy(
        self, policy: str, spec: PolicySpec, fields: Sequence[str] = ()
    ) -> PolicySpec:
        """Changes the `fields` of the policy (see `service.policies.POLICY_FIELDS`) to the
        spec's; with none, replaces the whole policy."""
        request = escalations_pb2.UpdatePolicyRequest(
            policy=policy,
            spec=policy_codec.spec_to_pb(spec),
            update_mask=FieldMask(paths=list(fields)),
        )
        return policy_codec.spec_from_pb(await self._call(self._escalations.UpdatePolicy, request))

    async def get_policy(self, policy: str) -> PolicySpec:
        request = escalations_pb2.GetPolicyRequest(policy=policy)
        return policy_codec.spec_from_pb(await self._call(self._escalations.GetPolicy, request))

    async def list_policies(self, team: str = "") -> list[PolicySpec]:
        request = escalations_pb2.ListPoliciesRequest(team=team)
        reply = await self._call(self._escalations.ListPolicies, request)
        return [policy_codec.spec_from_pb(p) for p in reply.policies]

    async def delete_policy(self, policy: str) -> None:
        request = escalations_pb2.DeletePolicyRequest(policy=policy)
        await self._call(self._escalations.DeletePolicy, request)

    async def set_routing(self, spec: RoutingSpec) -> RoutingSpec:
        reply = await self._call(
            self._escalations.SetTeamRouting, policy_codec.routing_spec_to_pb(spec)
        )
        return policy_codec.routing_spec_from_pb(reply)

    async def get_routing(self, team: str) -> RoutingSpec:
        request = escalations_pb2.GetTeamRoutingRequest(team=team)
        reply = await self._call(self._escalations.GetTeamRouting, request)
        return policy_codec.routing_spec_from_pb(reply)

    async def escalate_to_next(self, alert: str, user: str = "") -> None:
        request = escalations_pb2.EscalateToNextRequest(alert=alert, user=user)
        await self._call(self._escalations.EscalateToNext, request)

    async def list_pages(self, alert: str) -> list[PageRecord]:
        reply = await self._call(
            self._escalations.ListPages, escalations_pb2.ListPagesRequest(alert=alert)
        )
        return [policy_codec.page_from_pb(p) for p in reply.pages]
