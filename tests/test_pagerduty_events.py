"""PagerDuty Events API v2 end to end: pdpyras, PagerDuty's own Python client, posting to
`tocsin serve`'s edge (and to the shim's) on both backends."""

from __future__ import annotations

import asyncio
import json
import warnings
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import requests

from clients.client import IntegrationKey, TocsinClient
from service.alerts.model import Actor, Alert, Priority, Status
from service.core.errors import InvalidArgument, NotFound
from service.db.sql_store import SQLStore
from service.ingest.model import IntegrationType, NewIntegration, SnsDelivery, SnsType
from tests.conftest import Running, shim_url
from tests.fakes import FakeClock
from tests.test_cli import tocsin

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # it says it is deprecated for `pagerduty`, https only
    import pdpyras

PAYLOAD = {"summary": "Disk full on db-1", "source": "db-1", "severity": "critical"}


@dataclass
class Events:
    running: Running
    client: TocsinClient
    key: IntegrationKey

    def session(self, routing_key: str | None = None, url: str | None = None) -> Any:
        """PagerDuty's client, pointed at Tocsin: its URL is the base `/v2/enqueue` is under."""
        session = pdpyras.EventsAPISession(routing_key or self.key.api_key)
        session.url = (url or self.key.url_with_key).removesuffix("/v2/enqueue")
        session.max_http_attempts = 1
        return session

    async def send(self, call: Callable[..., str], *args: Any, **kwargs: Any) -> str:
        # pdpyras is synchronous; the server answers on this test's event loop.
        return await asyncio.to_thread(call, *args, **kwargs)

    async def refused(self, session: Any, **event: Any) -> tuple[int, dict[str, Any]]:
        with pytest.raises(pdpyras.PDHTTPError) as raised:
            await self.send(session.send_event, **event)
        response: requests.Response = raised.value.response
        return response.status_code, response.json()

    async def alerts(self) -> list[Alert]:
        return list((await self.client.list_alerts()).items)


@pytest.fixture
async def events(running: Running) -> AsyncIterator[Events]:
    async with running.client() as client:
        key = await client.create_integration(
            NewIntegration("monitoring", IntegrationType.PAGERDUTY)
        )
        yield Events(running, client, key)


async def test_the_integration_shows_the_events_url_and_its_key(events: Events) -> None:
    assert events.key.url_with_key.endswith("/v2/enqueue")
    assert events.key.info.url == events.key.url_with_key
    assert events.key.api_key not in events.key.url_with_key


async def test_trigger_acknowledge_and_resolve_one_alert(events: Events) -> None:
    session = events.session()
    details = {"disk": {"free": 0, "mount": "/var"}, "note": "full"}
    dedup = await events.send(
        session.trigger,
        PAYLOAD["summary"],
        PAYLOAD["source"],
        dedup_key="disk-db-1",
        severity="critical",
        custom_details=details,
        payload={"component": "postgres", "group": "prod", "class": "disk"},
    )
    assert dedup == "disk-db-1"
    (alert,) = await events.alerts()
    assert (alert.message, alert.alias, alert.source) == ("Disk full on db-1", "disk-db-1", "db-1")
    assert alert.priority is Priority.P1
    assert alert.integration == "monitoring"
    assert alert.details["disk.free"] == "0"
    assert alert.details["disk.mount"] == "/var"
    assert alert.details["component"] == "postgres"
    assert alert.details["class"] == "disk"
    assert await events.send(session.acknowledge, "disk-db-1") == "disk-db-1"
    (alert,) = await events.alerts()
    assert alert.acknowledged and alert.status is Status.OPEN
    assert await events.send(session.resolve, "disk-db-1") == "disk-db-1"
    (alert,) = await events.alerts()
    assert alert.status is Status.CLOSED


