"""Answers to pages through `tocsin serve`'s HTTP edge: acknowledge links from emails, SMS
replies and keys pressed on a call, signed as Twilio signs them, with the fake clock and a
fake notifier behind the engine."""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import aiohttp
import grpc
import pytest
from aiohttp.test_utils import TestServer
from prometheus_client import CollectorRegistry
from twilio.request_validator import RequestValidator
from yarl import URL

from adapters.registry import NotifySettings
from adapters.twilio.settings import TwilioSettings
from adapters.twilio.voice import action_url
from clients.client import TocsinClient, parse_ref
from edge.answers import GrpcAnswers
from edge.shim import GrpcCalendars, GrpcIngest, Shim
from edge.sns.config import SnsConfig
from service.alerts.model import Alert, NewAlert, Status
from service.answers import links
from service.answers.replies import SMS_HELP, parse_sms
from service.core.errors import PermissionDenied, StartupError, Unauthenticated
from service.escalation.usecases import EscalationRuleSpec, PolicySpec, RoutingSpec
from service.paging.notifier import Notification
from service.paging.planning import PageState
from service.people.model import Channel, NotificationRule, NotificationStep
from tests.conftest import Running, serving
from tests.databases import BACKENDS
from tests.fakes import FakeClock, FakeNotifier

SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "twilio-auth-token-for-tests"
ALICE_PHONE = "+14155550101"
BOB_PHONE = "+14155550102"
MINUTE = timedelta(minutes=1)


@dataclass
class World:
    running: Running
    client: TocsinClient
    notifier: FakeNotifier
    http: aiohttp.ClientSession

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.running.server.http_port}"

    async def tick(self, after: timedelta = timedelta()) -> list[Notification]:
        """Moves the clock on, ticks, and returns the pages sent in that tick."""
        self.running.clock.advance(after)
        before = len(self.notifier.pages)
        await self.running.server.engine.tick()
        return self.notifier.pages[before:]

    async def fire(self, message: str = "Disk full", team: str = "") -> Alert:
        return (await self.client.create_alert(NewAlert(message=message, owner_team=team))).alert

    async def alert(self, alert: Alert) -> Alert:
        return await self.client.get_alert(parse_ref(str(alert.tiny_id)))

    async def activity(self, alert: Alert) -> list[tuple[str, str, str]]:
        entries = (await self.client.activity(parse_ref(str(alert.tiny_id)))).items
        return [(e.actor, e.action, e.note) for e in entries]

    async def twilio(
        self, url: str, fields: Mapping[str, str], signature: str | None = None
    ) -> tuple[int, str]:
        """POSTs a form as Twilio does, signed unless `signature` is given."""
        if signature is None:
            signature = RequestValidator(AUTH_TOKEN).compute_signature(url, dict(fields))
        headers = {"X-Twilio-Signature": signature} if signature else {}
        # encoded=True: the request line carries the URL exactly as it was signed.
        async with self.http.post(URL(url, encoded=True), data=fields, headers=headers) as reply:
            return reply.status, await reply.text()

    async def sms(self, body: str, sender: str = ALICE_PHONE, sid: str = "") -> str:
        fields = {"From": sender, "Body": body}
        if sid:
            fields["MessageSid"] = sid
        status, text = await self.twilio(f"{self.base}/v1/twilio/sms", fields)
        assert status == 200, text
        return text

    async def press(self, page: Notification, digits: str, call: str = "") -> str:
        """Presses a key, in the call `call` (by default a new call's: a key that acts ends
        its call, so two presses that act are two calls)."""
        call = call or "CA" + uuid.uuid4().hex
        fields = {"Digits": digits, "From": page.address, "CallSid": call}
        status, text = await self.twilio(action_url(self.base, page), fields)
        assert status == 200, text
        return text


@pytest.fixture
async def world(tmp_path: Path, clock: FakeClock) -> AsyncIterator[World]:
    async with making_world(tmp_path, clock, "sqlite") as world:
        yield world


