"""The notification adapters against real protocol peers on loopback (tests/provider_servers)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from ipaddress import ip_network
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from adapters.console import ConsoleNotifier
from adapters.email.notifier import EmailNotifier
from adapters.email.settings import EmailSettings
from adapters.fcm.notifier import FcmNotifier
from adapters.fcm.settings import FcmSettings
from adapters.registry import NotifySettings, notifiers, settings_from
from adapters.twilio.settings import TwilioSettings
from adapters.twilio.sms import TwilioSmsNotifier, gsm_length, is_gsm, sms_text
from adapters.twilio.voice import TwilioVoiceNotifier, voice_twiml
from adapters.webhook.notifier import WebhookNotifier
from adapters.webhook.settings import WebhookSettings
from service.core.errors import ConfigError
from service.paging.notifier import Notification, Outcome
from service.people.model import Channel
from service.people.webhook_targets import Allowed, WebhookRule
from tests.conftest import free_port
from tests.fakes import FakeClock
from tests.provider_servers import (
    FcmServer,
    SmtpServer,
    TwilioServer,
    WebhookReceiver,
    self_signed_tls,
)

SID = "AC" + "0123456789abcdef" * 2
TOKEN = "twilio-auth-token-for-tests"
SECRET = "webhook-secret-for-tests"
CALLBACK = "https://tocsin.example.com"
FID = "fE2kQ7yX9v3bR1tLm0pZqA"  # a Firebase installation ID: 22 characters
NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def make_page(**changes: Any) -> Notification:
    page = Notification(
        key="01JALERT/0.0.0/u-ada/m-1/0",
        channel=Channel.EMAIL,
        address="ada@example.com",
        username="ada",
        alert_id="01JALERT",
        tiny_id=12,
        message="Disk full on db-1",
        priority="P1",
        team="ops",
        description="/var is at 98% & rising <fast>",
        source="CloudWatch",
        entity="db-1",
        tags=("disk", "prod"),
        details={"region": "eu-west-1", "threshold": "95"},
        created_at=NOW,
        ack_url="https://tocsin.example.com/v1/ack?token=abc&alert=01JALERT",
        reply_hint="Reply '12 ack' to acknowledge",
    )
    return replace(page, **changes)


# Console


async def test_console_logs_one_line_and_always_delivers(caplog: pytest.LogCaptureFixture) -> None:
    page = make_page(channel=Channel.SMS, address="+15550100")
    with caplog.at_level(logging.INFO, logger="tocsin.pages"):
        result = await ConsoleNotifier().send(page)
    assert (result.outcome, result.provider_id) == (Outcome.DELIVERED, page.key)
    (record,) = caplog.records
    assert record.getMessage() == "page via sms to +15550100 (ada): #12 Disk full on db-1"
    assert vars(record)["channel"] == "sms" and vars(record)["tiny_id"] == 12


# Email


@pytest.fixture
async def smtp() -> AsyncIterator[SmtpServer]:
    async with SmtpServer(username="tocsin", password="smtp-password") as server:
        yield server


def email_settings(server: SmtpServer, **changes: Any) -> EmailSettings:
    settings = EmailSettings(
        host="127.0.0.1",
        port=server.port,
        security="none",
        username="tocsin",
        password="smtp-password",
        from_address="Tocsin <tocsin@alerts.example.com>",
        timeout_seconds=5,
    )
    return replace(settings, **changes)


async def test_email_is_multipart_with_the_alert_and_an_acknowledge_link(
    smtp: SmtpServer,
) -> None:
    page = make_page()
    result = await EmailNotifier(email_settings(smtp), FakeClock(NOW)).send(page)
    assert result.outcome is Outcome.DELIVERED, result.detail
    (mail,) = smtp.received
    assert mail.login == "tocsin"
    assert mail.recipients == ("ada@example.com",)
    message = mail.message
    assert message["Subject"] == "[P1] #12 Disk full on db-1"
    assert message["X-Tocsin-Alert"] == "01JALERT"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Message-ID"] == result.provider_id
    assert message["Message-ID"].endswith("@alerts.example.com>")
    assert message["Date"] == "Sun, 01 Mar 2026 09:00:00 +0000"
    assert message.get_content_type() == "multipart/alternative"
    text, markup = mail.part("text/plain"), mail.part("text/html")
    for fact in (
        "Priority: P1",
        "Alert: #12",
        "Team: ops",
        "Tags: disk, prod",
        "region: eu-west-1",
    ):
        assert fact in text
    assert "Source: CloudWatch" in text and "Entity: db-1" in text
    assert f"Acknowledge: {page.ack_url}" in text
    assert "/var is at 98% &amp; rising &lt;fast&gt;" in markup  # escaped, not markup
    link = 'href="https://tocsin.example.com/v1/ack?token=abc&amp;alert=01JALERT"'
    assert link in markup.replace("'", '"') and ">Acknowledge</a>" in markup


async def test_email_resent_has_the_same_message_id_and_no_link_without_ack_url(
    smtp: SmtpServer,
) -> None:
    notifier = EmailNotifier(email_settings(smtp), FakeClock(NOW))
    page = make_page(ack_url="")
    await notifier.send(page)
    await notifier.send(page)
    await notifier.send(replace(page, key="01JALERT/0.0.0/u-ada/m-1/1"))
    first, again, other = (mail.message for mail in smtp.received)
    assert first["Message-ID"] == again["Message-ID"] != other["Message-ID"]
    assert first["References"] == other["References"]  # one thread per alert
    assert "Acknowledge" not in smtp.received[0].part("text/html")


@pytest.mark.parametrize(
    ("reply", "outcome"),
    [("550 5.1.1 No such user", Outcome.PERMANENT), ("451 4.3.0 Try later", Outcome.RETRYABLE)],
)
async def test_email_refused_recipient(smtp: SmtpServer, reply: str, outcome: Outcome) -> None:
    smtp.refuse["ada@example.com"] = reply
    result = await EmailNotifier(email_settings(smtp), FakeClock(NOW)).send(make_page())
    assert result.outcome is outcome
    assert reply[:3] in result.detail and "smtp-password" not in result.detail
    assert smtp.received == []


async def test_email_bad_password_is_permanent(smtp: SmtpServer) -> None:
    settings = email_settings(smtp, password="wrong-password")
    result = await EmailNotifier(settings, FakeClock(NOW)).send(make_page())
    assert result.outcome is Outcome.PERMANENT
    assert "535" in result.detail and "wrong-password" not in result.detail


async def test_email_server_down_is_retryable() -> None:
    settings = EmailSettings("127.0.0.1", "t@example.com", free_port(), "none")
    result = await EmailNotifier(settings, FakeClock(NOW)).send(make_page())
    assert result.outcome is Outcome.RETRYABLE


async def test_email_starttls_required_but_not_offered_is_permanent(smtp: SmtpServer) -> None:
    settings = email_settings(smtp, security="starttls")
    result = await EmailNotifier(settings, FakeClock(NOW)).send(make_page())
    assert result.outcome is Outcome.PERMANENT
    assert "STARTTLS" in result.detail


async def test_email_to_a_server_with_an_untrusted_certificate_is_permanent() -> None:
    async with SmtpServer(tls=self_signed_tls()) as server:
        settings = email_settings(server, security="ssl", username="", password="")
        result = await EmailNotifier(settings, FakeClock(NOW)).send(make_page())
    assert result.outcome is Outcome.PERMANENT
    assert "certificate refused" in result.detail and server.received == []


# Twilio


@pytest.fixture
async def twilio() -> AsyncIterator[TwilioServer]:
    async with TwilioServer(SID, TOKEN) as server:
        yield server


def twilio_settings(server: TwilioServer | None, **changes: Any) -> TwilioSettings:
    settings = TwilioSettings(
        account_sid=SID,
        auth_token=TOKEN,
        sms_from="+15550001111",
        voice_from="+15550002222",
        base_url=server.url if server else f"http://127.0.0.1:{free_port()}",
        callback_base_url=CALLBACK,
        timeout_seconds=5,
    )
    return replace(settings, **changes)


@pytest.fixture
async def sms(twilio: TwilioServer) -> AsyncIterator[TwilioSmsNotifier]:
    notifier = TwilioSmsNotifier(twilio_settings(twilio))
    yield notifier
    await notifier.close()


async def test_sms_goes_through_twilio_messages(
    twilio: TwilioServer, sms: TwilioSmsNotifier
) -> None:
    page = make_page(channel=Channel.SMS, address="+447700900123")
    result = await sms.send(page)
    assert result.outcome is Outcome.DELIVERED, result.detail
    (form,) = twilio.messages()
    assert form == {
        "To": "+447700900123",
        "From": "+15550001111",
        "Body": "Tocsin #12 P1: Disk full on db-1\nReply '12 ack' to acknowledge",
    }
    assert result.provider_id == twilio.received[0].sid and result.provider_id.startswith("SM")


async def test_a_long_sms_is_cut_to_one_segment_keeping_the_reply_hint(
    twilio: TwilioServer, sms: TwilioSmsNotifier
) -> None:
    long = "Root account used from 203.0.113.9 " + "with console login " * 12
    await sms.send(make_page(channel=Channel.SMS, address="+15550100", message=long))
    body = twilio.messages()[0]["Body"]
    assert is_gsm(body) and gsm_length(body) <= 160
    assert gsm_length(body) >= 150  # cut, not starved
    assert body.startswith("Tocsin #12 P1: Root account used from 203.0.113.9 with")
    assert body.endswith("...\nReply '12 ack' to acknowledge")


def test_sms_text_stays_gsm_when_it_can_and_counts_ucs2_when_it_cannot() -> None:
    typographic = sms_text(
        make_page(message="\u201cDisk\u201d \u2013 full\u2026 on db-1\u2019s {var}")
    )
    assert typographic.startswith('Tocsin #12 P1: "Disk" - full... on db-1\'s {var}\n')
    assert is_gsm(typographic)
    cyrillic = sms_text(make_page(message="Диск заполнен на сервере базы данных " * 4))
    assert not is_gsm(cyrillic) and len(cyrillic) <= 70
    assert cyrillic.endswith("…\nReply '12 ack' to acknowledge")
    extended = sms_text(make_page(message="{[|]}" * 40, reply_hint=""))
    assert gsm_length(extended) <= 160 < len(extended) * 2


@pytest.mark.parametrize(
    ("code", "words"), [(21211, "invalid 'To' number"), (21610, "unsubscribed")]
)
async def test_sms_to_a_bad_number_is_permanent(
    twilio: TwilioServer, sms: TwilioSmsNotifier, code: int, words: str
) -> None:
    twilio.refuse["+15550199"] = code
    result = await sms.send(make_page(channel=Channel.SMS, address="+15550199"))
    assert result.outcome is Outcome.PERMANENT
    assert f"error {code}" in result.detail and words in result.detail


@pytest.mark.parametrize(("status", "code"), [(503, 20500), (429, 20429)])
async def test_sms_when_twilio_struggles_is_retryable(
    twilio: TwilioServer, sms: TwilioSmsNotifier, status: int, code: int
) -> None:
    twilio.fail_next(status, code)
    result = await sms.send(make_page(channel=Channel.SMS, address="+15550100"))
    assert result.outcome is Outcome.RETRYABLE and f"Twilio {status}" in result.detail
    assert (await sms.send(make_page(channel=Channel.SMS, address="+15550100"))).outcome is (
        Outcome.DELIVERED
    )


async def test_sms_with_a_wrong_auth_token_is_permanent_and_never_shows_it(
    twilio: TwilioServer,
) -> None:
    notifier = TwilioSmsNotifier(twilio_settings(twilio, auth_token="not-the-token"))
    result = await notifier.send(make_page(channel=Channel.SMS, address="+15550100"))
    assert result.outcome is Outcome.PERMANENT and "401" in result.detail
    assert "not-the-token" not in result.detail
    await notifier.close()


async def test_sms_when_twilio_is_unreachable_is_retryable() -> None:
    notifier = TwilioSmsNotifier(twilio_settings(None))
    result = await notifier.send(make_page(channel=Channel.SMS, address="+15550100"))
    assert result.outcome is Outcome.RETRYABLE and "unreachable" in result.detail
    await notifier.close()


async def test_a_providers_own_timeout_is_capped_at_the_engines_longest_call() -> None:
    """The Twilio SDK blocks in a thread, which goes on after the engine stops waiting: only
    its own timeout, capped, ends the call before another engine may send the page again."""

    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # until the client gives up and closes
        writer.close()

    silent = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    settings = NotifySettings(
        twilio=twilio_settings(None, base_url=f"http://127.0.0.1:{port}", timeout_seconds=15)
    )
    try:
        built = notifiers(settings, FakeClock(), longest_call=0.5)
        started = time.monotonic()
        async with asyncio.timeout(5):  # well short of the configured 15 s
            result = await built.by_channel[Channel.SMS].send(
                make_page(channel=Channel.SMS, address="+15550100")
            )
        await built.close()
    finally:
        silent.close()
    assert result.outcome is Outcome.RETRYABLE
    assert time.monotonic() - started < 3


async def test_a_call_reads_the_alert_and_gathers_one_key(twilio: TwilioServer) -> None:
    notifier = TwilioVoiceNotifier(twilio_settings(twilio))
    page = make_page(channel=Channel.VOICE, address="+15550100")
    result = await notifier.send(page)
    await notifier.close()
    assert result.outcome is Outcome.DELIVERED and result.provider_id.startswith("CA")
    (form,) = twilio.calls()
    assert (form["To"], form["From"]) == ("+15550100", "+15550002222")
    root = ET.fromstring(form["Twiml"])
    gathers = root.findall("Gather")
    assert len(gathers) == 2
    gather = gathers[0]
    assert gather.get("numDigits") == "1" and gather.get("method") == "POST"
    action = urlsplit(gather.get("action", ""))
    assert f"{action.scheme}://{action.netloc}{action.path}" == f"{CALLBACK}/v1/twilio/voice"
    assert parse_qs(action.query) == {"alert": ["01JALERT"], "key": [page.key]}
    said = gather.findtext("Say")
    assert said == (
        "Tocsin alert 12, priority 1: Disk full on db-1. Press 4 to acknowledge, 5 to escalate"
        " to the next responder, 6 to close, any other key to repeat."
    )
    assert form["Twiml"] == voice_twiml(page, gather.get("action", ""))  # the edge can re-serve it


def test_voice_twiml_without_a_callback_offers_no_keys() -> None:
    root = ET.fromstring(voice_twiml(make_page(message="Disk full."), ""))
    assert root.findall("Gather") == []
    assert root.findall("Say")[0].text == ("Tocsin alert 12, priority 1: Disk full.")


async def test_calls_are_classified_like_messages(twilio: TwilioServer) -> None:
    notifier = TwilioVoiceNotifier(twilio_settings(twilio))
    twilio.refuse["+15550199"] = 21211
    bad = await notifier.send(make_page(channel=Channel.VOICE, address="+15550199"))
    twilio.fail_next(500, 20500)
    down = await notifier.send(make_page(channel=Channel.VOICE, address="+15550100"))
    await notifier.close()
    assert (bad.outcome, down.outcome) == (Outcome.PERMANENT, Outcome.RETRYABLE)


# FCM


@pytest.fixture
async def fcm() -> AsyncIterator[FcmServer]:
    async with FcmServer("tocsin-test") as server:
        yield server


@pytest.fixture
async def push(fcm: FcmServer, tmp_path: Path) -> AsyncIterator[FcmNotifier]:
    notifier = FcmNotifier(fcm_settings(fcm, tmp_path))
    yield notifier
    await notifier.close()


def fcm_settings(server: FcmServer, tmp_path: Path, **changes: Any) -> FcmSettings:
    settings = FcmSettings(
        project_id=server.project_id,
        credentials_file=server.service_account(tmp_path / "service-account.json"),
        base_url=server.url,
        timeout_seconds=5,
    )
    return replace(settings, **changes)


async def test_push_goes_through_fcm_with_android_and_apns_settings(
    fcm: FcmServer, push: FcmNotifier
) -> None:
    result = await push.send(make_page(channel=Channel.PUSH, address=FID))
    assert result == replace(result, outcome=Outcome.DELIVERED)
    assert result.provider_id == "projects/tocsin-test/messages/1"
    (sent,) = fcm.received
    message = sent.message
    assert message["fid"] == FID and "token" not in message
    assert message["notification"]["title"] == "[P1] #12 Disk full on db-1"
    assert message["notification"]["body"].startswith("ops · db-1 · CloudWatch\n/var is at 98%")
    assert message["data"] == {
        "alert_id": "01JALERT",
        "tiny_id": "12",
        "priority": "P1",
        "team": "ops",
        "page_key": "01JALERT/0.0.0/u-ada/m-1/0",
        "action": "acknowledge",
    }
    assert message["android"]["priority"] == "high"
    assert message["apns"]["headers"] == {"apns-priority": "10"}
    aps = message["apns"]["payload"]["aps"]
    assert (aps["category"], aps["sound"]) == ("TOCSIN_ALERT", "default")
    assert aps["alert"]["title"] == "[P1] #12 Disk full on db-1"
    assert len(fcm.tokens_issued) == 1  # the SDK signed in with the generated key


async def test_push_to_a_registration_token_sends_it_as_a_token(
    fcm: FcmServer, push: FcmNotifier
) -> None:
    token = f"{FID}:APA91bHun4MxP5egoKMwt2KZFBaFUH-1RYqx"
    result = await push.send(make_page(channel=Channel.PUSH, address=token))
    assert result.outcome is Outcome.DELIVERED
    assert fcm.received[0].message["token"] == token and "fid" not in fcm.received[0].message


async def test_push_to_an_unregistered_token_is_permanent(
    fcm: FcmServer, push: FcmNotifier
) -> None:
    fcm.unregistered.add("stale-token")
    result = await push.send(make_page(channel=Channel.PUSH, address="stale-token"))
    assert result.outcome is Outcome.PERMANENT and "UNREGISTERED" in result.detail


@pytest.mark.parametrize(
    ("status", "error", "code", "outcome"),
    [
        (503, "UNAVAILABLE", "UNAVAILABLE", Outcome.RETRYABLE),
        (500, "INTERNAL", "INTERNAL", Outcome.RETRYABLE),
        (429, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED", Outcome.RETRYABLE),
        (400, "INVALID_ARGUMENT", "INVALID_ARGUMENT", Outcome.PERMANENT),
        (403, "PERMISSION_DENIED", "SENDER_ID_MISMATCH", Outcome.PERMANENT),
    ],
)
async def test_push_errors_are_classified_and_not_retried_by_the_sdk(
    fcm: FcmServer, push: FcmNotifier, status: int, error: str, code: str, outcome: Outcome
) -> None:
    fcm.fail_next(status, error, code)
    started = time.monotonic()
    result = await push.send(make_page(channel=Channel.PUSH, address=FID))
    assert result.outcome is outcome and str(status) in result.detail
    assert len(fcm.received) == 1 and time.monotonic() - started < 2


async def test_push_with_a_refused_service_account_is_permanent(
    fcm: FcmServer, tmp_path: Path
) -> None:
    settings = fcm_settings(fcm, tmp_path)
    impostor = FcmServer(fcm.project_id)  # another key, never started: only its file is used
    account = json.loads(impostor.service_account(tmp_path / "other.json").read_text())
    account["token_uri"] = f"{fcm.url}/token"
    settings.credentials_file.write_text(json.dumps(account))
    notifier = FcmNotifier(settings)
    result = await notifier.send(make_page(channel=Channel.PUSH, address=FID))
    await notifier.close()
    assert result.outcome is Outcome.PERMANENT and "access token" in result.detail
    assert "PRIVATE KEY" not in result.detail and fcm.received == []


async def test_push_when_fcm_is_unreachable_is_retryable(fcm: FcmServer, tmp_path: Path) -> None:
    notifier = FcmNotifier(fcm_settings(fcm, tmp_path, base_url=f"http://127.0.0.1:{free_port()}"))
    result = await notifier.send(make_page(channel=Channel.PUSH, address=FID))
    await notifier.close()
    assert result.outcome is Outcome.RETRYABLE


# Webhook


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    async with WebhookReceiver(SECRET) as server:
        yield server


# The receivers listen on loopback, which pages may reach only when it is listed.
LOOPBACK = (ip_network("127.0.0.1/32"),)


@contextlib.asynccontextmanager
async def webhook(
    secret: str = SECRET, allow_http: bool = True, allow_private: tuple[Allowed, ...] = LOOPBACK
) -> AsyncIterator[WebhookNotifier]:
    settings = WebhookSettings(secret, 1, allow_http, allow_private)
    notifier = WebhookNotifier(settings, FakeClock(NOW))
    try:
        yield notifier
    finally:
        await notifier.close()


async def test_webhook_posts_signed_json_without_the_address(receiver: WebhookReceiver) -> None:
    address = f"{receiver.url}/hooks/tocsin?token=receiver-own-token"
    async with webhook() as hook:
        result = await hook.send(make_page(address=address))
    assert result.outcome is Outcome.DELIVERED and result.provider_id == "req-1"
    (hook_received,) = receiver.received
    assert hook_received.signature_valid and hook_received.path == "/hooks/tocsin"
    assert hook_received.headers["X-Tocsin-Timestamp"] == str(int(NOW.timestamp()))
    assert hook_received.headers["Idempotency-Key"] == "01JALERT/0.0.0/u-ada/m-1/0"
    assert hook_received.headers["Content-Type"] == "application/json"
    body = hook_received.json()
    assert body["sent_at"] == int(NOW.timestamp())  # signed, unlike the header
    assert (body["alert_id"], body["tiny_id"], body["message"]) == (
        "01JALERT",
        12,
        "Disk full on db-1",
    )
    assert body["details"] == {"region": "eu-west-1", "threshold": "95"}
    assert "receiver-own-token" not in hook_received.body.decode() and "address" not in body
    assert "receiver-own-token" not in result.detail


@pytest.mark.parametrize(
    ("status", "outcome"),
    [(500, Outcome.RETRYABLE), (429, Outcome.RETRYABLE), (404, Outcome.PERMANENT)],
)
async def test_webhook_answers_are_classified(
    receiver: WebhookReceiver, status: int, outcome: Outcome
) -> None:
    receiver.fail_next(status)
    async with webhook() as hook:
        result = await hook.send(make_page(address=f"{receiver.url}/hook"))
    assert result.outcome is outcome and f"HTTP {status}" in result.detail


async def test_webhook_signed_with_another_secret_is_refused_for_good(
    receiver: WebhookReceiver,
) -> None:
    async with webhook("some-other-secret-value") as hook:
        result = await hook.send(make_page(address=f"{receiver.url}/hook"))
    assert result.outcome is Outcome.PERMANENT and "HTTP 401" in result.detail
    assert not receiver.received[0].signature_valid


async def test_webhook_needs_https_unless_allowed(receiver: WebhookReceiver) -> None:
    async with webhook(allow_http=False) as strict:
        result = await strict.send(make_page(address=f"{receiver.url}/hook"))
    assert result.outcome is Outcome.PERMANENT and "https" in result.detail
    assert "notifications.webhook.allow_http" in result.detail
    assert receiver.received == []


@pytest.mark.parametrize(
    ("host", "words"),
    [
        ("127.0.0.1", "(loopback); list it in notifications.webhook.allow_private"),
        # A name is refused on what it resolves to at the send, whatever it was before.
        ("localhost", "localhost (127.0.0.1) is an internal address (loopback)"),
        ("0x7f.1", "(127.0.0.1) is an internal address"),  # an old numeric form
        ("[::ffff:127.0.0.1]", "(loopback)"),  # IPv4-mapped
        ("[::1]", "(loopback)"),
        ("2130706433", "not a valid URL"),  # 127.0.0.1 as one number
    ],
)
async def test_webhook_never_connects_to_an_internal_address_unless_listed(
    receiver: WebhookReceiver, host: str, words: str
) -> None:
    port = urlsplit(receiver.url).port
    async with webhook(allow_private=()) as strict:
        result = await strict.send(make_page(address=f"http://{host}:{port}/hook?t=secret"))
    assert result.outcome is Outcome.PERMANENT and words in result.detail, result.detail
    assert "secret" not in result.detail
    assert receiver.received == []


async def test_webhook_to_a_listed_host_name_is_sent(receiver: WebhookReceiver) -> None:
    port = urlsplit(receiver.url).port
    async with webhook(allow_private=("localhost",)) as hook:
        named = await hook.send(make_page(address=f"http://localhost:{port}/hook"))
        # The name is listed, not its address: the address alone stays refused.
        literal = await hook.send(make_page(address=f"{receiver.url}/hook"))
    assert named.outcome is Outcome.DELIVERED, named.detail
    assert literal.outcome is Outcome.PERMANENT and "loopback" in literal.detail
    assert len(receiver.received) == 1


async def test_webhook_unreachable_or_silent_is_retryable() -> None:
    async with webhook() as hook:
        refused = await hook.send(make_page(address=f"http://127.0.0.1:{free_port()}/"))

        async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.read()  # holds the connection open without a reply

        server = await asyncio.start_server(never_answer, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            silent = await hook.send(make_page(address=f"http://127.0.0.1:{port}/"))
            server.close()
    assert (refused.outcome, silent.outcome) == (Outcome.RETRYABLE, Outcome.RETRYABLE)
    assert "timed out" in silent.detail


# Settings

FULL: dict[str, dict[str, Any]] = {
    "smtp": {
        "host": "smtp.example.com",
        "security": "ssl",
        "username": "tocsin",
        "from_address": "Tocsin <tocsin@example.com>",
    },
    "twilio": {"account_sid": SID, "sms_from": "+15550001111", "voice_from": "+15550002222"},
    "webhook": {"timeout_seconds": 3},
}
SECRETS = {
    "TOCSIN_SMTP_PASSWORD": "smtp-password",
    "TOCSIN_TWILIO_AUTH_TOKEN": TOKEN,
    "TOCSIN_WEBHOOK_SECRET": SECRET,
}


def test_settings_read_the_file_and_secrets_from_the_environment(tmp_path: Path) -> None:
    fcm = FcmServer("from-the-file")
    key_file = fcm.service_account(tmp_path / "sa.json")
    env = {**SECRETS, "GOOGLE_APPLICATION_CREDENTIALS": str(key_file), "TOCSIN_SMTP_PORT": "2465"}
    settings = settings_from({**FULL, "fcm": {}}, env, public_url="https://tocsin.example.com/")
    assert settings.email == EmailSettings(
        host="smtp.example.com",
        from_address="Tocsin <tocsin@example.com>",
        port=2465,  # the environment beats the file and the default for ssl (465)
        security="ssl",
        username="tocsin",
        password="smtp-password",
    )
    assert settings.twilio == TwilioSettings(
        account_sid=SID,
        auth_token=TOKEN,
        sms_from="+15550001111",
        voice_from="+15550002222",
        callback_base_url="https://tocsin.example.com",
    )
    assert settings.fcm == FcmSettings(project_id="from-the-file", credentials_file=key_file)
    assert settings.webhook == WebhookSettings(SECRET, timeout_seconds=3.0)
    assert "smtp-password" not in repr(settings) and TOKEN not in repr(settings)


def test_webhook_allow_private_lists_networks_addresses_and_hosts() -> None:
    section = {"webhook": {"allow_http": True, "allow_private": ["10.0.0.0/8", "::1", "Hooks."]}}
    settings = settings_from(section, SECRETS).webhook
    assert settings is not None
    assert settings.rule == WebhookRule(
        True, (ip_network("10.0.0.0/8"), ip_network("::1/128"), "hooks")
    )
    from_env = settings_from(
        {}, {**SECRETS, "TOCSIN_WEBHOOK_ALLOW_PRIVATE": "127.0.0.1, hooks.internal"}
    )
    assert from_env.webhook_rule.allow_private == (ip_network("127.0.0.1/32"), "hooks.internal")
    assert settings_from({}, {}).webhook_rule == WebhookRule()  # https only, nothing internal


async def test_no_settings_means_console_everywhere_and_no_webhook() -> None:
    assert settings_from(None, {}) == NotifySettings()
    built = notifiers(NotifySettings(), FakeClock())
    assert set(built.by_channel) == set(Channel) and built.webhook is None
    assert all(isinstance(n, ConsoleNotifier) for n in built.by_channel.values())


async def test_notifiers_use_each_configured_provider(tmp_path: Path) -> None:
    fcm = FcmServer()
    env = {**SECRETS, "TOCSIN_FCM_CREDENTIALS_FILE": str(fcm.service_account(tmp_path / "k"))}
    settings = settings_from(
        {**FULL, "twilio": {"account_sid": SID, "sms_from": "+1555000111"}}, env
    )
    built = notifiers(settings, FakeClock())
    kinds = {channel: type(n) for channel, n in built.by_channel.items()}
    assert kinds == {
        Channel.EMAIL: EmailNotifier,
        Channel.SMS: TwilioSmsNotifier,
        Channel.VOICE: ConsoleNotifier,  # no voice_from
        Channel.PUSH: FcmNotifier,
        Channel.WEBHOOK: WebhookNotifier,
    }
    assert built.by_channel[Channel.WEBHOOK] is built.webhook
    await built.close()


@pytest.mark.parametrize(
    ("section", "env", "key", "words"),
    [
        ({"smtp": {"password": "x"}}, {}, "notifications.smtp.password", "TOCSIN_SMTP_PASSWORD"),
        (
            {"twilio": {"auth_token": "x"}},
            {},
            "notifications.twilio.auth_token",
            "TOCSIN_TWILIO_AUTH_TOKEN",
        ),
        ({"webhook": {"secret": "x"}}, {}, "notifications.webhook.secret", "TOCSIN_WEBHOOK_SECRET"),
        ({"fcm": {"private_key": "x"}}, {}, "notifications.fcm.private_key", "credentials_file"),
        ({"pager": {}}, {}, "notifications.pager", "unknown provider"),
        ({"smtp": {"hostname": "x"}}, {}, "notifications.smtp.hostname", "unknown key"),
        ({"smtp": "smtp.example.com"}, {}, "notifications.smtp", "mapping"),
        ({"smtp": {"from_address": "t@example.com"}}, {}, "notifications.smtp.host", "required"),
        (
            {"smtp": {**FULL["smtp"], "security": "tls"}},
            SECRETS,
            "notifications.smtp.security",
            "starttls, ssl, none",
        ),
        (
            {"smtp": {**FULL["smtp"], "from_address": "nobody"}},
            SECRETS,
            "notifications.smtp.from_address",
            "email address",
        ),
        ({"smtp": FULL["smtp"]}, {}, "notifications.smtp.password", "TOCSIN_SMTP_PASSWORD"),
        (
            {"smtp": FULL["smtp"]},
            {**SECRETS, "TOCSIN_SMTP_PORT": "smtp"},
            "notifications.smtp.port",
            "TOCSIN_SMTP_PORT",
        ),
        ({"twilio": FULL["twilio"]}, {}, "notifications.twilio.auth_token", "required"),
        (
            {"twilio": {**FULL["twilio"], "sms_from": "555-0100"}},
            SECRETS,
            "notifications.twilio.sms_from",
            "E.164",
        ),
        ({"twilio": {"account_sid": "AC1"}}, SECRETS, "notifications.twilio.account_sid", "SID"),
        (
            {"twilio": {**FULL["twilio"], "base_url": "api.example.com"}},
            SECRETS,
            "notifications.twilio.base_url",
            "http(s) URL",
        ),
        (
            {"webhook": {"timeout_seconds": 0}},
            SECRETS,
            "notifications.webhook.timeout_seconds",
            "above 0",
        ),
        (
            {"webhook": {"allow_http": "sometimes"}},
            SECRETS,
            "notifications.webhook.allow_http",
            "true or false",
        ),
        ({"webhook": {}}, {}, "notifications.webhook.secret", "TOCSIN_WEBHOOK_SECRET"),
        (
            {"webhook": {"allow_private": "10.0.0.0/8"}},
            {**SECRETS, "TOCSIN_WEBHOOK_ALLOW_PRIVATE": "10.0.0.1/8"},
            "notifications.webhook.allow_private",
            "host bits set",
        ),
        (
            {"webhook": {"allow_private": [10]}},
            SECRETS,
            "notifications.webhook.allow_private",
            "list of networks",
        ),
        (
            {"webhook": {"allow_private": ["hooks internal"]}},
            SECRETS,
            "notifications.webhook.allow_private",
            "host name",
        ),
        ({}, {"TOCSIN_WEBHOOK_SECRET": "short"}, "notifications.webhook.secret", "at least 16"),
        ({"fcm": {}}, {}, "notifications.fcm.credentials_file", "GOOGLE_APPLICATION_CREDENTIALS"),
        (
            {"fcm": {"credentials_file": "/nonexistent/sa.json"}},
            {},
            "notifications.fcm.credentials_file",
            "cannot read",
        ),
    ],
)
def test_bad_settings_name_the_key(
    section: dict[str, Any], env: dict[str, str], key: str, words: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        settings_from(section, env, source="tocsin.yaml")
    assert caught.value.key == key
    assert words in str(caught.value)