async def test_a_retried_trigger_counts_into_the_open_alert(events: Events) -> None:
    session = events.session()
    for _ in range(3):
        await events.send(session.trigger, "Disk full", "db-1", dedup_key="same")
    (alert,) = await events.alerts()
    assert alert.count == 3


async def test_a_trigger_without_dedup_key_is_given_one(events: Events) -> None:
    session = events.session()
    first = await events.send(session.trigger, "Disk full", "db-1")
    second = await events.send(session.trigger, "Disk full", "db-1")
    assert first and second and first != second
    assert sorted(a.alias for a in await events.alerts()) == sorted([first, second])


async def test_acknowledging_or_resolving_an_unknown_key_changes_nothing(events: Events) -> None:
    session = events.session()
    assert await events.send(session.acknowledge, "never-seen") == "never-seen"
    assert await events.send(session.resolve, "never-seen") == "never-seen"
    assert await events.alerts() == []


async def test_a_bad_event_is_refused_naming_each_field(events: Events) -> None:
    status, body = await events.refused(
        events.session(), action="trigger", payload={"summary": "x", "severity": "fatal"}
    )
    assert status == 400
    assert body["status"] == "invalid event"
    assert body["message"] == "Event object is invalid"
    assert "'payload.source' is missing or blank" in body["errors"]
    assert any("'payload.severity'" in error for error in body["errors"])
    assert await events.alerts() == []


async def test_a_body_that_is_not_an_event_is_refused(events: Events) -> None:
    async with aiohttp.ClientSession() as http:
        for data, expected in ((b"{nope", "event: is not JSON"), (b"[1]", "a JSON object")):
            async with http.post(events.key.url_with_key, data=data) as reply:
                assert reply.status == 400
                (error,) = (await reply.json())["errors"]
                assert expected in error


async def test_a_wrong_key_and_a_disabled_integration_are_an_invalid_routing_key(
    events: Events,
) -> None:
    invalid = {
        "status": "invalid event",
        "message": "Event object is invalid",
        "errors": ["Invalid routing key"],
    }
    wrong = events.session(routing_key="tocsin_ik_not-a-key")
    assert await events.refused(wrong, action="trigger", payload=PAYLOAD) == (400, invalid)
    await events.client.set_integration_enabled("monitoring", False)
    right = events.session()
    assert await events.refused(right, action="trigger", payload=PAYLOAD) == (400, invalid)
    assert await events.alerts() == []


async def test_an_sns_integrations_key_is_not_a_routing_key(events: Events) -> None:
    sns = await events.client.create_integration(NewIntegration("aws", IntegrationType.SNS))
    session = events.session(routing_key=sns.api_key)
    status, body = await events.refused(session, action="trigger", payload=PAYLOAD)
    assert (status, body["errors"]) == (400, ["Invalid routing key"])


async def test_the_integrations_rules_run_over_the_event(events: Events) -> None:
    rules = [
        {
            "action": "create",
            "when": {"field": "component", "op": "equals", "value": "batch"},
            "alert": {"priority": "P4", "message": "Batch: {{message}}"},
        },
        {"action": "ignore", "when": {"field": "severity", "op": "equals", "value": "info"}},
        {"action": "create", "when": {"field": "event_action", "op": "equals", "value": "trigger"}},
        {"action": "close", "when": {"field": "event_action", "op": "equals", "value": "resolve"}},
    ]
    await events.client.set_integration_rules("monitoring", json.dumps(rules))
    session = events.session()
    payload = {**PAYLOAD, "component": "batch"}
    await events.send(session.send_event, action="trigger", payload=payload, dedup_key="b")
    await events.send(session.send_event, action="trigger", payload={**PAYLOAD, "severity": "info"})
    (alert,) = await events.alerts()
    assert (alert.priority, alert.message) == (Priority.P4, "Batch: Disk full on db-1")
    await events.send(session.acknowledge, "b")  # no acknowledge rule: nothing happens
    (alert,) = await events.alerts()
    assert not alert.acknowledged
    await events.send(session.resolve, "b")
    (alert,) = await events.alerts()
    assert alert.status is Status.CLOSED


