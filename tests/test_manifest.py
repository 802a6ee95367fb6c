"""`tocsin apply` and `tocsin export` through the real console script, against a real server."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime
from pathlib import Path

import yaml

from clients import manifest
from clients.client import TocsinClient
from service.schedule import Unit
from service.user import NotificationRule, NotificationStep, Role
from tests.conftest import Running
from tests.test_cli import Result, tocsin

ONCALL = """\
teams:
  - name: platform
    description: Platform team
    members:
      - {user: alice, role: admin}
      - {user: bob}
users:
  - username: alice
    full_name: Alice Archer
    time_zone: Europe/Berlin
    contact_methods:
      - {name: email, channel: email, address: alice@example.com}
      - {name: phone, channel: sms, address: "+4915112345678"}
    notification_rules:
      new_alert:
        steps: [{contact_method: email}, {contact_method: phone, after_minutes: 1}]
        repeat_minutes: 10
        repeat_times: 2
  - username: bob
  - username: carol
    role: admin
schedules:
  - name: platform-oncall
    team: platform
    time_zone: Europe/Berlin
    rotations:
      - name: primary
        type: weekly
        start: 2026-11-30T09:00
        participants: [alice, bob]
        restrictions: ["mon 09:00-fri 17:00"]
      - name: follow-the-sun
        type: custom
        length: 8
        unit: hours
        start: 2026-11-30 01:00:00
        end: 2027-06-01T09:00:00+02:00
        participants: [bob, none, Alice]
    overrides:
      - {user: bob, start: 2026-12-24T00:00, end: 2026-12-27T00:00, rotation: primary}