@pytest.fixture(params=BACKENDS)
async def world_on(
    request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock
) -> AsyncIterator[World]:
    """The world on each backend, for what concurrency could break on either."""
    async with making_world(tmp_path, clock, request.param) as world:
        yield world


@contextlib.asynccontextmanager
async def making_world(tmp_path: Path, clock: FakeClock, backend: str) -> AsyncIterator[World]:
    notifier = FakeNotifier()
    twilio = TwilioSettings(SID, AUTH_TOKEN, "+15550001111", "+15550002222")
    async with (
        serving(
            tmp_path,
            clock,
            notifiers=dict.fromkeys(Channel, notifier),
            notifications=NotifySettings(twilio=twilio),
            backend=backend,
        ) as running,
        running.client() as client,
        aiohttp.ClientSession() as http,
    ):
        await client.create_user("alice")
        await client.add_contact_method("alice", "email", "alice@example.com")
        await client.add_contact_method("alice", "sms", ALICE_PHONE)
        await client.set_team_member("default", "alice")  # paged for alerts of no team
        yield World(running, client, notifier, http)


async def email_link(world: World, message: str = "Disk full") -> tuple[Alert, str]:
    alert = await world.fire(message)
    (page,) = [p for p in await world.tick() if p.alert_id == alert.id]
    assert page.channel is Channel.EMAIL
    return alert, page.ack_url


async def test_an_email_link_asks_first_and_acknowledges_once_on_post(world: World) -> None:
    alert, url = await email_link(world)
    assert url.startswith(f"{world.base}/v1/links/")

    async with world.http.get(url) as reply:
        assert reply.status == 200
        assert reply.headers["Cache-Control"] == "no-store"
        page = await reply.text()
    assert f"Acknowledge alert #{alert.tiny_id}?" in page and "Disk full" in page
    assert "as <strong>alice</strong>" in page and "<form method='post'>" in page
    # Opening the link, as a mail scanner would, changes nothing.
    assert not (await world.alert(alert)).acknowledged
    assert ("alice", "acknowledged", "") not in await world.activity(alert)

    async with world.http.post(url) as reply:
        assert reply.status == 200
        assert f"Acknowledged alert #{alert.tiny_id}" in await reply.text()
    acknowledged = await world.alert(alert)
    assert acknowledged.acknowledged and acknowledged.acknowledged_by == "alice"
    assert ("alice", "acknowledged", "") in await world.activity(alert)
    # The SMS due a minute in is cancelled, and nothing more is sent.
    pages = await world.client.list_pages(str(alert.tiny_id))
    assert [(p.channel, p.state) for p in pages] == [
        (Channel.EMAIL, PageState.DELIVERED),
        (Channel.SMS, PageState.CANCELLED),
    ]
    assert await world.tick(10 * MINUTE) == []

    # Used once, the link is refused, to look at and to post.
    for method in ("GET", "POST"):
        async with world.http.request(method, url) as reply:
            assert reply.status == 403
            assert "used already" in await reply.text()


async def test_concurrent_posts_of_one_link_acknowledge_once(world_on: World) -> None:
    """Twenty posts of one link at once: one acknowledges, the others are told it was used."""
    world = world_on
    alert, url = await email_link(world)

    async def post() -> tuple[int, str]:
        async with world.http.post(url) as reply:
            return reply.status, await reply.text()

    answers = await asyncio.gather(*(post() for _ in range(20)))
    statuses = sorted(status for status, _ in answers)
    assert statuses == [200] + [403] * 19, statuses
    assert all("used already" in text for status, text in answers if status == 403)
    acknowledgements = [a for a in await world.activity(alert) if a[1] == "acknowledged"]
    assert acknowledgements == [("alice", "acknowledged", "")]


