"""From an SNS notification at the integration URL to a phone that rings: `tocsin serve`
with its real adapters, talking to real protocol peers on loopback (an aiosmtpd SMTP server,
a server speaking Twilio's REST API driven by the twilio SDK, one speaking FCM's driven by
firebase-admin)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from adapters.email.settings import EmailSettings
from adapters.fcm.settings import FcmSettings
from adapters.registry import NotifySettings
from adapters.twilio.settings import TwilioSettings
from clients.client import TocsinClient, parse_ref
from edge.sns.config import SnsConfig
from service.alerts.model import NewAlert
from service.ingest.model import IntegrationType, NewIntegration
from service.oncall.rotations import RotationSpec
from service.oncall.usecases import ScheduleSpec
from service.paging.planning import PageState
from service.people.model import Channel, NotificationRule, NotificationStep
from tests.conftest import Running, serving
from tests.fakes import FakeClock
from tests.provider_servers import FcmServer, SmtpServer, TwilioServer
from tests.sns_signing import CERT, CERT_URL, fixture, signed
from tests.test_sns_endpoint import NOTICE, TOPIC, FakeSns

SID = "AC" + "0123456789abcdef" * 2
TOKEN = "twilio-auth-token-for-tests"


@dataclass
class Providers:
    smtp: SmtpServer
    twilio: TwilioServer
    fcm: FcmServer


@dataclass
class World:
    running: Running
    client: TocsinClient
    providers: Providers
    http: aiohttp.ClientSession

    async def tick(self, after: timedelta = timedelta()) -> None:
        self.running.clock.advance(after)
        await self.running.server.engine.tick()

    def sent(self) -> tuple[int, int, int, int]:
        p = self.providers
        pushes = [r for r in p.fcm.received if r.name]
        return len(p.smtp.received), len(p.twilio.messages()), len(p.twilio.calls()), len(pushes)


@pytest.fixture
async def world(tmp_path: Path, clock: FakeClock) -> AsyncIterator[World]:
    sns = FakeSns()
    sns_server = TestServer(sns.app())
    await sns_server.start_server(access_log=None)
    fcm = FcmServer()
    async with SmtpServer() as smtp, TwilioServer(SID, TOKEN) as twilio, fcm:
        notifications = NotifySettings(
            email=EmailSettings("127.0.0.1", "Tocsin <tocsin@example.com>", smtp.port, "none"),
            twilio=TwilioSettings(SID, TOKEN, "+15550001111", "+15550002222", twilio.url),
            fcm=FcmSettings(fcm.project_id, fcm.service_account(tmp_path / "fcm.json"), fcm.url),
        )
        config = SnsConfig(
            endpoint_url=str(sns_server.make_url("")).rstrip("/"),
            pinned_certificates={CERT_URL: CERT},
        )
        try:
            async with (
                serving(tmp_path, clock, config, notifications=notifications) as running,
                running.client() as client,
                aiohttp.ClientSession() as http,
            ):
                yield World(running, client, Providers(smtp, twilio, fcm), http)
        finally:
            await sns_server.close()


async def test_an_sns_notification_pages_on_every_channel_until_acknowledged(
    world: World,
) -> None:
    client = world.client
    await client.create_team("ops")
    await client.create_user("alice")
    for channel, address in (
        ("email", "alice@example.com"),
        ("sms", "+14155550101"),
        ("voice", "+14155550101"),
        ("push", "device-token:abc123"),
    ):
        await client.add_contact_method("alice", channel, address)
    # Email and push at once, SMS a minute later, a call after five: the defaults.
    await client.create_schedule(
        ScheduleSpec(
            "ops-oncall",
            team="ops",
            rotations=(RotationSpec("primary", "weekly", world.running.clock.now(), ("alice",)),),
        )
    )
    key = await client.create_integration(
        NewIntegration("aws", IntegrationType.SNS, topic_arns=(TOPIC,), assignee_team="ops")
    )
    async with world.http.post(key.url_with_key, json=signed(fixture(NOTICE))) as reply:
        assert reply.status == 200
        tiny = (await reply.json())["alert"]

    # No policy: the team's on-call is paged at once, by alice's own rules.
    await world.tick()
    assert world.sent() == (1, 0, 0, 1)
    mail = world.providers.smtp.received[0]
    assert list(mail.recipients) == ["alice@example.com"]
    assert "My First Message" in mail.part("text/plain")
    (push,) = world.providers.fcm.received
    assert push.message["data"]["tiny_id"] == str(tiny)
    await world.tick(timedelta(minutes=1))
    assert world.sent() == (1, 1, 0, 1)
    (sms,) = world.providers.twilio.messages()
    assert sms["To"] == "+14155550101" and f"Reply '{tiny} ack'" in sms["Body"]

    await client.acknowledge(parse_ref(str(tiny)), user="alice")
    # The call that was due at five minutes never happens.
    await world.tick(timedelta(minutes=10))
    assert world.sent() == (1, 1, 0, 1)
    pages = await client.list_pages(str(tiny))
    assert [p.state for p in pages if p.channel is Channel.VOICE] == [PageState.CANCELLED]


async def test_a_provider_outage_is_retried_and_a_bad_number_moves_on(world: World) -> None:
    client = world.client
    await client.create_user("bob")
    await client.add_contact_method("bob", "sms", "+14155550102")
    await client.add_contact_method("bob", "email", "bob@example.com")
    await client.set_notification_rule(
        "bob",
        "new_alert",
        NotificationRule((NotificationStep("sms", 0), NotificationStep("email", 0))),
    )
    await client.set_team_member("default", "bob")
    world.providers.twilio.fail_next(503, 20500, "Service unavailable")
    world.providers.smtp.refuse["bob@example.com"] = "550 5.1.1 No such user"
    alert = (await client.create_alert(NewAlert(message="Disk full"))).alert
    await world.tick()
    await world.tick(timedelta(seconds=15))  # the first retry waits 8-12 s
    states = {p.channel: p for p in await client.list_pages(str(alert.tiny_id))}
    sms, email = states[Channel.SMS], states[Channel.EMAIL]
    assert sms.state is PageState.DELIVERED and sms.attempts == 2
    assert email.state is PageState.FAILED and "550" in email.detail