"""


async def apply(running: Running, path: Path, *more: str) -> Result:
    return await tocsin(running, "apply", "-f", str(path), *more)


def write(tmp_path: Path, text: str, name: str = "oncall.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


async def test_apply_creates_everything_and_again_changes_nothing(
    running: Running, client: TocsinClient, tmp_path: Path
) -> None:
    path = write(tmp_path, ONCALL)
    dry = await apply(running, path, "--dry-run")
    assert dry.code == 0, dry.err
    assert dry.out.splitlines() == [
        "+ team platform",
        "+ user alice",
        "+ user bob",
        "+ user carol",
        "+ team platform: member alice (admin)",
        "+ team platform: member bob (member)",
        "+ schedule platform-oncall",
        "+ override bob on platform-oncall 2026-12-24T00:00+01:00..2026-12-27T00:00+01:00 "
        "(primary)",
        "dry run: 8 changes not made",
    ]
    assert await client.list_users() == [] and len(await client.list_teams()) == 1

    made = await apply(running, path)
    assert made.code == 0, made.err
    assert made.out.splitlines()[-1] == "8 changes made"

    alice = await client.get_user("alice")
    assert (alice.full_name, alice.time_zone, alice.role) == (
        "Alice Archer",
        "Europe/Berlin",
        Role.USER,
    )
    assert [(m.name, m.channel.value, m.address) for m in alice.contact_methods] == [
        ("email", "email", "alice@example.com"),
        ("phone", "sms", "+4915112345678"),
    ]
    assert alice.notification_rules.new_alert == NotificationRule(
        (NotificationStep("email", 0), NotificationStep("phone", 1)), 10, 2
    )
    assert alice.notification_rules.high_priority is None
    assert (await client.get_user("carol")).role is Role.ADMIN
    members = await client.list_team_members("platform")
    assert [(m.username, m.role.value) for m in members] == [("alice", "admin"), ("bob", "member")]

    schedule = await client.get_schedule("platform-oncall")
    assert (schedule.team_id, schedule.time_zone) == ("platform", "Europe/Berlin")
    primary, sun = schedule.rotations
    assert primary.start == datetime(2026, 11, 30, 8, 0, tzinfo=UTC)  # 09:00 in Berlin (CET)
    assert primary.current_users == ("alice", "bob")
    assert [r.describe() for r in primary.restrictions] == ["mon 09:00-fri 17:00"]
    assert (sun.unit, sun.length, sun.current_users) == (Unit.HOURS, 8, ("bob", None, "alice"))
    assert sun.start == datetime(2026, 11, 30, 0, 0, tzinfo=UTC)  # a YAML timestamp, naive
    assert sun.end == datetime(2027, 6, 1, 7, 0, tzinfo=UTC)  # a YAML timestamp, with offset
    (override,) = await client.list_overrides("platform-oncall")
    assert (override.user, override.rotation) == ("bob", "primary")
    assert override.start == datetime(2026, 12, 23, 23, 0, tzinfo=UTC)

    again = await apply(running, path)
    assert (again.code, again.out) == (0, "no changes\n")


async def test_changes_in_the_file_are_made_and_shown(
    running: Running, client: TocsinClient, tmp_path: Path
) -> None:
    assert (await apply(running, write(tmp_path, ONCALL))).code == 0
    changed = (
        ONCALL.replace("participants: [alice, bob]", "participants: [alice, bob, carol]")
        .replace("      - {user: bob}\n", "")
        .replace('address: "+4915112345678"', 'address: "+4915187654321"')
        .replace("full_name: Alice Archer", "full_name: Alice A. Archer")
    )
    path = write(tmp_path, changed)
    dry = await apply(running, path, "--dry-run", "--json")
    assert dry.json() == {
        "applied": False,
        "warnings": [],
        "changes": [
            "~ user alice: full_name 'Alice Archer' -> 'Alice A. Archer'",
            "~ user alice: contact method phone sms +4915112345678 -> sms +4915187654321",
            "- team platform: member bob",
            "~ schedule platform-oncall: rotations[0].participants alice,bob -> alice,bob,carol",
        ],
    }
    assert (await client.get_schedule("platform-oncall")).rotations[0].current_users == (
        "alice",
        "bob",
    )

    made = await apply(running, path)
    assert made.code == 0, made.err
    assert (await client.get_schedule("platform-oncall")).rotations[0].current_users == (
        "alice",
        "bob",
        "carol",
    )
    alice = await client.get_user("alice")
    assert alice.full_name == "Alice A. Archer"
    assert alice.contact_methods[1].address == "+4915187654321"
    # The phone was replaced under the rule that pages through it; the rule is as it was.
    assert alice.notification_rules.new_alert is not None
    assert [s.contact_method for s in alice.notification_rules.new_alert.steps] == [
        "email",
        "phone",
    ]
    members = await client.list_team_members("platform")
    assert [m.username for m in members] == ["alice"]
    assert (await apply(running, path)).out == "no changes\n"


async def test_overrides_from_the_api_survive_and_nothing_unmentioned_is_touched(
    running: Running, client: TocsinClient, tmp_path: Path
) -> None:
    path = write(tmp_path, ONCALL)
    assert (await apply(running, path)).code == 0
    await client.add_override(
        "platform-oncall",
        "carol",
        datetime(2026, 12, 31, 12, tzinfo=UTC),
        datetime(2027, 1, 1, 12, tzinfo=UTC),
    )
    await client.create_user("dave")
    await client.create_team("ops")
    # Only names and the zone: rotations, members, team and description stay as they are. A
    # team's description cannot be changed, so a different one is a warning, not a change.
    path = write(
        tmp_path,
        "teams: [{name: Platform, description: Other}]\n"
        "schedules: [{name: PLATFORM-oncall, time_zone: Europe/Berlin}]\n",
    )
    result = await apply(running, path)
    assert result.code == 0
    assert result.out.splitlines() == [
        f"warning: {path}: teams[0].description: differs from team platform's "
        "('Platform team'), which apply cannot change",
        "no changes",
    ]
    overrides = await client.list_overrides("platform-oncall")
    assert sorted(o.user for o in overrides) == ["bob", "carol"]
    assert (await client.get_schedule("platform-oncall")).rotations[0].current_users == (
        "alice",
        "bob",
    )
    assert {u.username for u in await client.list_users()} == {"alice", "bob", "carol", "dave"}


async def test_export_then_apply_changes_nothing(
    running: Running, client: TocsinClient, tmp_path: Path
) -> None:
    assert (await apply(running, write(tmp_path, ONCALL))).code == 0
    await client.add_override(
        "platform-oncall",
        "carol",
        datetime(2026, 12, 31, 12, 0, 30, tzinfo=UTC),  # seconds survive the round trip
        datetime(2027, 1, 1, 12, tzinfo=UTC),
    )
    await client.set_notification_rule(
        "alice", "high_priority", NotificationRule((NotificationStep("phone", 0),))
    )
    await client.create_user("dave", time_zone="America/New_York")

    exported = await tocsin(running, "export")
    assert exported.code == 0, exported.err
    document = yaml.safe_load(exported.out)
    (schedule,) = document["schedules"]
    assert schedule["rotations"][0]["start"] == "2026-11-30T09:00+01:00"
    assert schedule["rotations"][1]["participants"] == ["bob", "none", "alice"]
    assert [o["user"] for o in schedule["overrides"]] == ["bob", "carol"]

    target = tmp_path / "exported.yaml"
    written = await tocsin(running, "export", "-o", str(target))
    assert (written.code, written.out) == (0, f"exported to {target}\n")
    assert target.read_text() == exported.out
    again = await apply(running, target)
    assert (again.code, again.out) == (0, "no changes\n"), again.err

    as_json = await tocsin(running, "export", "--json", "-o", str(tmp_path / "exported.json"))
    assert as_json.code == 0
    assert (await apply(running, tmp_path / "exported.json")).out == "no changes\n"


async def test_errors_name_the_file_and_the_path(running: Running, tmp_path: Path) -> None:
    async def refused(text: str) -> str:
        path = write(tmp_path, text, "bad.yaml")
        result = await apply(running, path)
        assert result.code == 1 and result.out == "", (result.out, result.err)
        assert result.err.startswith(f"error: {path}: ") and result.err.count("\n") == 1
        return result.err.removeprefix(f"error: {path}: ").strip()

    base = "users: [{username: ann}]\nschedules:\n  - name: web\n    time_zone: America/New_York\n"
    rotations = (
        "    rotations:\n"
        "      - {name: a, type: daily, start: 2026-03-02T09:00, participants: [ann]}\n"
    )
    assert (
        await refused(base.replace("America/New_York", "Mars/Olympus"))
        == "schedules[0].time_zone: must be an IANA time zone name such as Europe/Berlin, "
        "not 'Mars/Olympus'"
    )
    gap = await refused(
        base
        + rotations
        + "      - {name: b, type: daily, start: 2026-03-08T02:30, participants: [ann]}\n"
    )
    assert gap.startswith(
        "schedules[0].rotations[1].start: 2026-03-08 02:30 does not exist in America/New_York: "
    )
    assert "use 2026-03-08 03:00" in gap
    assert await refused(base + "    colour: blue\n") == (
        "schedules[0].colour: unknown key (known: name, time_zone, team, description, "
        "rotations, overrides)"
    )
    assert (
        await refused(base + rotations.replace("[ann]", "[ann, zed]"))
        == "schedules[0].rotations[0].participants[1]: no user named 'zed'"
    )
    assert await refused(base.replace("  - name: web\n", "  - team: ops\n")) == (
        "schedules[0].name: is required"
    )
    assert (
        await refused(base + "    team: ops\n")
        == "schedules[0].team: no team named 'ops' on the server or in the file"
    )
    assert await refused("users: [{username: ann}, {username: ANN}]\n") == (
        "users[1].username: 'ANN' is listed twice"
    )
    assert (await refused("teams:\n  - name: a\n   members: []\n")).startswith("not valid YAML:")
    # The first refusals were found before anything was made.
    assert (await tocsin(running, "users", "list", "--json")).json() == []


async def test_a_rule_cannot_lose_its_contact_method_unless_the_file_says_so(
    running: Running, client: TocsinClient, tmp_path: Path
) -> None:
    assert (await apply(running, write(tmp_path, ONCALL))).code == 0
    email_only = (
        "users:\n"
        "  - username: alice\n"
        "    contact_methods: [{name: email, channel: email, address: alice@example.com}]\n"
    )
    result = await apply(running, write(tmp_path, email_only))
    assert result.code == 1
    assert result.err.startswith(
        f"error: {tmp_path / 'oncall.yaml'}: users[0].contact_methods: alice's new_alert "
        "notification rule needs a contact method this leaves out"
    )
    made = await apply(running, write(tmp_path, email_only + "    notification_rules: {}\n"))
    assert made.code == 0, made.err
    assert made.out.splitlines() == [
        "- user alice: contact method phone",
        "~ user alice: notification_rules.new_alert email after 0m, phone after 1m, again every "
        "10m 2 more times -> default",
        "2 changes made",
    ]
    alice = await client.get_user("alice")
    assert [m.name for m in alice.contact_methods] == ["email"]
    assert alice.notification_rules.new_alert is None


async def test_the_documented_example_applies(client: TocsinClient) -> None:
    assert manifest.__doc__ is not None
    example = manifest.__doc__.split("The format::\n")[1].split("\n\n")[0]
    declared = manifest.parse(textwrap.dedent(example), "example.yaml")
    planned = manifest.plan(declared, await manifest.fetch(client, declared))
    await manifest.apply(client, planned)
    again = manifest.plan(declared, await manifest.fetch(client, declared))
    assert (again.changes, again.warnings) == ((), ())