async def test_tampered_foreign_and_expired_links_are_refused(world: World) -> None:
    alert, url = await email_link(world)
    token = url.rsplit("/", 1)[1]
    payload, signature = token.split(".")
    claim = links.verify(
        links.ensure_secret(world.running.data_dir, {}), token, links.ACKNOWLEDGE,
        world.running.clock.now(),
    )  # fmt: skip
    secret_file = world.running.data_dir / links.SECRET_FILE
    assert stat.S_IMODE(os.stat(secret_file).st_mode) == 0o600
    secret = links.ensure_secret(world.running.data_dir, {})
    later = claim.expires_at + timedelta(days=30)
    forged = {
        # Another alert's id, or a later expiry, under the old signature.
        "tampered": links.sign(
            secret, links.Claim("acknowledge", "other", claim.user_id, later)
        ).split(".")[0]
        + "."
        + signature,
        "signed elsewhere": links.sign(b"x" * 32, claim),
        "another purpose": links.sign(secret, links.Claim("close", alert.id, claim.user_id, later)),
        "cut short": payload,
        "junk": "not-a-token",
    }
    for case, bad in forged.items():
        for method in ("GET", "POST"):
            async with world.http.request(method, f"{world.base}/v1/links/{bad}") as reply:
                assert reply.status == 403, case
                text = await reply.text()
            reason = "for something else" if case == "another purpose" else "damaged"
            assert reason in text, case
    assert not (await world.alert(alert)).acknowledged

    world.running.clock.advance(timedelta(hours=24, seconds=1))
    async with world.http.post(url) as reply:
        assert reply.status == 403
        assert "expired" in await reply.text()
    assert not (await world.alert(alert)).acknowledged


async def test_a_link_to_a_closed_alert_says_so(world: World) -> None:
    alert, url = await email_link(world)
    await world.client.close_alert(parse_ref(str(alert.tiny_id)), user="bob")
    async with world.http.get(url) as reply:
        assert reply.status == 200
        page = await reply.text()
    assert "is closed" in page and "<form" not in page
    async with world.http.post(url) as reply:
        assert reply.status == 409
        assert "closed" in await reply.text()


async def test_a_link_secret_from_the_environment_is_shared_and_checked(tmp_path: Path) -> None:
    shared = "s" * 40
    assert links.ensure_secret(tmp_path / "a", {links.SECRET_ENV: shared}) == shared.encode()
    assert not (tmp_path / "a" / links.SECRET_FILE).exists()
    with pytest.raises(StartupError, match="at least 32 characters"):
        links.ensure_secret(tmp_path, {links.SECRET_ENV: "short"})
    made = links.ensure_secret(tmp_path / "b", {})
    assert len(made) == 32 and links.ensure_secret(tmp_path / "b", {}) == made


async def test_an_sms_reply_acknowledges_as_the_user_and_answers(world: World) -> None:
    alert = await world.fire()
    await world.tick()
    reply = await world.sms(f"{alert.tiny_id} ack")
    assert reply == (
        '<?xml version="1.0" encoding="UTF-8"?><Response>'
        f"<Message>Acknowledged #{alert.tiny_id}: Disk full</Message></Response>"
    )
    acknowledged = await world.alert(alert)
    assert acknowledged.acknowledged_by == "alice"
    assert ("alice", "acknowledged", "") in await world.activity(alert)
    assert await world.tick(10 * MINUTE) == []  # the SMS due a minute in never goes
    assert "was already acknowledged" in await world.sms(f"ACK #{alert.tiny_id}")

    other = await world.fire("CPU hot")
    assert f"Closed #{other.tiny_id}: CPU hot" in await world.sms(f"{other.tiny_id} Close")
    assert (await world.alert(other)).closed_by == "alice"
    assert "no alert #999" in await world.sms("999 ack")
    assert "closed, so it cannot be acknowledged" in await world.sms(f"ack {other.tiny_id}")
    assert f"#{other.tiny_id} unchanged: alert {other.tiny_id} is closed" in await world.sms(
        f"esc {other.tiny_id}", sid="SM3"
    )


