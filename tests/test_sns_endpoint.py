"""SNS deliveries end to end through `tocsin serve`'s HTTP edge: signed here like AWS signs
them, confirmed against a fake SNS on loopback, stored exactly once."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import grpc
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from prometheus_client import CollectorRegistry

from clients.client import IntegrationKey, TocsinClient, parse_ref
from edge.shim import GrpcCalendars, GrpcIngest, Shim
from edge.sns import message as sns_message
from edge.sns.config import SnsConfig
from service.alerts.model import AlertQuery, Priority
from service.ingest.model import IntegrationType, NewIntegration
from tests.conftest import Running, free_port, serving
from tests.databases import BACKENDS
from tests.fakes import FakeClock
from tests.sns_signing import CERT, CERT_URL, FIXTURES, KEY, certificate, fixture, signed

CONFIRMATION = "01-subscription-confirmation.body.json"
NOTICE = "02-notification-with-subject.body.json"
UNSUBSCRIBED = "03-unsubscribe-confirmation.body.json"
TOPIC = "arn:aws:sns:us-west-2:123456789012:MyTopic"


class FakeSns:
    """Answers ConfirmSubscription like SNS, and remembers what it was asked."""

    def __init__(self) -> None:
        self.confirmations: list[dict[str, str]] = []
        self.status = 200

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/", self.confirm)
        return app

    async def confirm(self, request: web.Request) -> web.Response:
        self.confirmations.append(dict(request.query))
        return web.Response(status=self.status, text="<ConfirmSubscriptionResponse/>")


@dataclass
class Edge:
    running: Running
    client: TocsinClient
    http: aiohttp.ClientSession
    sns: FakeSns

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.running.server.http_port}"

    async def integration(self, name: str = "aws", **fields: object) -> IntegrationKey:
        new = NewIntegration(name, IntegrationType.SNS, **fields)  # type: ignore[arg-type]
        return await self.client.create_integration(new)

    async def post(
        self, key: IntegrationKey, fields: dict[str, str], headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, object]]:
        return await self.post_raw(key.url_with_key, json.dumps(fields).encode(), headers)

    async def post_raw(
        self, url: str, data: bytes, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, object]]:
        sent = {"Content-Type": "text/plain; charset=UTF-8", **(headers or {})}
        async with self.http.post(url, data=data, headers=sent) as reply:
            return reply.status, await reply.json()

    async def alerts(self) -> list[str]:
        return [a.message for a in (await self.client.list_alerts(AlertQuery())).items]


@pytest.fixture(params=BACKENDS)
async def edge(
    request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock
) -> AsyncIterator[Edge]:
    fake = FakeSns()
    sns_server = TestServer(fake.app())
    await sns_server.start_server(access_log=None)  # the fake's own log is not Tocsin's
    config = SnsConfig(
        endpoint_url=str(sns_server.make_url("")).rstrip("/"),
        pinned_certificates={CERT_URL: CERT},
    )
    try:
        async with (
            serving(tmp_path, clock, config, backend=request.param) as running,
            running.client() as client,
            aiohttp.ClientSession() as http,
        ):
            yield Edge(running, client, http, fake)
    finally:
        await sns_server.close()


async def test_one_notification_delivered_many_times_at_once_is_stored_once(edge: Edge) -> None:
    key = await edge.integration(topic_arns=(TOPIC,))
    headers = {"x-amz-sns-message-type": "Notification", "x-amz-sns-topic-arn": TOPIC}
    delivery = signed(fixture(NOTICE))
    answers = await asyncio.gather(*(edge.post(key, delivery, headers) for _ in range(16)))
    assert sorted(str(body["status"]) for _, body in answers) == ["duplicate"] * 15 + ["stored"]
    (alert,) = (await edge.client.list_alerts()).items
    assert alert.count == 1


async def test_subscription_is_confirmed_pinned_and_noted(edge: Edge) -> None:
    key = await edge.integration()
    status, body = await edge.post(key, signed(fixture(CONFIRMATION)))
    assert (status, body["status"]) == (200, "stored")
    (asked,) = edge.sns.confirmations
    assert asked == {"Action": "ConfirmSubscription", "TopicArn": TOPIC, "Token": "2336412f37..."}
    (notice,) = (await edge.client.list_alerts()).items
    assert notice.message == "Subscription to MyTopic confirmed"
    assert (notice.priority, notice.integration, notice.source) == (
        Priority.P5,
        "aws",
        "Amazon SNS",
    )
    assert (await edge.client.get_integration("aws")).integration.pinned_topic_arn == TOPIC


async def test_a_notification_is_stored_once_however_often_sns_delivers_it(edge: Edge) -> None:
    await edge.client.create_team("ops")
    key = await edge.integration(topic_arns=(TOPIC,), assignee_team="ops")
    headers = {"x-amz-sns-message-type": "Notification", "x-amz-sns-topic-arn": TOPIC}
    delivery = signed(fixture(NOTICE))
    first = await edge.post(key, delivery, headers)
    again = await edge.post(key, delivery, headers)
    assert first[0] == again[0] == 200
    assert (first[1]["status"], again[1]["status"]) == ("stored", "duplicate")
    assert first[1]["alert"] == again[1]["alert"]
    (alert,) = (await edge.client.list_alerts()).items
    assert (alert.message, alert.description) == ("My First Message", "Hello world!")
    assert (alert.owner_team, alert.count) == ("ops", 1)
    assert alert.details["MessageId"] == "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324"
    assert edge.sns.confirmations == []


async def test_unsubscribe_is_noted(edge: Edge) -> None:
    key = await edge.integration(topic_arns=(TOPIC,))
    status, _ = await edge.post(key, signed(fixture(UNSUBSCRIBED)))
    assert status == 200
    assert await edge.alerts() == ["Subscription to MyTopic removed"]
    assert edge.sns.confirmations == []  # never re-subscribes


async def test_a_replayed_confirmation_is_not_confirmed_again(edge: Edge) -> None:
    key = await edge.integration()
    confirmation = signed(fixture(CONFIRMATION))
    assert (await edge.post(key, confirmation))[0] == 200
    assert (await edge.post(key, signed(fixture(UNSUBSCRIBED))))[0] == 200
    status, body = await edge.post(key, confirmation)  # replayed within the freshness window
    assert (status, body["status"]) == (200, "duplicate")
    assert len(edge.sns.confirmations) == 1


async def test_a_rotated_key_stops_working_at_once(edge: Edge) -> None:
    old = await edge.integration(topic_arns=(TOPIC,))
    new = await edge.client.rotate_integration_key("aws")
    assert (await edge.post(old, signed(fixture(NOTICE))))[0] == 401
    assert (await edge.post(new, signed(fixture(NOTICE))))[0] == 200


async def test_wrong_or_missing_keys_and_unknown_integrations_are_401(edge: Edge) -> None:
    key = await edge.integration(topic_arns=(TOPIC,))
    delivery = json.dumps(signed(fixture(NOTICE))).encode()
    integration = key.info.integration.id
    for url in (
        f"{key.info.url}?apiKey=tocsin_ik_wrong",
        key.info.url,
        f"{edge.base}/v1/sns/no-such-integration?apiKey={key.api_key}",
    ):
        status, body = await edge.post_raw(url, delivery)
        assert status == 401, url
        assert integration not in json.dumps(body)
    assert await edge.alerts() == []


async def test_refusals_create_nothing(edge: Edge, clock: FakeClock) -> None:
    key = await edge.integration(topic_arns=(TOPIC,))
    other_topic = {**fixture(NOTICE), "TopicArn": "arn:aws:sns:us-west-2:123456789012:Other"}
    tampered = {**signed(fixture(NOTICE)), "Message": "Hello world?"}
    cases = [
        (signed(other_topic), 403, "not accepted"),
        (tampered, 403, "does not match"),
        (
            {**signed(fixture(NOTICE)), "SigningCertURL": CERT_URL.replace("sns.", "evil.")},
            403,
            "SigningCertURL",
        ),
        (signed(fixture(NOTICE)), 400, "raw message delivery"),  # with the raw header below
    ]
    for index, (fields, status, words) in enumerate(cases):
        headers = {"x-amz-sns-rawdelivery": "true"} if index == 3 else None
        got, body = await edge.post(key, fields, headers)
        assert got == status, (index, body)
        assert words in str(body["reason"])
    clock.advance(timedelta(hours=2))
    got, body = await edge.post(key, signed(fixture(NOTICE)))
    assert (got, body["reason"]) == (403, "the message is too old (replayed?)")
    oversized = b"{" + b" " * (sns_message.MAX_BODY_BYTES + 1) + b"}"
    got, _ = await edge.post_raw(key.url_with_key, oversized)
    assert got == 413
    assert await edge.alerts() == []


async def test_disabled_integrations_and_old_signature_versions_are_403(edge: Edge) -> None:
    key = await edge.integration(topic_arns=(TOPIC,), min_signature_version=2)
    got, body = await edge.post(key, signed(fixture(NOTICE), version="1"))
    assert (got, "below the minimum 2" in str(body["reason"])) == (403, True)
    await edge.client.set_integration_enabled("aws", False)
    got, body = await edge.post(key, signed(fixture(NOTICE)))
    assert (got, "disabled" in str(body["reason"])) == (403, True)
    assert await edge.alerts() == []


async def test_a_failed_confirmation_is_503_so_sns_retries(edge: Edge) -> None:
    key = await edge.integration()
    edge.sns.status = 500
    got, _ = await edge.post(key, signed(fixture(CONFIRMATION)))
    assert got == 503
    assert await edge.alerts() == []
    edge.sns.status = 200
    got, _ = await edge.post(key, signed(fixture(CONFIRMATION)))
    assert got == 200
    assert await edge.alerts() == ["Subscription to MyTopic confirmed"]


async def test_service_down_is_503_and_the_redelivery_stores_one_alert(
    edge: Edge, clock: FakeClock
) -> None:
    key = await edge.integration(topic_arns=(TOPIC,))
    delivery = json.dumps(signed(fixture(NOTICE))).encode()
    dead = free_port()
    sns = SnsConfig(pinned_certificates={CERT_URL: CERT})
    for target, expected in ((f"127.0.0.1:{dead}", 503), (edge.running.target, 200)):
        async with grpc.aio.insecure_channel(target) as channel:
            ingest = GrpcIngest(channel, edge.running.token)
            calendars = GrpcCalendars(channel, edge.running.token)
            shim = Shim(
                ingest, channel, CollectorRegistry(), clock, sns, edge.http, calendars,
                idle_seconds=120,
            )  # fmt: skip
            async with TestServer(shim.app()) as server:
                url = str(server.make_url(f"/v1/sns/{key.info.integration.id}"))
                got, _ = await edge.post_raw(f"{url}?apiKey={key.api_key}", delivery)
                assert got == expected
    assert await edge.alerts() == ["My First Message"]


async def test_the_key_never_reaches_the_log(edge: Edge, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    key = await edge.integration()
    confirmation = signed(fixture(CONFIRMATION))
    await edge.post(key, confirmation)
    edge.sns.status = 500  # the failure path logs too
    await edge.post(key, {**confirmation, "MessageId": "another-one"})
    await edge.post(key, {**signed(fixture(NOTICE)), "Message": "forged"})
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "confirmed the SNS subscription" in logged  # the log was captured
    for secret in (key.api_key, confirmation["Token"], confirmation["SubscribeURL"]):
        assert secret not in logged


async def test_tocsin_shim_runs_the_edge_alone(running: Running, tmp_path: Path) -> None:
    """`tocsin shim` as its own process, in front of a running service."""
    # The shim process reads the real clock: a certificate valid, and a message sent, now.
    now = datetime.now(UTC)
    pem = tmp_path / "sns.pem"
    pem.write_bytes(certificate(KEY, now - timedelta(days=1), now + timedelta(days=1)))
    config = tmp_path / "shim.yaml"
    # The servers' shared file, providers and all: the shim pages nobody, so it starts
    # without the senders' secrets (here none of SMTP's, FCM's or the webhooks').
    config.write_text(
        f"sns:\n  pinned_certificates:\n    {CERT_URL}: {pem}\n"
        "notifications:\n"
        "  smtp: {host: smtp.example.com, username: tocsin, from_address: t@example.com}\n"
        "  fcm: {project_id: p, credentials_file: /nonexistent/fcm.json}\n"
        "  webhook: {timeout_seconds: 10}\n"
    )
    secrets = ("TOCSIN_SMTP_PASSWORD", "TOCSIN_WEBHOOK_SECRET", "GOOGLE_APPLICATION_CREDENTIALS")
    env = {k: v for k, v in os.environ.items() if k not in secrets}
    async with running.client() as client:
        key = await client.create_integration(
            NewIntegration("aws", IntegrationType.SNS, topic_arns=(TOPIC,))
        )
        shim = await asyncio.create_subprocess_exec(
            str(Path(sys.executable).with_name("tocsin")), "shim",
            "--grpc-target", running.target, "--token", running.token, "--config", str(config),
            "--http-listen", "127.0.0.1:0", "--log-format", "json",
            stderr=asyncio.subprocess.PIPE, env=env,
        )  # fmt: skip
        try:
            assert shim.stderr is not None
            while True:
                line = json.loads(await asyncio.wait_for(shim.stderr.readline(), 30))
                if str(line["message"]).startswith("tocsin shim is serving"):
                    break
            port = str(line["message"]).split("HTTP on 127.0.0.1:")[1].split(",")[0]
            url = f"http://127.0.0.1:{port}/v1/sns/{key.info.integration.id}?apiKey={key.api_key}"
            delivery = json.dumps(signed(fixture(NOTICE, sent=now)))
            async with aiohttp.ClientSession() as http, http.post(url, data=delivery) as reply:
                assert reply.status == 200
            assert [a.message for a in (await client.list_alerts()).items] == ["My First Message"]
        finally:
            shim.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(shim.wait(), 30) == 0


async def test_a_cloudwatch_ok_closes_its_alarm(edge: Edge) -> None:
    key = await edge.integration(topic_arns=(TOPIC,))
    alarm = json.loads(
        json.loads((FIXTURES / "13-cloudwatch-alarm.message.single-metric.json").read_text())[
            "Message_string_verbatim"
        ]
    )

    def notice(state: str, message_id: str) -> dict[str, str]:
        body = {**alarm, "NewStateValue": state}
        fields = {**fixture(NOTICE), "Message": json.dumps(body), "MessageId": message_id}
        return signed(_without_subject(fields))

    assert (await edge.post(key, notice("ALARM", "m-alarm")))[0] == 200
    (opened,) = (await edge.client.list_alerts()).items
    assert (opened.message, opened.status.value) == ("EXAMPLE is ALARM", "open")
    status, body = await edge.post(key, notice("OK", "m-ok"))
    assert (status, body["alert"]) == (200, str(opened.tiny_id))
    closed = (await edge.client.list_alerts()).items[0]
    assert (closed.status.value, closed.closed_by) == ("closed", "Amazon SNS")
    log = (await edge.client.activity(parse_ref(closed.id))).items
    assert log[-1].action == "closed"
    assert log[-1].note.startswith("EXAMPLE is OK: Threshold Crossed")
    # An OK with no alarm open changes nothing, and its redelivery neither.
    for _ in range(2):
        assert (await edge.post(key, notice("OK", "m-ok-again")))[0] == 200
    assert len((await edge.client.list_alerts()).items) == 1


async def test_the_integration_type_chooses_how_a_delivery_is_read(edge: Edge) -> None:
    await edge.client.create_integration(
        NewIntegration("trail", IntegrationType.CLOUDTRAIL, topic_arns=(TOPIC,))
    )
    key = await edge.client.rotate_integration_key("trail")
    bucket = FIXTURES / "09-eventbridge.aws-api-call-via-cloudtrail.s3-createbucket.json"
    alarm = (FIXTURES / "13-cloudwatch-alarm.message.single-metric.json").read_text()

    def notice(message: str, message_id: str) -> dict[str, str]:
        return signed({**fixture(NOTICE), "Message": message, "MessageId": message_id})

    assert (await edge.post(key, notice(bucket.read_text(), "m-1")))[0] == 200
    (event,) = (await edge.client.list_alerts()).items
    assert (event.message, event.source) == ("CloudTrail: CreateBucket by Root", "AWS CloudTrail")
    # Not CloudTrail's: kept, as the plain alert its subject and text make, with a note.
    alarm_message = json.loads(alarm)["Message_string_verbatim"]
    assert (await edge.post(key, notice(alarm_message, "m-2")))[0] == 200
    other = next(a for a in (await edge.client.list_alerts()).items if a.id != event.id)
    assert (other.message, other.source) == ("My First Message", "Amazon SNS")
    (created,) = (await edge.client.activity(parse_ref(other.id))).items
    assert created.note == (
        "not a CloudTrail log delivery or event: read as a plain SNS message (its subject and text)"
    )
    tried = await edge.client.test_integration_rules("trail", bucket.read_text())
    assert tried.actions[0].alert["source"] == "AWS CloudTrail"
    # Another type, by an update: the same URL and key, and the alarm reads as one.
    await edge.client.update_integration("trail", NewIntegration("", IntegrationType.SNS), ["type"])
    assert (await edge.post(key, notice(alarm_message, "m-3")))[0] == 200
    assert "EXAMPLE is ALARM" in await edge.alerts()


def _without_subject(fields: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in fields.items() if k != "Subject"}


async def test_integration_rules_decide_what_deliveries_do(edge: Edge) -> None:
    key = await edge.integration(topic_arns=(TOPIC,))
    rules_yaml = """
