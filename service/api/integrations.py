"""IntegrationService over gRPC. Changes are logged with the token that made them."""

from __future__ import annotations

import json

from protos.tocsin.v1 import integrations_pb2, integrations_pb2_grpc
from service.alerts import lifecycle
from service.api import integration_codec
from service.api.guard import Context, audit
from service.ingest.integrations import Integrations
from service.ingest.model import Integration, IntegrationType, NewIntegration


class IntegrationServicer(integrations_pb2_grpc.IntegrationServiceServicer):
    def __init__(self, integrations: Integrations) -> None:
        self._integrations = integrations

    def _pb(self, integration: Integration) -> integrations_pb2.Integration:
        return integration_codec.integration_to_pb(integration, self._integrations.url(integration))

    def _with_key(
        self, integration: Integration, key: str
    ) -> integrations_pb2.IntegrationKeyResponse:
        return integrations_pb2.IntegrationKeyResponse(
            integration=self._pb(integration),
            api_key=key,
            url_with_key=self._integrations.url_with_key(integration, key),
        )

    async def CreateIntegration(
        self, request: integrations_pb2.CreateIntegrationRequest, context: Context
    ) -> integrations_pb2.IntegrationKeyResponse:
        integration, key = await self._integrations.create(
            integration_codec.new_integration_from_pb(request)
        )
        audit("integration created", integration=integration.name, integration_id=integration.id)
        return self._with_key(integration, key)

    async def ListIntegrations(
        self, request: integrations_pb2.ListIntegrationsRequest, context: Context
    ) -> integrations_pb2.ListIntegrationsResponse:
        integrations = await self._integrations.list(request.team)
        return integrations_pb2.ListIntegrationsResponse(
            integrations=[self._pb(integration) for integration in integrations]
        )

    async def GetIntegration(
        self, request: integrations_pb2.IntegrationRequest, context: Context
    ) -> integrations_pb2.Integration:
        return self._pb(await self._integrations.get(request.integration))

    async def _set_enabled(
        self, request: integrations_pb2.IntegrationRequest, enabled: bool
    ) -> integrations_pb2.Integration:
        integration = await self._integrations.set_enabled(request.integration, enabled)
        action = "integration enabled" if enabled else "integration disabled"
        audit(action, integration=integration.name, integration_id=integration.id)
        return self._pb(integration)

    async def EnableIntegration(
        self, request: integrations_pb2.IntegrationRequest, context: Context
    ) -> integrations_pb2.Integration:
        return await self._set_enabled(request, True)

    async def DisableIntegration(
        self, request: integrations_pb2.IntegrationRequest, context: Context
    ) -> integrations_pb2.Integration:
        return await self._set_enabled(request, False)

    async def RotateIntegrationKey(
        self, request: integrations_pb2.IntegrationRequest, context: Context
    ) -> integrations_pb2.IntegrationKeyResponse:
        integration, key = await self._integrations.rotate_key(request.integration)
        audit("integration key rotated", integration=integration.name)
        return self._with_key(integration, key)

    async def UpdateIntegration(
        self, request: integrations_pb2.UpdateIntegrationRequest, context: Context
    ) -> integrations_pb2.Integration:
        fields = tuple(request.update_mask.paths)
        spec = request.spec
        changes = NewIntegration(
            name=spec.name,
            # Read only when it is to change: unset in a request that leaves it alone.
            type=integration_codec.integration_type(spec.type)
            if "type" in fields
            else IntegrationType.SNS,
            team=spec.team,
            assignee_team=spec.assignee_team,
            topic_arns=tuple(spec.topic_arns),
            min_signature_version=spec.min_signature_version,
        )
        integration = await self._integrations.update(request.integration, changes, fields)
        audit(
            "integration updated",
            integration=integration.name,
            integration_id=integration.id,
            fields=", ".join(fields),
        )
        return self._pb(integration)

    async def SetIntegrationRules(
        self, request: integrations_pb2.SetIntegrationRulesRequest, context: Context
    ) -> integrations_pb2.IntegrationRules:
        parsed = await self._integrations.set_rules(request.integration, request.rules_yaml)
        audit("integration rules set", integration=request.integration, rules=str(len(parsed)))
        text = await self._integrations.get_rules(request.integration)
        return integrations_pb2.IntegrationRules(rules_yaml=text)

    async def GetIntegrationRules(
        self, request: integrations_pb2.IntegrationRequest, context: Context
    ) -> integrations_pb2.IntegrationRules:
        text = await self._integrations.get_rules(request.integration)
        return integrations_pb2.IntegrationRules(rules_yaml=text)

    async def TestIntegrationRules(
        self, request: integrations_pb2.TestIntegrationRulesRequest, context: Context
    ) -> integrations_pb2.TestIntegrationRulesResponse:
        outcome = await self._integrations.test_rules(
            request.integration, request.message, request.subject
        )
        return integrations_pb2.TestIntegrationRulesResponse(
            matched_rules=outcome.matched,
            actions=[
                integrations_pb2.RuleAction(
                    kind=action.kind,
                    note=action.note,
                    alert_json=json.dumps(lifecycle.described(action.alert), sort_keys=True),
                )
                for action in outcome.actions
            ],
        )

    async def DeleteIntegration(
        self, request: integrations_pb2.IntegrationRequest, context: Context
    ) -> integrations_pb2.DeleteIntegrationResponse:
        await self._integrations.delete(request.integration)
        audit("integration deleted", integration=request.integration)
        return integrations_pb2.DeleteIntegrationResponse()