async def test_a_replayed_sms_gets_its_first_answer_and_acts_no_more(world: World) -> None:
    alert = await world.fire()
    await world.tick()
    sid = "SM" + "1" * 32
    first = await world.sms(f"{alert.tiny_id} ack", sid=sid)
    assert f"Acknowledged #{alert.tiny_id}" in first
    await world.client.unacknowledge(parse_ref(str(alert.tiny_id)), user="bob")
    # The same signed request again, byte for byte: the first answer, and no acknowledgement.
    assert await world.sms(f"{alert.tiny_id} ack", sid=sid) == first
    assert not (await world.alert(alert)).acknowledged
    assert [a for a in await world.activity(alert) if a[1] == "acknowledged"] == [
        ("alice", "acknowledged", "")
    ]
    # Another message (another MessageSid) acts.
    assert f"Acknowledged #{alert.tiny_id}" in await world.sms(f"{alert.tiny_id} ack", sid="SM2")
    assert (await world.alert(alert)).acknowledged

    # Ids are kept a day, past any retry of Twilio's: the next answer after that prunes them.
    store = world.running.server.store

    async def kept() -> list[str]:
        return await store._read(
            lambda conn: [r["sid"] for r in conn.execute("SELECT sid FROM twilio_answers")]
        )

    assert sorted(await kept()) == sorted(["SM2", sid])
    world.running.clock.advance(timedelta(hours=24, seconds=1))
    await world.sms(f"{alert.tiny_id} close", sid="SM3")
    assert await kept() == ["SM3"]


async def test_sms_replies_act_only_on_alerts_of_the_senders_pages_or_teams(
    world: World,
) -> None:
    """Tiny ids are easy to guess: someone else's alert is answered as no alert at all."""
    await world.client.create_team("ops")
    await world.client.create_user("bob")
    await world.client.add_contact_method("bob", "sms", BOB_PHONE)
    await world.client.create_user("dave")
    await world.client.create_policy(
        PolicySpec(
            "ops-policy", team="ops", rules=(EscalationRuleSpec(timedelta(), (("user", "dave"),)),)
        )
    )
    await world.client.set_routing(RoutingSpec("ops", default_policy="ops-policy"))
    ops = await world.fire("Database down", team="ops")
    await world.tick()
    unknown = f"<Message>Tocsin: there is no alert #{ops.tiny_id}.</Message>"
    assert unknown in await world.sms(f"{ops.tiny_id} close", sender=BOB_PHONE)
    assert unknown in await world.sms(f"{ops.tiny_id} ack", sender=ALICE_PHONE)
    assert (await world.alert(ops)).status is Status.OPEN
    assert not (await world.alert(ops)).acknowledged
    # A member of the alert's team may act on it.
    await world.client.set_team_member("ops", "bob")
    assert f"Acknowledged #{ops.tiny_id}" in await world.sms(f"{ops.tiny_id} ack", BOB_PHONE)
    # And so may someone paged for it who is in none of its teams: alice, paged below.
    default_alert = await world.fire("Disk full")
    await world.tick()
    await world.client.remove_team_member("default", "alice")
    assert any(
        p.username == "alice" for p in await world.client.list_pages(str(default_alert.tiny_id))
    )
    assert f"Closed #{default_alert.tiny_id}" in await world.sms(f"{default_alert.tiny_id} close")


async def test_sms_help_refusals_and_signatures(world: World) -> None:
    alert = await world.fire()
    assert SMS_HELP in await world.sms("what is this")
    assert "belongs to no Tocsin user" in await world.sms(f"{alert.tiny_id} ack", "+15550009999")
    url = f"{world.base}/v1/twilio/sms"
    fields = {"From": ALICE_PHONE, "Body": f"{alert.tiny_id} ack"}
    good = RequestValidator(AUTH_TOKEN).compute_signature(url, fields)
    refused = [
        RequestValidator("another-token").compute_signature(url, fields),  # not our account
        RequestValidator(AUTH_TOKEN).compute_signature(url, {**fields, "Body": "1 close"}),
        "",  # none at all
    ]
    for signature in refused:
        status, _ = await world.twilio(url, fields, signature)
        assert status == 403
    # Signed for another URL: a request replayed to this one does not pass.
    status, _ = await world.twilio(url + "?x=1", fields, good)
    assert status == 403
    assert not (await world.alert(alert)).acknowledged