- name: quiet-sign-ins
  action: ignore
  when: {field: eventName, op: equals, value: ConsoleLogin}
- name: buckets
  action: create
  when: {field: eventSource, op: equals, value: s3.amazonaws.com}
  alert:
    message: "S3 {{eventName}} by {{userIdentity.type | lower}}"
    priority: P1
"""
    await edge.client.set_integration_rules("aws", rules_yaml)
    assert "quiet-sign-ins" in await edge.client.get_integration_rules("aws")

    def event(name: str, message_id: str) -> dict[str, str]:
        payload = (FIXTURES / name).read_text()
        fields = {**fixture(NOTICE), "Message": payload, "MessageId": message_id}
        return signed({k: v for k, v in fields.items() if k != "Subject"})

    sign_in = "10-eventbridge.aws-console-sign-in-via-cloudtrail.root.json"
    bucket = "09-eventbridge.aws-api-call-via-cloudtrail.s3-createbucket.json"
    assert (await edge.post(key, event(sign_in, "m-1")))[0] == 200  # ignored, yet accepted
    assert (await edge.post(key, event(bucket, "m-2")))[0] == 200
    (alert,) = (await edge.client.list_alerts()).items
    assert (alert.message, alert.priority) == ("S3 CreateBucket by root", Priority.P1)

    tried = await edge.client.test_integration_rules("aws", (FIXTURES / sign_in).read_text())
    assert (tried.matched_rules, tried.actions) == (("quiet-sign-ins",), ())
    assert len((await edge.client.list_alerts()).items) == 1  # testing stores nothing


async def test_rules_can_acknowledge_and_note_an_open_alert(edge: Edge) -> None:
    key = await edge.integration(topic_arns=(TOPIC,))
    await edge.client.set_integration_rules(
        "aws",
        """