async def test_change_events_are_taken_and_dropped(events: Events) -> None:
    url = events.key.url_with_key.replace("/v2/enqueue", "/v2/change/enqueue")
    async with aiohttp.ClientSession() as http, http.post(url, json={"payload": {}}) as reply:
        assert reply.status == 202
    assert await events.alerts() == []


async def test_the_shim_forwards_events_to_the_service(events: Events, clock: FakeClock) -> None:
    async with shim_url(events.running, clock) as base:
        session = events.session(url=base)
        assert await events.send(session.trigger, "Via the shim", "db-2", dedup_key="s") == "s"
        payload = {**PAYLOAD, "summary": ""}
        status, body = await events.refused(session, action="trigger", payload=payload)
        assert (status, body["errors"]) == (400, ["'payload.summary' is missing or blank"])
    assert [a.message for a in await events.alerts()] == ["Via the shim"]


async def test_the_cli_shows_the_events_url_and_the_routing_key(
    events: Events, tmp_path: Path
) -> None:
    made = await tocsin(events.running, "integrations", "create", "grafana", "--type", "pagerduty")
    assert made.code == 0, made.err
    lines = made.out.splitlines()
    assert lines[1] == "Set the tool's PagerDuty Events API v2 URL to:"
    assert lines[2].endswith("/v2/enqueue") and lines[4].startswith("tocsin_ik_")
    assert "which a tool on another machine cannot reach" in made.err
    assert "apiKey" not in made.err
    rotated = await tocsin(events.running, "integrations", "rotate-key", "grafana", "--json")
    data = rotated.json()
    assert isinstance(data, dict) and data["routing_key"] == data["api_key"]
    assert data["url"] == lines[2]
    session = events.session(routing_key=str(data["routing_key"]), url=str(data["url"]))
    await events.send(session.trigger, "From Grafana", "grafana")
    assert [a.integration for a in await events.alerts()] == ["grafana"]
    manifest = tmp_path / "tocsin.yaml"
    manifest.write_text("integrations:\n  - name: zabbix\n    type: pagerduty\n")
    applied = await tocsin(events.running, "apply", "-f", str(manifest))
    assert applied.code == 0, applied.err
    assert "PagerDuty Events API v2 URL" in applied.out
    exported = await tocsin(events.running, "export")
    assert "type: pagerduty" in exported.out


async def test_test_rules_reads_an_event_and_stores_nothing(events: Events) -> None:
    rules = [{"action": "create", "alert": {"priority": "P4"}}]
    await events.client.set_integration_rules("monitoring", json.dumps(rules))
    event = {"routing_key": "any", "event_action": "trigger", "payload": PAYLOAD}
    outcome = await events.client.test_integration_rules("monitoring", json.dumps(event))
    (action,) = outcome.actions
    assert (action.kind, action.alert["priority"], action.alert["message"]) == (
        "create", "P4", "Disk full on db-1",
    )  # fmt: skip
    with pytest.raises(InvalidArgument, match="'payload' is missing"):
        await events.client.test_integration_rules("monitoring", '{"event_action": "trigger"}')
    assert await events.alerts() == []


async def test_sns_deliveries_do_not_reach_a_pagerduty_integration(
    store: SQLStore, clock: FakeClock
) -> None:
    made = await store.create_integration(
        NewIntegration("grafana", IntegrationType.PAGERDUTY), "hash", clock.now(), "pd-1"
    )
    delivery = SnsDelivery(
        made.id, SnsType.NOTIFICATION, "m-1", "arn:aws:sns:us-east-1:123456789012:t", "", "x",
        clock.now(), 2,
    )  # fmt: skip
    with pytest.raises(NotFound):
        await store.ingest_sns(delivery, "hash", None, Actor("test"), clock.now(), "a-1")
