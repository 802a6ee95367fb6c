"""The ingest ports: the integrations SNS delivers to, and the deliveries themselves."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol

from service.alerts.model import Actor
from service.ingest.model import (
    IngestAction,
    IngestResult,
    Integration,
    IntegrationType,
    NewIntegration,
    RequestRecord,
    SnsDelivery,
)


class IntegrationStore(Protocol):
    async def create_integration(
        self, integration: NewIntegration, key_hash: str, now: datetime, new_id: str
    ) -> Integration: ...

    async def list_integrations(self, team: str) -> Sequence[Integration]:
        """All integrations, or those a team owns; by name."""

    async def get_integration(self, integration: str) -> Integration:
        """By id or by name (case-insensitive)."""

    async def set_integration_enabled(self, integration: str, enabled: bool) -> Integration: ...

    async def rotate_integration_key(self, integration: str, key_hash: str) -> Integration: ...

    async def update_integration(
        self, integration: str, changes: NewIntegration, fields: frozenset[str]
    ) -> Integration:
        """Sets the `fields` of the integration to those of `changes`; an empty team keeps
        the owner team, an empty assignee team makes the owner team the assignee."""

    async def delete_integration(self, integration: str) -> None: ...

    async def set_integration_rules(self, integration: str, rules_json: str) -> None: ...

    async def get_integration_rules(self, integration: str) -> str:
        """The rules as stored: a JSON list, checked when they were set."""


class IngestStore(Protocol):
    async def ingest_sns(
        self,
        delivery: SnsDelivery,
        key_hash: str,
        action: Callable[[IntegrationType], IngestAction] | None,
        actor: Actor,
        now: datetime,
        new_id: str,
    ) -> IngestResult:
        """Checks the integration's key, state, minimum SignatureVersion and topics; then,
        unless `action` is None (a check only, which reports a duplicate), asks it what the
        delivery does in an integration of this type, pins the first
        confirmed topic of an integration without an allow-list, takes the action for its
        assignee team and records the MessageId, all in one transaction. A MessageId
        recorded before changes nothing."""

    async def ingest_event(
        self,
        kind: IntegrationType,
        key_hash: str,
        integration_id: str,
        actions: Callable[[str], Sequence[IngestAction]],
        actor: Actor,
        now: datetime,
        new_id: Callable[[], str],
        request: tuple[str, str] | None = None,
    ) -> IngestResult:
        """Finds the integration of type `kind` by its key, and its id unless that is empty
        (NotFound without one, PermissionDenied when it is disabled), asks `actions` what the
        event does given the integration's name, and takes what its rules make of each action
        for its assignee team, all in one transaction; `new_id` names each alert created. An
        acknowledgement or close with no open alert of its alias changes nothing. The result
        is the first action's, or the first that found an alert. `request`, for Opsgenie's,
        is its requestId and Opsgenie's name of its action: recorded with what became of it in
        the same transaction, for its status."""

    async def request_status(
        self, kind: IntegrationType, key_hash: str, request_id: str
    ) -> RequestRecord:
        """The request the integration of type `kind` with this key made; NotFound for an
        unknown key or request, or another integration's."""
