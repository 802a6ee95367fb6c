"""Opsgenie's Alert API end to end: opsgenie-sdk, Opsgenie's own Python client, sending to
`tocsin serve`'s edge (and aiohttp to the shim's) on both backends."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import aiohttp
import opsgenie_sdk
import pytest

from clients.client import IntegrationKey, TocsinClient
from service.alerts.model import Alert, AlertRef, NewAlert, Priority, RefKind, Status
from service.ingest.model import IntegrationType, NewIntegration
from tests.conftest import Running, shim_url
from tests.fakes import FakeClock
from tests.test_cli import tocsin


@dataclass
class Genie:
    running: Running
    client: TocsinClient
    key: IntegrationKey

    def api(self, key: str | None = None) -> Any:
        """Opsgenie's client, pointed at Tocsin: its host is the URL the CLI shows."""
        conf = opsgenie_sdk.Configuration()
        conf.host = self.key.url_with_key
        conf.api_key["Authorization"] = self.key.api_key if key is None else key
        conf.api_key_prefix["Authorization"] = "GenieKey"
        conf.retry_count = 1
        return opsgenie_sdk.AlertApi(opsgenie_sdk.ApiClient(conf))

    async def send(self, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        # The client is synchronous; the server answers on this test's event loop.
        return await asyncio.to_thread(call, *args, **kwargs)

    async def refused(self, call: Callable[..., Any], *args: Any) -> tuple[int, dict[str, Any]]:
        with pytest.raises(opsgenie_sdk.exceptions.RetryableException) as raised:
            await self.send(call, *args)
        return raised.value.status, json.loads(raised.value.body)

    async def alerts(self) -> list[Alert]:
        return sorted((await self.client.list_alerts()).items, key=lambda a: a.tiny_id)


@pytest.fixture
async def genie(running: Running) -> AsyncIterator[Genie]:
    async with running.client() as client:
        key = await client.create_integration(NewIntegration("nagios", IntegrationType.OPSGENIE))
        yield Genie(running, client, key)


async def test_create_acknowledge_note_and_close_by_alias(genie: Genie) -> None:
    api = genie.api()
    payload = opsgenie_sdk.CreateAlertPayload(
        message="Disk full on db-1", alias="disk-db-1", description="/var at 100%",
        tags=["disk"], details={"host": "db-1"}, entity="db-1", source="nagios",
        priority="P2", note="first seen", user="ann", actions=["Restart"],
    )  # fmt: skip
    created = await genie.send(api.create_alert, payload)
    assert created.result == "Request will be processed" and created.request_id
    assert isinstance(created.took, float)
    (alert,) = await genie.alerts()
    assert (alert.alias, alert.message, alert.priority) == (
        "disk-db-1",
        "Disk full on db-1",
        Priority.P2,
    )
    assert (alert.integration, alert.details["host"], alert.actions) == (
        "nagios", "db-1", ("Restart",),
    )  # fmt: skip
    # A retried create with the same alias counts into the open alert.
    await genie.send(api.create_alert, payload)
    ack = opsgenie_sdk.AcknowledgeAlertPayload(user="ann", note="on it")
    await genie.send(api.acknowledge_alert, "disk-db-1", identifier_type="alias",
                     acknowledge_alert_payload=ack)  # fmt: skip
    note = opsgenie_sdk.AddNoteToAlertPayload(user="ann", note="cleaning /var")
    await genie.send(api.add_note, "disk-db-1", note, identifier_type="alias")
    (alert,) = await genie.alerts()
    assert (alert.count, alert.status, alert.acknowledged) == (2, Status.OPEN, True)
    close = opsgenie_sdk.CloseAlertPayload(user="ann", note="fixed")
    await genie.send(api.close_alert, "disk-db-1", identifier_type="alias",
                     close_alert_payload=close)  # fmt: skip
    (alert,) = await genie.alerts()
    assert alert.status is Status.CLOSED
    log = (await genie.client.activity(AlertRef(RefKind.ID, alert.id))).items
    notes = [entry.note for entry in log]
    assert "cleaning /var (by ann)" in notes and "fixed (by ann)" in notes
    # An unknown alias is taken and changes nothing, as Opsgenie does.
    await genie.send(api.close_alert, "no-such-alias", identifier_type="alias")
    assert len(await genie.alerts()) == 1


async def test_a_request_status_says_what_became_of_it(genie: Genie) -> None:
    api = genie.api()
    payload = opsgenie_sdk.CreateAlertPayload(message="m", alias="st")
    created = await genie.send(api.create_alert, payload)
    status = (await genie.send(api.get_request_status, created.request_id)).data
    (alert,) = await genie.alerts()
    assert (status.is_success, status.action, status.status) == (True, "Create", "Created alert")
    assert (status.alert_id, status.alias) == (alert.id, "st")
    assert status.integration_id == genie.key.info.integration.id and status.processed_at
    again = await genie.send(api.create_alert, payload)
    status = (await genie.send(api.get_request_status, again.request_id)).data
    assert status.status == "Alert already exists; count increased"
    closed = await genie.send(api.close_alert, "gone", identifier_type="alias")
    status = (await genie.send(api.get_request_status, closed.request_id)).data
    assert (status.is_success, status.action, status.status) == (
        False,
        "Close",
        "Alert does not exist",
    )
    # Only the integration that made the request may read it.
    other = await genie.client.create_integration(NewIntegration("z", IntegrationType.OPSGENIE))
    other_api = genie.api(other.api_key)
    assert (await genie.refused(other_api.get_request_status, created.request_id))[0] == 404
    assert (await genie.refused(api.get_request_status, "no-such-request"))[0] == 404


async def test_a_request_status_is_kept_a_day(genie: Genie) -> None:
    api = genie.api()
    old = await genie.send(api.create_alert, opsgenie_sdk.CreateAlertPayload(message="old"))
    genie.running.clock.advance(timedelta(days=1, seconds=1))
    new = await genie.send(api.create_alert, opsgenie_sdk.CreateAlertPayload(message="new"))
    assert (await genie.send(api.get_request_status, new.request_id)).data.is_success
    assert (await genie.refused(api.get_request_status, old.request_id))[0] == 404


async def test_id_and_tiny_id_name_the_teams_alert_and_unacknowledge_undoes(genie: Genie) -> None:
    api = genie.api()
    await genie.send(api.create_alert, opsgenie_sdk.CreateAlertPayload(message="m", alias="a"))
    (alert,) = await genie.alerts()
    await genie.send(api.acknowledge_alert, alert.id)  # Opsgenie's default: the id
    assert (await genie.alerts())[0].acknowledged
    await genie.send(api.un_acknowledge_alert, str(alert.tiny_id), identifier_type="tiny")
    assert not (await genie.alerts())[0].acknowledged
    # Unacknowledging what is not acknowledged, or naming an alert that is not there, is taken
    # and changes nothing.
    await genie.send(api.un_acknowledge_alert, alert.id)
    await genie.send(api.close_alert, "no-such-id")
    await genie.send(api.close_alert, "999", identifier_type="tiny")
    assert (await genie.alerts())[0].status is Status.OPEN
    await genie.send(api.close_alert, str(alert.tiny_id), identifier_type="tiny")
    assert (await genie.alerts())[0].status is Status.CLOSED


async def test_another_teams_alert_is_not_acted_on_by_id(genie: Genie) -> None:
    await genie.client.create_team("db")
    theirs = (await genie.client.create_alert(NewAlert("theirs", owner_team="db"))).alert
    api = genie.api()
    await genie.send(api.close_alert, theirs.id)
    await genie.send(api.acknowledge_alert, str(theirs.tiny_id), identifier_type="tiny")
    (alert,) = await genie.alerts()
    assert (alert.status, alert.acknowledged) == (Status.OPEN, False)


async def test_a_long_message_is_cut_and_the_cut_is_logged(genie: Genie) -> None:
    payload = opsgenie_sdk.CreateAlertPayload(message="m" * 300, alias="long")
    await genie.send(genie.api().create_alert, payload)
    (alert,) = await genie.alerts()
    assert len(alert.message) == 130
    log = (await genie.client.activity(AlertRef(RefKind.ID, alert.id))).items
    assert any("Cut to Opsgenie's limits: message" in entry.note for entry in log)


async def test_a_body_in_utf_8_is_taken_up_to_its_limit(genie: Genie) -> None:
    # 200 KB of two-byte characters: under the body's 256 KiB, however the edge passes it on.
    body = json.dumps({"message": "m", "description": "д" * 100_000}, ensure_ascii=False)
    headers = {"Authorization": f"GenieKey {genie.key.api_key}"}
    url = f"{genie.key.url_with_key}/v2/alerts"
    async with (
        aiohttp.ClientSession() as http,
        http.post(url, data=body.encode(), headers=headers) as reply,
    ):
        assert reply.status == 202, await reply.text()
    (alert,) = await genie.alerts()
    assert alert.description.startswith("дд")


async def test_an_empty_message_is_422_and_a_wrong_key_401(genie: Genie) -> None:
    api = genie.api()
    empty = opsgenie_sdk.CreateAlertPayload(message=" ")
    status, answer = await genie.refused(api.create_alert, empty)
    assert (status, answer["errors"]) == (422, {"message": "Message can not be empty."})
    assert answer["requestId"] and isinstance(answer["took"], float)
    good = opsgenie_sdk.CreateAlertPayload(message="m")
    assert (await genie.refused(genie.api("tocsin_ik_wrong").create_alert, good))[0] == 401
    await genie.client.set_integration_enabled("nagios", False)
    assert (await genie.refused(api.create_alert, good))[0] == 401
    assert await genie.alerts() == []


async def test_answers_to_raw_requests_through_serve_and_the_shim(
    genie: Genie, clock: FakeClock
) -> None:
    headers = {"Authorization": f"GenieKey {genie.key.api_key}"}
    async with shim_url(genie.running, clock) as shim, aiohttp.ClientSession() as http:
        for base in (genie.key.url_with_key, shim):
            url = f"{base}/v2/alerts"
            async with http.post(url, data=b"{nope", headers=headers) as reply:
                assert reply.status == 400
            async with http.post(url, json={"message": "m"}) as reply:
                assert reply.status == 401
            async with http.post(url, json={"message": base[-5:]}, headers=headers) as reply:
                assert reply.status == 202
    assert len(await genie.alerts()) == 2


async def test_the_cli_shows_the_api_url_and_the_key_once(genie: Genie) -> None:
    made = await tocsin(genie.running, "integrations", "create", "og", "--type", "opsgenie")
    assert made.code == 0, made.err
    lines = made.out.splitlines()
    assert "Opsgenie API URL" in lines[1] and lines[2].startswith("http")
    assert not lines[2].endswith("/v2/alerts") and lines[-1].startswith("tocsin_ik_")
    data = (await tocsin(genie.running, "integrations", "rotate-key", "og", "--json")).json()
    assert isinstance(data, dict) and data["url"] == lines[2]