- {action: create, when: {field: NewStateValue, op: equals, value: ALARM}}
- {action: acknowledge, when: {field: NewStateValue, op: equals, value: INSUFFICIENT_DATA},
   note: "no data from {{AlarmName}}"}
- {action: add-note, note: "state now {{NewStateValue}}"}
""",
    )
    alarm = json.loads(
        json.loads((FIXTURES / "13-cloudwatch-alarm.message.single-metric.json").read_text())[
            "Message_string_verbatim"
        ]
    )

    def notice(state: str, message_id: str) -> dict[str, str]:
        fields = {**fixture(NOTICE), "MessageId": message_id}
        fields["Message"] = json.dumps({**alarm, "NewStateValue": state})
        return signed(_without_subject(fields))

    assert (await edge.post(key, notice("ALARM", "m-1")))[0] == 200
    assert (await edge.post(key, notice("INSUFFICIENT_DATA", "m-2")))[0] == 200
    (alert,) = (await edge.client.list_alerts()).items
    assert alert.acknowledged and alert.status.value == "open"
    log = [(e.action, e.note) for e in (await edge.client.activity(parse_ref(alert.id))).items]
    assert ("acknowledged", "no data from EXAMPLE") in log
    assert ("note_added", "state now INSUFFICIENT_DATA") in log
    assert ("note_added", "state now ALARM") in log
