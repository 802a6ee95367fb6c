"""Integration use cases: names and topics checked here; the API key made, hashed and shown once."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import secrets
from collections.abc import Callable, Collection, Sequence
from typing import Any

import yaml

from service.core import loader, validation
from service.core.clock import Clock
from service.core.errors import InvalidArgument
from service.core.ids import new_uuid
from service.ingest import alertmanager, opsgenie, pagerduty, rules, webhook
from service.ingest import sns as sns_alerts
from service.ingest.events import InvalidEventError
from service.ingest.model import (
    EVENT_TYPES,
    SNS_MESSAGE_MAX,
    IngestAction,
    Integration,
    IntegrationType,
    NewIntegration,
    SnsDelivery,
    SnsType,
)
from service.ingest.store import IntegrationStore
from service.tokens.usecases import hash_secret

API_KEY_PREFIX = "tocsin_ik_"
# Where PagerDuty-speaking tools post events (PagerDuty's own path, under `public_url`).
PAGERDUTY_EVENTS_PATH = "/v2/enqueue"
# Where the sources that name their integration in the URL post, under `public_url`.
EVENT_PATHS = {
    IntegrationType.ALERTMANAGER: "/v1/alertmanager",
    IntegrationType.WEBHOOK: "/v1/webhook",
}
SIGNATURE_VERSIONS = (1, 2)
TOPIC_ARNS_MAX = 20
RULES_TEXT_MAX = 100_000
# What an update may name (its mask).
INTEGRATION_FIELDS = (
    "name",
    "type",
    "team",
    "assignee_team",
    "topic_arns",
    "min_signature_version",
)
# libyaml's emitter where PyYAML has it: the pure-Python one takes ~10x as long.
_Dumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def new_api_key() -> str:
    """192 random bits, URL-safe: it travels in the integration URL's query string."""
    return API_KEY_PREFIX + secrets.token_urlsafe(24)


class Integrations:
    def __init__(
        self,
        store: IntegrationStore,
        clock: Clock,
        base_url: Callable[[], str],
        new_id: Callable[[], str] = new_uuid,
    ) -> None:
        """`base_url` is asked each time: the HTTP port may be known only once bound."""
        self._store = store
        self._clock = clock
        self._base_url = base_url
        self._new_id = new_id

    def url(self, integration: Integration) -> str:
        """The integration URL without its key, as shown in listings."""
        if integration.type is IntegrationType.PAGERDUTY:
            return f"{self._base_url()}{PAGERDUTY_EVENTS_PATH}"
        if integration.type is IntegrationType.OPSGENIE:
            # The base an Opsgenie API URL setting takes: the tool appends /v2/alerts.
            return self._base_url()
        path = EVENT_PATHS.get(integration.type, "/v1/sns")
        return f"{self._base_url()}{path}/{integration.id}"

    def url_with_key(self, integration: Integration, api_key: str) -> str:
        """The URL to paste into the sender. A PagerDuty-speaking tool sends the key in each
        event's body (as its routing_key) instead, so its URL is the same for every key; an
        Alertmanager or webhook sender sends it as a bearer token, out of the URL (and logs)."""
        if integration.type in EVENT_TYPES:
            return self.url(integration)
        return f"{self.url(integration)}?apiKey={api_key}"

    async def create(self, integration: NewIntegration) -> tuple[Integration, str]:
        """Returns the integration and its API key, which is never available again."""
        api_key = new_api_key()
        created = await self._store.create_integration(
            _checked(integration, INTEGRATION_FIELDS),
            hash_secret(api_key),
            self._clock.now(),
            self._new_id(),
        )
        return created, api_key

    async def update(
        self, integration: str, changes: NewIntegration, fields: Collection[str]
    ) -> Integration:
        """Changes the `fields` (see `INTEGRATION_FIELDS`) to those of `changes`; its id, and
        so its URL, and its API key stay."""
        if not fields:
            raise InvalidArgument(
                "update_mask", f"name the fields to change ({', '.join(INTEGRATION_FIELDS)})"
            )
        given = validation.update_mask("an integration", fields, INTEGRATION_FIELDS)
        return await self._store.update_integration(
            _named(integration), _checked(changes, given), given
        )

    async def list(self, team: str) -> Sequence[Integration]:
        return await self._store.list_integrations(team)

    async def get(self, integration: str) -> Integration:
        return await self._store.get_integration(_named(integration))

    async def set_enabled(self, integration: str, enabled: bool) -> Integration:
        return await self._store.set_integration_enabled(_named(integration), enabled)

    async def rotate_key(self, integration: str) -> tuple[Integration, str]:
        api_key = new_api_key()
        rotated = await self._store.rotate_integration_key(
            _named(integration), hash_secret(api_key)
        )
        return rotated, api_key

    async def delete(self, integration: str) -> None:
        await self._store.delete_integration(_named(integration))

    async def set_rules(self, integration: str, text: str) -> tuple[rules.IntegrationRule, ...]:
        """Checks every rule, then replaces the integration's rules with them."""
        validation.text("rules_yaml", text, RULES_TEXT_MAX)
        # Up to a second for the largest rules: in a thread, so deliveries go on meanwhile.
        parsed, data = await asyncio.to_thread(_read_rules, text)
        await self._store.set_integration_rules(_named(integration), data)
        return parsed

    async def get_rules(self, integration: str) -> str:
        """The rules as YAML: for people to read, never on a delivery's path."""
        stored = json.loads(await self._store.get_integration_rules(_named(integration)))
        if not stored:
            return ""
        return await asyncio.to_thread(yaml.dump, stored, Dumper=_Dumper, sort_keys=False)

    async def test_rules(self, integration: str, message: str, subject: str) -> rules.Decision:
        """What the integration's rules would do with this message; nothing is stored."""
        validation.text("message", message, SNS_MESSAGE_MAX, required=True)
        validation.text("subject", subject, 1_000)
        found = await self.get(integration)
        text = await self._store.get_integration_rules(found.id)
        if found.type in EVENT_TYPES:
            return rules.decide(text, _event_action(found, message))
        topic = found.topic_arns[0] if found.topic_arns else found.pinned_topic_arn
        delivery = SnsDelivery(
            integration_id=found.id,
            type=SnsType.NOTIFICATION,
            message_id="rule-test",
            topic_arn=topic or "arn:aws:sns:us-east-1:000000000000:rule-test",
            subject=subject,
            message=message,
            timestamp=self._clock.now(),
            signature_version=2,
        )
        return rules.decide(text, sns_alerts.action_for(delivery, found.type))