def test_sms_commands_are_read_in_either_order_and_any_case() -> None:
    assert [parse_sms(text) for text in ("12 ACK", "ack #12", " 12 esc. ")] == [
        parse_sms("12 acknowledge"),
        parse_sms("12 ack"),
        parse_sms("escalate 12"),
    ]
    assert all(parse_sms(text) is None for text in ("12", "ack", "12 snooze", "0 ack", "12 ack x"))


async def test_without_twilio_its_routes_are_not_found(running: Running) -> None:
    async with aiohttp.ClientSession() as http:
        for path in ("/v1/twilio/sms", "/v1/twilio/voice?alert=a&key=k"):
            url = f"http://127.0.0.1:{running.server.http_port}{path}"
            async with http.post(url, data={"From": ALICE_PHONE, "Body": "1 ack"}) as reply:
                assert reply.status == 404


@pytest.fixture
async def calls(world: World) -> World:
    """Bob is called at once for alerts of the ops team; carol's email comes ten minutes on."""
    client = world.client
    await client.create_team("ops")
    await client.create_user("bob")
    await client.add_contact_method("bob", "voice", BOB_PHONE)
    await client.set_notification_rule(
        "bob", "new_alert", NotificationRule((NotificationStep("voice", 0),))
    )
    await client.create_user("carol")
    await client.add_contact_method("carol", "email", "carol@example.com")
    await client.create_policy(
        PolicySpec(
            "ops-policy",
            team="ops",
            rules=(
                EscalationRuleSpec(timedelta(), (("user", "bob"),)),
                EscalationRuleSpec(10 * MINUTE, (("user", "carol"),)),
            ),
        )
    )
    await client.set_routing(RoutingSpec("ops", default_policy="ops-policy"))
    return world


async def call(world: World) -> tuple[Alert, Notification]:
    alert = await world.fire("Database down", team="ops")
    (page,) = await world.tick()
    assert (page.username, page.channel) == ("bob", Channel.VOICE)
    return alert, page


async def test_pressing_4_acknowledges_and_nothing_more_is_sent(calls: World) -> None:
    alert, page = await call(calls)
    twiml = await calls.press(page, "4")
    assert f"<Say>Acknowledged: alert {alert.tiny_id}. Goodbye.</Say><Hangup />" in twiml
    assert (await calls.alert(alert)).acknowledged_by == "bob"
    assert ("bob", "acknowledged", "") in await calls.activity(alert)
    assert await calls.tick(30 * MINUTE) == []


async def test_a_replayed_key_press_gets_its_first_answer_and_acts_no_more(
    calls: World,
) -> None:
    alert, page = await call(calls)
    first = await calls.press(page, "4", call="CA" + "7" * 32)
    assert f"Acknowledged: alert {alert.tiny_id}" in first
    await calls.client.unacknowledge(parse_ref(str(alert.tiny_id)), user="carol")
    assert await calls.press(page, "4", call="CA" + "7" * 32) == first
    assert not (await calls.alert(alert)).acknowledged
    # Over gRPC, as `tocsin shim` asks, the same: the outcome and the words first given.
    async with grpc.aio.insecure_channel(calls.running.target) as channel:
        remote = await GrpcAnswers(channel, calls.running.token).voice_digits(
            page.key, "4", "CA" + "7" * 32
        )
    assert (remote.outcome.value, remote.say) == (
        "acknowledged", f"Acknowledged: alert {alert.tiny_id}. Goodbye.",
    )  # fmt: skip
    assert not (await calls.alert(alert)).acknowledged


