"""UserService and team members through the real gRPC server and client."""

from __future__ import annotations

from ipaddress import ip_network
from pathlib import Path

import pytest

from adapters.registry import NotifySettings
from adapters.webhook.settings import WebhookSettings
from clients.client import TocsinClient
from service.core.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from service.people.model import Channel, MemberRole, NotificationRule, NotificationStep, Role
from tests.conftest import serving
from tests.fakes import FakeClock


async def test_user_lifecycle(client: TocsinClient) -> None:
    alice = await client.create_user(
        "alice@example.com", full_name="Alice Archer", time_zone="Europe/Berlin", role="admin"
    )
    assert alice.role is Role.ADMIN and alice.time_zone == "Europe/Berlin"
    with pytest.raises(AlreadyExists):
        await client.create_user("ALICE@example.com")
    assert await client.get_user("Alice@Example.com") == alice
    assert await client.get_user(alice.id) == alice
    updated = await client.update_user(alice.id, full_name="Alice A.")
    assert updated.full_name == "Alice A." and updated.time_zone == "Europe/Berlin"
    await client.create_user("bob")
    assert [u.username for u in await client.list_users()] == ["alice@example.com", "bob"]
    await client.delete_user("bob")
    with pytest.raises(NotFound):
        await client.get_user("bob")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"username": "none"}, "username"),
        ({"username": "has space"}, "username"),
        ({"username": "x" * 101}, "username"),
        ({"username": "ok", "time_zone": "Mars/Olympus"}, "time_zone"),
        ({"username": "ok", "role": "owner"}, "role"),
    ],
)
async def test_bad_users_are_refused_naming_the_field(
    client: TocsinClient, kwargs: dict[str, str], field: str
) -> None:
    others = {key: value for key, value in kwargs.items() if key != "username"}
    with pytest.raises(InvalidArgument) as caught:
        await client.create_user(kwargs["username"], **others)
    assert caught.value.field == field


async def test_contact_methods_and_default_rules(client: TocsinClient) -> None:
    await client.create_user("carol")
    await client.add_contact_method("carol", "voice", "+14155550100")
    await client.add_contact_method("carol", "email", "carol@example.com")
    await client.add_contact_method("carol", "sms", "+14155550100", "cell")
    user = await client.add_contact_method("carol", "push", "fcm-token-123")
    assert [(m.name, m.channel) for m in user.contact_methods] == [
        ("voice", Channel.VOICE),
        ("email", Channel.EMAIL),
        ("cell", Channel.SMS),
        ("push", Channel.PUSH),
    ]
    # Push and email at once, SMS after a minute, voice after five.
    shown = await client.get_user("carol")
    assert shown.notification_rules.new_alert is None  # the default is in effect
    with pytest.raises(InvalidArgument, match="E.164"):
        await client.add_contact_method("carol", "sms", "4155550100")
    with pytest.raises(InvalidArgument, match="email address"):
        await client.add_contact_method("carol", "email", "not-an-email")
    with pytest.raises(InvalidArgument, match="channel"):
        await client.add_contact_method("carol", "pager", "123")
    for bad in ("ftp://chat.example.com/hook", "http://[::1"):
        with pytest.raises(InvalidArgument, match="http"):
            await client.add_contact_method("carol", "webhook", bad)
    hooked = await client.add_contact_method("carol", "webhook", "https://chat.example.com/h")
    assert hooked.contact_methods[-1].channel is Channel.WEBHOOK
    await client.add_contact_method("carol", "email", "c2@example.com")
    await client.add_contact_method("carol", "email", "c3@example.com")
    with pytest.raises(FailedPrecondition, match="already has 3 email"):
        await client.add_contact_method("carol", "email", "c4@example.com")
    await client.remove_contact_method("carol", "email-3")
    with pytest.raises(FailedPrecondition, match="already has email c2@example.com"):
        await client.add_contact_method("carol", "email", "c2@example.com")