def _checked(integration: NewIntegration, fields: Collection[str]) -> NewIntegration:
    """The integration, its `fields` checked and its topics cleaned."""
    if "name" in fields:
        validation.object_name(integration.name)
    if "team" in fields:
        validation.text("team", integration.team, validation.TEAM_NAME_MAX)
    if "assignee_team" in fields:
        validation.text("assignee_team", integration.assignee_team, validation.TEAM_NAME_MAX)
    if "min_signature_version" in fields and (
        integration.min_signature_version not in SIGNATURE_VERSIONS
    ):
        raise InvalidArgument("min_signature_version", "must be 1 or 2")
    if "topic_arns" not in fields:
        return integration
    topics = validation.word_list(
        "topic_arns", integration.topic_arns, max_items=TOPIC_ARNS_MAX, max_len=400
    )
    for index, topic in enumerate(topics):
        validation.topic_arn(f"topic_arns[{index}]", topic)
    return dataclasses.replace(integration, topic_arns=topics)


def _event_action(integration: Integration, message: str) -> IngestAction:
    """What an event body does before rules (an Alertmanager body's first alert); one that
    does not read is refused."""
    body = message.encode()
    try:
        if integration.type is IntegrationType.PAGERDUTY:
            return pagerduty.read(body, "rule-test").action
        if integration.type is IntegrationType.WEBHOOK:
            return webhook.read(body)(integration.name)
        if integration.type is IntegrationType.OPSGENIE:
            return opsgenie.read(opsgenie.envelope("create", message)).action
        actions = alertmanager.read(body)
    except InvalidEventError as exc:
        raise InvalidArgument("message", "; ".join(exc.errors)) from None
    if not actions:
        raise InvalidArgument("message", "'alerts' holds no alert to test the rules with")
    return actions[0]


def _read_rules(text: str) -> tuple[tuple[rules.IntegrationRule, ...], str]:
    """The rules in `text`, checked, and the JSON the store keeps of them."""
    data = loader.yaml_document("rules_yaml", text, plain=True) if text.strip() else []
    return rules.parse(data), json.dumps(data)


def _named(integration: str) -> str:
    return validation.reference("integration", integration)
