"""Alertmanager's webhook and the generic JSON webhook end to end: aiohttp posting to
`tocsin serve`'s edge (and to the shim's) on both backends, hostile bodies included."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from clients.client import IntegrationKey, TocsinClient
from service.alerts.model import Alert, Priority, Status
from service.core.errors import InvalidArgument
from service.ingest.model import IntegrationType, NewIntegration
from tests.conftest import Running, shim_url
from tests.fakes import FakeClock
from tests.test_cli import tocsin


def am_alert(fingerprint: str, status: str = "firing", **labels: str) -> dict[str, Any]:
    return {
        "status": status,
        "labels": {"alertname": "DiskFull", "severity": "critical", **labels},
        "annotations": {"summary": f"Disk full ({fingerprint})"},
        "startsAt": "2026-12-04T19:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "fingerprint": fingerprint,
    }


def am_body(*alerts: dict[str, Any]) -> dict[str, Any]:
    return {"version": "4", "status": "firing", "receiver": "tocsin", "alerts": list(alerts)}


@dataclass
class Keyed:
    running: Running
    client: TocsinClient
    alertmanager: IntegrationKey
    webhook: IntegrationKey

    async def post(
        self, key: IntegrationKey, data: bytes | dict[str, Any], *, api_key: str | None = None,
        url: str | None = None, bearer: bool = True,
    ) -> tuple[int, dict[str, Any]]:  # fmt: skip
        secret = key.api_key if api_key is None else api_key
        headers = {"Authorization": f"Bearer {secret}"} if bearer and secret else {}
        body = data if isinstance(data, bytes) else json.dumps(data).encode()
        target = url or key.url_with_key
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                target, data=body, headers={**headers, "Content-Type": "application/json"}
            ) as reply,
        ):
            return reply.status, await reply.json()

    async def alerts(self) -> list[Alert]:
        return sorted((await self.client.list_alerts()).items, key=lambda a: a.tiny_id)


@pytest.fixture
async def keyed(running: Running) -> AsyncIterator[Keyed]:
    async with running.client() as client:
        am = await client.create_integration(
            NewIntegration("prometheus", IntegrationType.ALERTMANAGER)
        )
        hook = await client.create_integration(NewIntegration("ci", IntegrationType.WEBHOOK))
        yield Keyed(running, client, am, hook)


async def test_the_urls_name_the_integration_and_not_the_key(keyed: Keyed) -> None:
    for key, path in ((keyed.alertmanager, "alertmanager"), (keyed.webhook, "webhook")):
        assert key.url_with_key.endswith(f"/v1/{path}/{key.info.integration.id}")
        assert key.info.url == key.url_with_key
        assert key.api_key not in key.url_with_key


async def test_firing_alerts_open_and_resolved_ones_close(keyed: Keyed) -> None:
    first, second = am_alert("aaa", instance="db-1"), am_alert("bbb", severity="warning")
    assert await keyed.post(keyed.alertmanager, am_body(first, second)) == (
        200, {"status": "success"},
    )  # fmt: skip
    one, two = await keyed.alerts()
    assert (one.alias, one.message, one.priority) == ("aaa", "Disk full (aaa)", Priority.P1)
    assert (two.alias, two.priority) == ("bbb", Priority.P3)
    assert one.integration == "prometheus"
    assert one.details["labels.instance"] == "db-1"
    assert set(one.tags) == {"DiskFull", "critical"}
    await keyed.post(keyed.alertmanager, am_body(first))  # Alertmanager repeats: counted
    resolved = am_body({**second, "status": "resolved"})
    assert (await keyed.post(keyed.alertmanager, resolved))[0] == 200
    one, two = await keyed.alerts()
    assert (one.status, one.count, two.status) == (Status.OPEN, 2, Status.CLOSED)


async def test_the_key_may_come_as_a_query_parameter(keyed: Keyed) -> None:
    url = f"{keyed.alertmanager.url_with_key}?apiKey={keyed.alertmanager.api_key}"
    status, _ = await keyed.post(keyed.alertmanager, am_body(am_alert("q")), url=url, bearer=False)
    assert status == 200
    assert [a.alias for a in await keyed.alerts()] == ["q"]


async def test_a_missing_or_wrong_key_is_401_and_a_disabled_integration_403(
    keyed: Keyed,
) -> None:
    body = am_body(am_alert("k"))
    status, answer = await keyed.post(keyed.alertmanager, body, api_key="")
    assert (status, answer["status"]) == (401, "error")
    assert (await keyed.post(keyed.alertmanager, body, api_key="tocsin_ik_wrong"))[0] == 401
    # Another integration's key, or this key at another integration's URL, is no key.
    assert (await keyed.post(keyed.alertmanager, body, api_key=keyed.webhook.api_key))[0] == 401
    other = keyed.webhook.url_with_key
    assert (await keyed.post(keyed.alertmanager, body, url=other))[0] == 401
    unknown = keyed.alertmanager.url_with_key.rsplit("/", 1)[0] + "/no-such-id"
    assert (await keyed.post(keyed.alertmanager, body, url=unknown))[0] == 401
    await keyed.client.set_integration_enabled("prometheus", False)
    status, answer = await keyed.post(keyed.alertmanager, body)
    assert status == 403 and "disabled" in answer["message"]
    assert await keyed.alerts() == []


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"{nope", "event: is not JSON"),
        (b"[1]", "the event must be a JSON object"),
        (b"\xff\xfe", "the event is not UTF-8 text"),
        (b'{"alerts": ' + b"[" * 200 + b"]" * 200 + b"}", "must not nest deeper"),
        (b'{"alerts": {}}', "'alerts' is missing or not a list"),
        (json.dumps(am_body({"status": "firing"})).encode(), "'alerts[0].fingerprint'"),
        (json.dumps(am_body(*[am_alert("x")] * 1_001)).encode(), "at most 1000"),
        (json.dumps(am_body(am_alert("x", instance="\x00"))).encode(), ""),
    ],
)
async def test_hostile_bodies_are_answered_and_store_nothing_bad(
    keyed: Keyed, data: bytes, expected: str
) -> None:
    status, answer = await keyed.post(keyed.alertmanager, data)
    if not expected:  # a NUL is dropped, not stored and not refused
        assert status == 200
        (alert,) = await keyed.alerts()
        assert "labels.instance" not in alert.details
        return
    assert (status, answer["status"]) == (400, "error")
    assert expected in answer["message"]
    assert await keyed.alerts() == []


async def test_a_body_past_the_edges_limit_is_413(keyed: Keyed) -> None:
    status, _ = await keyed.post(keyed.alertmanager, b" " * (2 * 1024 * 1024))
    assert status == 413


async def test_the_integrations_rules_run_over_each_alert(keyed: Keyed) -> None:
    rules = [
        {"action": "ignore", "when": {"field": "labels.severity", "op": "equals", "value": "info"}},
        {"action": "close", "when": {"field": "status", "op": "equals", "value": "resolved"}},
        {"action": "create", "alert": {"priority": "P2", "message": "AM: {{message}}"}},
    ]
    await keyed.client.set_integration_rules("prometheus", json.dumps(rules))
    body = am_body(am_alert("r1"), am_alert("r2", severity="info"))
    assert (await keyed.post(keyed.alertmanager, body))[0] == 200
    (alert,) = await keyed.alerts()
    assert (alert.alias, alert.priority, alert.message) == ("r1", Priority.P2, "AM: Disk full (r1)")
    await keyed.post(keyed.alertmanager, am_body(am_alert("r1", status="resolved")))
    (alert,) = await keyed.alerts()
    assert alert.status is Status.CLOSED
    outcome = await keyed.client.test_integration_rules("prometheus", json.dumps(body))
    (action,) = outcome.actions
    assert (action.kind, action.alert["message"]) == ("create", "AM: Disk full (r1)")
    with pytest.raises(InvalidArgument, match="'alerts' is missing"):
        await keyed.client.test_integration_rules("prometheus", "{}")


async def test_a_webhook_body_becomes_an_alert_of_its_fields(keyed: Keyed) -> None:
    data = {"title": "Deploy failed", "build": {"id": 7, "branch": "main"}}
    assert await keyed.post(keyed.webhook, data) == (200, {"status": "success"})
    assert (await keyed.post(keyed.webhook, {"build": {"id": 8}}))[0] == 200
    first, second = await keyed.alerts()
    assert (first.message, first.integration) == ("Deploy failed", "ci")
    assert (first.details["build.id"], first.details["build.branch"]) == ("7", "main")
    assert second.message == "Webhook from ci"
    for bad, expected in ((b"{", "is not JSON"), (b'"x"', "a JSON object")):
        status, answer = await keyed.post(keyed.webhook, bad)
        assert status == 400 and expected in answer["message"]
    assert (await keyed.post(keyed.webhook, {}, api_key="tocsin_ik_wrong"))[0] == 401


async def test_a_webhooks_rules_decide_what_it_does(keyed: Keyed) -> None:
    rules = [
        {
            "action": "create",
            "when": {"field": "state", "op": "equals", "value": "failed"},
            "alert": {"alias": "build-{{job}}", "priority": "P2", "message": "{{job}} failed"},
        },
        {
            "action": "close",
            "when": {"field": "state", "op": "equals", "value": "passed"},
            "alert": {"alias": "build-{{job}}"},
        },
    ]
    await keyed.client.set_integration_rules("ci", json.dumps(rules))
    await keyed.post(keyed.webhook, {"state": "failed", "job": "deploy"})
    await keyed.post(keyed.webhook, {"state": "started", "job": "deploy"})  # no rule: nothing
    (alert,) = await keyed.alerts()
    assert (alert.alias, alert.message, alert.priority) == (
        "build-deploy", "deploy failed", Priority.P2,
    )  # fmt: skip
    await keyed.post(keyed.webhook, {"state": "passed", "job": "deploy"})
    (alert,) = await keyed.alerts()
    assert alert.status is Status.CLOSED


async def test_the_shim_forwards_both_to_the_service(keyed: Keyed, clock: FakeClock) -> None:
    async with shim_url(keyed.running, clock) as base:
        for key, data in ((keyed.alertmanager, am_body(am_alert("s"))), (keyed.webhook, {})):
            url = base + key.url_with_key.split("/", 3)[3].join(["/", ""])
            assert (await keyed.post(key, data, url=url))[0] == 200
        url = f"{base}/v1/alertmanager/{keyed.alertmanager.info.integration.id}"
        assert (await keyed.post(keyed.alertmanager, {}, url=url))[0] == 400
        body = am_body(am_alert("t"))
        assert (await keyed.post(keyed.alertmanager, body, url=url, api_key="x"))[0] == 401
    assert [a.message for a in await keyed.alerts()] == ["Disk full (s)", "Webhook from ci"]


async def test_the_cli_shows_the_url_and_the_key_once(keyed: Keyed, tmp_path: Path) -> None:
    for kind in ("alertmanager", "webhook"):
        made = await tocsin(keyed.running, "integrations", "create", f"n-{kind}", "--type", kind)
        assert made.code == 0, made.err
        lines = made.out.splitlines()
        assert f"/v1/{kind}/" in lines[2] and lines[4].startswith("tocsin_ik_")
        assert "Authorization: Bearer <key>" in lines[3]
        assert "which a tool on another machine cannot reach" in made.err
        data = (
            await tocsin(keyed.running, "integrations", "rotate-key", f"n-{kind}", "--json")
        ).json()
        assert isinstance(data, dict) and data["url"] == lines[2]
        assert str(data["api_key"]).startswith("tocsin_ik_")
    manifest = tmp_path / "tocsin.yaml"
    manifest.write_text(
        "integrations:\n  - {name: am2, type: alertmanager}\n  - {name: hook2, type: webhook}\n"
    )
    applied = await tocsin(keyed.running, "apply", "-f", str(manifest))
    assert applied.code == 0, applied.err
    assert applied.out.count("Authorization: Bearer <key>") == 2
    exported = (await tocsin(keyed.running, "export")).out
    assert "type: alertmanager" in exported and "type: webhook" in exported