async def test_pressing_5_escalates_to_the_next_responder(calls: World) -> None:
    alert, page = await call(calls)
    twiml = await calls.press(page, "5")
    assert f"Escalated to the next responder: alert {alert.tiny_id}" in twiml
    assert [(p.username, p.channel) for p in await calls.tick()] == [("carol", Channel.EMAIL)]
    note = ("bob", "note_added", "escalated to the next responder by phone")
    assert note in await calls.activity(alert)
    # Once the escalation has run its course there is nobody further: the caller hears so.
    await calls.press(page, "5")  # its end, due ten minutes after carol, comes now
    assert await calls.tick() == []
    assert "nothing left to do" in await calls.press(page, "5")


async def test_pressing_6_closes(calls: World) -> None:
    alert, page = await call(calls)
    assert f"Closed: alert {alert.tiny_id}" in await calls.press(page, "6")
    closed = await calls.alert(alert)
    assert closed.status is Status.CLOSED and closed.closed_by == "bob"
    assert "was already closed" in await calls.press(page, "6")
    assert await calls.tick(30 * MINUTE) == []


async def test_any_other_key_reads_the_alert_again(calls: World) -> None:
    alert, page = await call(calls)
    for digits in ("9", ""):
        twiml = await calls.press(page, digits)
        assert f"Tocsin alert {alert.tiny_id}, priority 3: Database down." in twiml
        action = action_url(calls.base, page).replace("&", "&amp;")
        assert f'action="{action}"' in twiml
    assert not (await calls.alert(alert)).acknowledged
    # `tocsin shim` hears the same over gRPC.
    async with grpc.aio.insecure_channel(calls.running.target) as channel:
        remote = await GrpcAnswers(channel, calls.running.token).voice_digits(page.key, "9", "")
    assert remote == await calls.running.server.answers.voice_digits(page.key, "9")


async def test_a_voice_answer_must_be_signed_for_its_own_url(calls: World) -> None:
    alert, page = await call(calls)
    url = action_url(calls.base, page)
    fields = {"Digits": "4"}
    forged = RequestValidator(AUTH_TOKEN).compute_signature(url.replace("key=", "key=x"), fields)
    status, _ = await calls.twilio(url, fields, forged)
    assert status == 403
    assert not (await calls.alert(alert)).acknowledged


async def test_tocsin_shim_hands_answers_over_grpc(world: World, clock: FakeClock) -> None:
    """The edge alone, as `tocsin shim` runs it, reaching InboundService with its token."""
    alert, url = await email_link(world)
    token = url.rsplit("/", 1)[1]
    async with grpc.aio.insecure_channel(world.running.target) as channel:
        with pytest.raises(Unauthenticated):
            await GrpcAnswers(channel, "tocsin_wrong").redeem_link(token, confirm=False)
        answers = GrpcAnswers(channel, world.running.token)
        described = await answers.redeem_link(token, confirm=False)
        assert (described.tiny_id, described.username, described.done) == (
            alert.tiny_id, "alice", False,
        )  # fmt: skip
        assert described == await world.running.server.answers.redeem_link(token, confirm=False)
        with pytest.raises(PermissionDenied, match="damaged"):
            await answers.redeem_link(token + "x", confirm=False)

        public = [""]
        twilio = TwilioSettings(SID, AUTH_TOKEN, "+15550001111")
        shim = Shim(
            GrpcIngest(channel, world.running.token), channel, CollectorRegistry(), clock,
            SnsConfig(), world.http, GrpcCalendars(channel, world.running.token),
            answers=answers, twilio=twilio, public_url=lambda: public[0], idle_seconds=120,
        )  # fmt: skip
        async with TestServer(shim.app()) as server:
            base = str(server.make_url("")).rstrip("/")
            public[0] = base
            async with world.http.post(f"{base}/v1/links/{token}") as reply:
                assert reply.status == 200
            assert (await world.alert(alert)).acknowledged_by == "alice"
            other = await world.fire("CPU hot")
            fields = {"From": ALICE_PHONE, "Body": f"{other.tiny_id} close"}
            status, text = await world.twilio(f"{base}/v1/twilio/sms", fields)
            assert status == 200 and f"Closed #{other.tiny_id}: CPU hot" in text
