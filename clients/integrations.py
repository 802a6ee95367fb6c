"""The client's calls for SNS integrations, their keys and rules. A base of `TocsinClient`,
which supplies the channel and `_call`."""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass

from google.protobuf.field_mask_pb2 import FieldMask

from clients.calls import Calls
from protos.tocsin.v1 import integrations_pb2, integrations_pb2_grpc
from service.api import integration_codec
from service.ingest.model import Integration, NewIntegration


@dataclass(frozen=True)
class IntegrationInfo:
    integration: Integration
    url: str  # without the API key


@dataclass(frozen=True)
class RuleTestAction:
    kind: str
    note: str
    alert: dict[str, object]


@dataclass(frozen=True)
class RuleTest:
    """What an integration's rules would do with a message."""

    matched_rules: tuple[str, ...]
    actions: tuple[RuleTestAction, ...]


@dataclass(frozen=True)
class IntegrationKey:
    """What creating an integration or rotating its key returns, once."""

    info: IntegrationInfo
    api_key: str
    url_with_key: str


class IntegrationCalls(Calls):
    @functools.cached_property
    def _integrations(self) -> integrations_pb2_grpc.IntegrationServiceAsyncStub:
        return integrations_pb2_grpc.IntegrationServiceStub(self._channel)

    async def create_integration(self, integration: NewIntegration) -> IntegrationKey:
        request = integration_codec.create_integration_request(integration)
        return _key(await self._call(self._integrations.CreateIntegration, request))

    async def list_integrations(self, team: str = "") -> list[IntegrationInfo]:
        request = integrations_pb2.ListIntegrationsRequest(team=team)
        reply = await self._call(self._integrations.ListIntegrations, request)
        return [_info(integration) for integration in reply.integrations]

    async def get_integration(self, integration: str) -> IntegrationInfo:
        request = integrations_pb2.IntegrationRequest(integration=integration)
        return _info(await self._call(self._integrations.GetIntegration, request))

    async def set_integration_enabled(self, integration: str, enabled: bool) -> IntegrationInfo:
        request = integrations_pb2.IntegrationRequest(integration=integration)
        method = (
            self._integrations.EnableIntegration
            if enabled
            else self._integrations.DisableIntegration
        )
        return _info(await self._call(method, request))

    async def update_integration(
        self, integration: str, changes: NewIntegration, fields: Sequence[str]
    ) -> IntegrationInfo:
        """Changes the `fields` of the integration (see
        `service.integrations.INTEGRATION_FIELDS`) to those of `changes`; its URL and key
        stay."""
        request = integrations_pb2.UpdateIntegrationRequest(
            integration=integration,
            spec=integration_codec.create_integration_request(changes),
            update_mask=FieldMask(paths=list(fields)),
        )
        return _info(await self._call(self._integrations.UpdateIntegration, request))

    async def rotate_integration_key(self, integration: str) -> IntegrationKey:
        request = integrations_pb2.IntegrationRequest(integration=integration)
        return _key(await self._call(self._integrations.RotateIntegrationKey, request))

    async def delete_integration(self, integration: str) -> None:
        request = integrations_pb2.IntegrationRequest(integration=integration)
        await self._call(self._integrations.DeleteIntegration, request)

    async def set_integration_rules(self, integration: str, rules_yaml: str) -> str:
        """Replaces the rules; returns them as stored (YAML)."""
        request = integrations_pb2.SetIntegrationRulesRequest(
            integration=integration, rules_yaml=rules_yaml
        )
        return (await self._call(self._integrations.SetIntegrationRules, request)).rules_yaml

    async def get_integration_rules(self, integration: str) -> str:
        request = integrations_pb2.IntegrationRequest(integration=integration)
        return (await self._call(self._integrations.GetIntegrationRules, request)).rules_yaml

    async def test_integration_rules(
        self, integration: str, message: str, subject: str = ""
    ) -> RuleTest:
        request = integrations_pb2.TestIntegrationRulesRequest(
            integration=integration, message=message, subject=subject
        )
        reply = await self._call(self._integrations.TestIntegrationRules, request)
        actions = tuple(
            RuleTestAction(a.kind, a.note, json.loads(a.alert_json)) for a in reply.actions
        )
        return RuleTest(tuple(reply.matched_rules), actions)


def _info(message: integrations_pb2.Integration) -> IntegrationInfo:
    return IntegrationInfo(*integration_codec.integration_from_pb(message))


def _key(reply: integrations_pb2.IntegrationKeyResponse) -> IntegrationKey:
    return IntegrationKey(_info(reply.integration), reply.api_key, reply.url_with_key)