@pytest.mark.parametrize(
    ("address", "words"),
    [
        # Every page to these would fail: refused when added, by the rule pages go by.
        ("http://chat.example.com/h", "set notifications.webhook.allow_http"),
        ("https://127.0.0.1:8443/h", "127.0.0.1 is an internal address (loopback)"),
        ("https://localhost/h", "localhost (127.0.0.1) is an internal address (loopback)"),
        ("https://169.254.169.254/latest/meta-data/", "(link-local, where cloud metadata"),
        ("https://[::ffff:10.0.0.1]/h", "(private); list it in notifications.webhook.allow_priv"),
        ("https://0.0.0.0/h", "(unspecified)"),
    ],
)
async def test_webhook_contacts_pages_would_fail_on_are_refused(
    client: TocsinClient, address: str, words: str
) -> None:
    await client.create_user("dan")
    with pytest.raises(InvalidArgument, match="address") as caught:
        await client.add_contact_method("dan", "webhook", address)
    assert words in str(caught.value)
    assert (await client.get_user("dan")).contact_methods == ()


async def test_webhook_contacts_follow_allow_http_and_allow_private(
    tmp_path: Path, clock: FakeClock
) -> None:
    rule = WebhookSettings("s" * 32, allow_http=True, allow_private=(ip_network("10.0.0.0/8"),))
    settings = NotifySettings(webhook=rule)
    async with (
        serving(tmp_path, clock, notifications=settings) as running,
        running.client() as client,
    ):
        await client.create_user("dan")
        await client.add_contact_method("dan", "webhook", "http://10.1.2.3:8080/h")
        with pytest.raises(InvalidArgument, match="192.168.1.1 is an internal address"):
            await client.add_contact_method("dan", "webhook", "http://192.168.1.1/h")


async def test_notification_rules(client: TocsinClient) -> None:
    await client.create_user("dave")
    await client.add_contact_method("dave", "email", "dave@example.com")
    await client.add_contact_method("dave", "sms", "+4915112345678", "phone")
    rule = NotificationRule(
        (NotificationStep("phone", 2), NotificationStep("email", 0)), repeat_minutes=10,
        repeat_times=3,
    )  # fmt: skip
    user = await client.set_notification_rule("dave", "high_priority", rule)
    stored = user.notification_rules.high_priority
    assert stored is not None
    # Kept in order of delay.
    assert [s.contact_method for s in stored.steps] == ["email", "phone"]
    assert stored.repeat_times == 3
    with pytest.raises(FailedPrecondition, match="high_priority notification rule uses phone"):
        await client.remove_contact_method("dave", "phone")
    with pytest.raises(InvalidArgument) as caught:
        await client.set_notification_rule(
            "dave", "new_alert", NotificationRule((NotificationStep("pager", 0),))
        )
    assert caught.value.field == "new_alert.steps[0].contact_method"
    with pytest.raises(InvalidArgument) as caught:
        await client.set_notification_rule(
            "dave", "new_alert", NotificationRule((NotificationStep("email", 0),), 0, 2)
        )
    assert caught.value.field == "new_alert.repeat_minutes"
    assert "at least 1 when repeat_times is set" in str(caught.value)
    restored = await client.set_notification_rule("dave", "high_priority", None)
    assert restored.notification_rules.high_priority is None
    assert (await client.remove_contact_method("dave", "phone")).contact_methods[0].name == "email"


async def test_team_members(client: TocsinClient) -> None:
    await client.create_team("ops")
    await client.create_user("erin")
    await client.create_user("frank")
    await client.set_team_member("ops", "erin", "admin")
    await client.set_team_member("ops", "frank")
    members = await client.list_team_members("ops")
    assert [(m.username, m.role) for m in members] == [
        ("erin", MemberRole.ADMIN),
        ("frank", MemberRole.MEMBER),
    ]
    await client.set_team_member("ops", "frank", "admin")  # a role change, not a second row
    assert len(await client.list_team_members("ops")) == 2
    await client.remove_team_member("ops", "erin")
    with pytest.raises(NotFound):
        await client.remove_team_member("ops", "erin")
    with pytest.raises(InvalidArgument, match="role"):
        await client.set_team_member("ops", "erin", "owner")
    # Members do not keep a team alive; deleting a user takes them off their teams.
    await client.delete_user("frank")
    assert await client.list_team_members("ops") == []
    await client.delete_team("ops")
