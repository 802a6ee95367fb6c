"""`tocsin apply` and `tocsin export` through the real console script, against a real server."""

from __future__ import annotations

import dataclasses
import textwrap
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from clients.client import TocsinClient
from clients.manifest import export, plan, schema
from clients.manifest.apply import apply as apply_plan
from clients.manifest.state import fetch
from service.alerts.model import NewAlert
from service.escalation.model import Repeat
from service.escalation.usecases import EscalationRuleSpec, PolicySpec, RoutingRuleSpec, RoutingSpec
from service.ingest.model import IntegrationType, NewIntegration
from service.oncall.model import Unit
from service.people.model import NotificationRule, NotificationStep, Role
from service.tokens.usecases import hash_secret
from tests.conftest import Running, serving
from tests.databases import everything_stored
from tests.fakes import FakeClock
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


@pytest.fixture
async def running(tmp_path: Path, clock: FakeClock) -> AsyncIterator[Running]:
    """One backend is enough: the console script only speaks gRPC, and each run costs a
    process start."""
    async with serving(tmp_path, clock) as server:
        yield server


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
        "created_integrations": [],
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
    async def refused(text: str, code: int = 2) -> str:
        """Exit status 2 for what the file gets wrong by itself, 1 for what the service's
        state refuses."""
        path = write(tmp_path, text, "bad.yaml")
        result = await apply(running, path)
        assert result.code == code and result.out == "", (result.code, result.out, result.err)
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
        await refused(base + rotations.replace("[ann]", "[ann, zed]"), code=1)
        == "schedules[0].rotations[0].participants[1]: no user named 'zed'"
    )
    assert await refused(base.replace("  - name: web\n", "  - team: ops\n")) == (
        "schedules[0].name: is required"
    )
    assert (
        await refused(base + "    team: ops\n", code=1)
        == "schedules[0].team: no team named 'ops' on the server or in the file"
    )
    assert await refused("users: [{username: ann}, {username: ANN}]\n") == (
        "users[1].username: 'ANN' is listed twice"
    )
    assert (await refused("teams:\n  - name: a\n   members: []\n")).startswith("not valid YAML:")
    # Nesting that exhausted the parser's stack, and aliases that multiply what is read.
    assert await refused("teams: " + "[" * 3000 + "\n") == "must not nest deeper than 64 levels"
    assert (await refused("teams: &t []\nusers: *t\n")).startswith(
        "must not use YAML anchors or aliases (&name, *name) (line 1, column 8)"
    )
    for start in ("not-a-time", "2026-13-45T00:00"):
        assert (await refused(base + rotations.replace("2026-03-02T09:00", start))).startswith(
            "schedules[0].rotations[0].start: must be an ISO 8601 time"
        )
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
    assert schema.__doc__ is not None
    example = schema.__doc__.split("The format::\n")[1].split("\n\n")[0]
    declared = schema.parse(textwrap.dedent(example), "example.yaml")
    planned = plan.plan(declared, await fetch(client, declared))
    await apply_plan(client, planned)
    again = plan.plan(declared, await fetch(client, declared))
    assert (again.changes, again.warnings) == ((), ())


ESCALATION = """\
policies:
  - name: platform-policy
    team: Platform
    rules:
      - after: 0
        notify: [user:Alice]
      - after: 5m
        notify: [schedule:platform-oncall, user:bob]
        until: closed
    repeat: {after: 10m, times: 2, reset_acknowledgement: true}
  - name: quiet
    description: Nights and weekends
    rules: [{after: 1h30m, notify: [team-members:default]}]
routing:
  - team: platform
    time_zone: Europe/Berlin
    rules:
      - name: p1-business-hours
        policy: platform-policy
        when: {field: priority, op: equals, value: P1}
        windows: ["mon 09:00-fri 17:00"]
    default_policy: platform-policy
    default_schedule: platform-oncall
"""


async def test_policies_and_routing_apply_change_export_and_refuse(
    running: Running, client: TocsinClient, tmp_path: Path
) -> None:
    async def planned(text: str) -> plan.Plan:
        declared = schema.parse(text, "x.yaml")
        return plan.plan(declared, await fetch(client, declared))

    async def refused(text: str) -> str:
        try:
            await planned(text)
        except schema.ManifestError as exc:
            return str(exc).removeprefix("x.yaml: ")
        raise AssertionError(f"not refused: {text}")

    made = await apply(running, write(tmp_path, ONCALL + ESCALATION))
    assert made.code == 0, made.err
    assert made.out.splitlines()[-4:] == [
        "+ policy platform-policy",
        "+ policy quiet",
        "+ routing platform",
        "11 changes made",
    ]
    assert await client.get_policy("platform-policy") == PolicySpec(
        "platform-policy",
        "platform",
        "",
        (
            EscalationRuleSpec(timedelta(), (("user", "alice"),)),
            EscalationRuleSpec(
                timedelta(minutes=5),
                (("schedule", "platform-oncall"), ("user", "bob")),
                "not-closed",
            ),
        ),
        Repeat(timedelta(minutes=10), 2, reset_acknowledgement=True),
    )
    assert (await client.get_policy("quiet")).team == "default"
    assert await client.get_routing("platform") == RoutingSpec(
        "platform",
        "Europe/Berlin",
        (
            RoutingRuleSpec(
                "p1-business-hours",
                "platform-policy",
                {"field": "priority", "op": "equals", "value": "P1"},
                ("mon 09:00-fri 17:00",),
            ),
        ),
        "platform-policy",
        "platform-oncall",
    )
    assert (await planned(ONCALL + ESCALATION)).changes == ()

    # One rule changed is one change to its policy; routing shows what differs.
    changed = await planned(
        ESCALATION.replace("user:bob]", "user:carol]")
        .replace("Europe/Berlin", "UTC")
        .replace("    default_policy: platform-policy\n", '    default_policy: ""\n')
    )
    assert changed.lines == [
        "~ policy platform-policy: rules[1].notify schedule:platform-oncall,user:bob -> "
        "schedule:platform-oncall,user:carol",
        "~ routing platform: time_zone Europe/Berlin -> UTC",
        "~ routing platform: default_policy platform-policy -> none",
    ]
    assert len(changed.changes) == 2
    await apply_plan(client, changed)
    assert (await client.get_policy("platform-policy")).rules[1].targets[1] == ("user", "carol")
    assert (await client.get_routing("platform")).default_policy == ""
    # Keys left out keep the server's; `repeat: none` removes the repeat.
    trimmed = await planned(
        "policies: [{name: PLATFORM-policy, description: Paging, repeat: none}]\n"
        "routing: [{team: platform, time_zone: Europe/Berlin}]\n"
    )
    assert trimmed.lines == [
        "~ policy platform-policy: description '' -> Paging",
        "~ policy platform-policy: repeat 'after 10m, 2 more times, resetting acknowledgement' "
        "-> none",
        "~ routing platform: time_zone UTC -> Europe/Berlin",
    ]
    await apply_plan(client, trimmed)
    policy = await client.get_policy("platform-policy")
    assert (policy.description, policy.repeat, len(policy.rules)) == ("Paging", None, 2)
    assert (await client.get_routing("platform")).rules[0].name == "p1-business-hours"

    exported = await export.export(client)
    document = yaml.safe_load(exported)
    assert document["policies"][1] == {
        "name": "quiet",
        "team": "default",
        "description": "Nights and weekends",
        "rules": [{"after": "1h30m", "notify": ["team-members:default"]}],
        "repeat": "none",
    }
    assert [r["team"] for r in document["routing"]] == ["platform"]  # default has none
    again = await planned(exported)
    assert (again.changes, again.warnings) == ((), ())

    def bad(old: str, new: str) -> str:
        assert old in ESCALATION
        return ESCALATION.replace(old, new)

    assert await refused(bad("user:bob]", "user:zed]")) == (
        "policies[0].rules[1].notify[1]: no user named 'zed' on the server or in the file"
    )
    assert await refused(bad("after: 5m", "after: 5 minutes")) == (
        "policies[0].rules[1].after: expected a duration such as 30m, 2h or 1h30m, not '5 minutes'"
    )
    assert await refused(bad("after: 5m", "after: 5")) == (
        "policies[0].rules[1].after: must be a duration such as 30s, 5m or 1h30m, not 5"
    )
    assert await refused(bad("after: 0", "after: 6m")) == (
        "policies[0].rules[1].after: must not be earlier than the rule before it"
    )
    assert await refused(bad("after: 1h30m", "after: 25h")) == (
        "policies[1].rules[0].after: must be at most 24 hours (got 25h)"
    )
    assert (await refused(bad("user:Alice", "person:alice"))).startswith(
        "policies[0].rules[0].notify[0]: kind must be one of user, schedule, "
    )
    assert await refused(bad("until: closed", "until: resolved")) == (
        "policies[0].rules[1].until: must be acknowledged or closed (got 'resolved')"
    )
    assert await refused(bad("times: 2", "times: 99")) == (
        "policies[0].repeat.times: must be 0 to 20 (got 99)"
    )
    assert await refused("policies: [{name: fresh}]\n") == (
        "policies[0].rules: is required for a new policy"
    )
    assert await refused(bad("policy: platform-policy", "policy: quiet")) == (
        "routing[0].rules[0].policy: policy 'quiet' belongs to team 'default', not 'platform'"
    )
    condition = await refused(bad("op: equals", "op: is"))
    assert condition.startswith("routing[0].rules[0].when.op: must be one of equals, ")
    assert (await refused(bad("mon 09:00-fri 17:00", "mornings"))).startswith(
        "routing[0].rules[0].windows[0]: must look like 09:00-17:00"
    )
    assert await refused(bad("default_schedule: platform-oncall", "default_schedule: x")) == (
        "routing[0].default_schedule: no schedule named 'x' on the server or in the file"
    )

    # From the command line: the file and the path, and nothing made.
    path = write(tmp_path, bad("user:bob]", "user:zed]"), "bad.yaml")
    result = await apply(running, path)
    assert (result.code, result.out) == (1, "")
    assert result.err == (
        f"error: {path}: policies[0].rules[1].notify[1]: no user named 'zed' on the server or "
        "in the file\n"
    )
    # What the server refuses is named in the file's terms too.
    await client.create_user("dave")
    stale = await planned(bad("user:bob]", "user:dave]"))
    await client.delete_user("dave")
    with pytest.raises(schema.ManifestError) as refusal:
        await apply_plan(client, stale)
    assert str(refusal.value) == "x.yaml: policies[0].rules[1].notify[1]: no user named 'dave'"


INTEGRATIONS = """\
integrations:
  - name: aws-cloudtrail
    type: cloudtrail
    team: Platform
    topic_arns: ["arn:aws:sns:eu-central-1:123456789012:cloudtrail"]
    min_signature_version: 2
    rules:
      - action: ignore
        when: {field: eventName, op: equals, value: ConsoleLogin}
      - action: create
        alert: {priority: P2, tags: [aws, "{{source | lower}}"]}
  - name: quiet-sns
    type: sns
    enabled: false
"""


async def test_integrations_are_created_once_updated_in_place_and_exported_without_keys(
    running: Running, client: TocsinClient, tmp_path: Path
) -> None:
    path = write(tmp_path, ONCALL + INTEGRATIONS)
    made = await apply(running, path)
    assert made.code == 0, made.err
    cloudtrail, quiet = await client.list_integrations()
    found = cloudtrail.integration
    lines = made.out.splitlines()
    assert lines[8:] == [
        "+ integration aws-cloudtrail",
        "+ integration quiet-sns",
        # Each new integration's URL with its key, this once.
        f"created integration aws-cloudtrail ({found.id}).",
        "Paste this URL into the SNS topic's HTTPS subscription; it is shown only now:",
        lines[12],
        f"created integration quiet-sns ({quiet.integration.id}).",
        "Paste this URL into the SNS topic's HTTPS subscription; it is shown only now:",
        lines[15],
        "10 changes made",
    ]
    assert lines[12].startswith(f"{cloudtrail.url}?apiKey=tocsin_ik_")
    assert lines[15].startswith(f"{quiet.url}?apiKey=tocsin_ik_")
    assert (found.owner_team, found.assignee_team, found.enabled) == ("platform", "platform", True)
    assert (found.topic_arns, found.min_signature_version) == (
        ("arn:aws:sns:eu-central-1:123456789012:cloudtrail",),
        2,
    )
    rules = yaml.safe_load(await client.get_integration_rules("aws-cloudtrail"))
    assert [r["action"] for r in rules] == ["ignore", "create"]
    assert not (await client.get_integration("quiet-sns")).integration.enabled
    again = await apply(running, path)
    assert (again.code, again.out) == (0, "no changes\n"), again.err

    # Every field changes in place, never by a delete and recreate (which would change the
    # URL and key); the team it moves to is made first, in the same apply.
    key = lines[12].split("apiKey=")[1]
    audit = "arn:aws:sns:eu-central-1:123456789012:audit"
    trail = "arn:aws:sns:eu-central-1:123456789012:cloudtrail"
    changed = (
        (ONCALL + INTEGRATIONS)
        .replace("teams:\n", "teams:\n  - name: ops\n", 1)
        .replace("team: Platform", "team: OPS\n    assignee_team: platform")
        .replace(':cloudtrail"]', f':cloudtrail", "{audit}"]')
        .replace("value: ConsoleLogin", "value: GetObject")
        .replace("enabled: false", "enabled: true")
        .replace("min_signature_version: 2", "min_signature_version: 1")
        .replace("type: sns", "type: eventbridge")
    )
    path = write(tmp_path, changed)
    dry = await apply(running, path, "--dry-run")
    assert dry.code == 0, dry.err
    assert dry.out.splitlines() == [
        "+ team ops",
        "~ integration aws-cloudtrail: team platform -> ops",
        f"~ integration aws-cloudtrail: topic_arns {trail} -> {trail},{audit}",
        "~ integration aws-cloudtrail: min_signature_version 2 -> 1",
        '~ integration aws-cloudtrail: rules[0] {"action": "ignore", "when": {"field": '
        '"eventName", "op": "equals", "value": "ConsoleLogin"}} -> {"action": "ignore", '
        '"when": {"field": "eventName", "op": "equals", "value": "GetObject"}}',
        "~ integration quiet-sns: type sns -> eventbridge",
        "~ integration quiet-sns: enabled false -> true",
        "dry run: 7 changes not made",
    ]
    assert (await client.get_integration("aws-cloudtrail")).integration == found
    made = await apply(running, path, "--json")
    assert made.code == 0, made.err
    assert made.json() == {
        "changes": dry.out.splitlines()[:-1],
        "warnings": [],
        "applied": True,
        "created_integrations": [],
    }
    rules = yaml.safe_load(await client.get_integration_rules("aws-cloudtrail"))
    assert rules[0]["when"]["value"] == "GetObject"
    moved = await client.get_integration("aws-cloudtrail")
    assert moved.url == cloudtrail.url  # the same id, so the same URL
    assert moved.integration == dataclasses.replace(
        found,
        owner_team="ops",
        owner_team_id=moved.integration.owner_team_id,
        topic_arns=(trail, audit),
        min_signature_version=1,
    )
    database = await everything_stored(running.server.store, running.data_dir)
    assert hash_secret(key).encode() in database  # and the same key
    after = await client.get_integration("quiet-sns")
    assert after.integration == dataclasses.replace(
        quiet.integration, type=IntegrationType.EVENTBRIDGE, enabled=True
    )
    assert (await apply(running, path)).out.splitlines()[-1] == "no changes"

    exported = await tocsin(running, "export")
    assert exported.code == 0, exported.err
    assert "apiKey" not in exported.out and "tocsin_ik_" not in exported.out
    document = yaml.safe_load(exported.out)
    assert document["integrations"][0] == {
        "name": "aws-cloudtrail",
        "type": "cloudtrail",
        "team": "ops",
        "assignee_team": "platform",
        "topic_arns": [trail, audit],
        "min_signature_version": 1,
        "enabled": True,
        "rules": rules,
    }
    target = write(tmp_path, exported.out, "exported.yaml")
    assert (await apply(running, target)).out == "no changes\n"


async def test_integration_errors_name_the_path(client: TocsinClient) -> None:
    async def refused(text: str) -> str:
        try:
            declared = schema.parse(text, "x.yaml")
            plan.plan(declared, await fetch(client, declared))
        except schema.ManifestError as exc:
            return str(exc).removeprefix("x.yaml: ")
        raise AssertionError(f"not refused: {text}")

    def bad(old: str, new: str) -> str:
        assert old in INTEGRATIONS
        return "teams: [{name: platform}]\n" + INTEGRATIONS.replace(old, new)

    assert await refused(bad("    type: sns\n", "")) == (
        "integrations[1].type: is required for a new integration (one of cloudtrail, "
        "cloudwatch, eventbridge, sns, pagerduty, alertmanager, webhook, opsgenie)"
    )
    assert await refused(bad("type: sns", "type: carrier-pigeon")) == (
        "integrations[1].type: must be one of cloudtrail, cloudwatch, eventbridge, sns, "
        "pagerduty, alertmanager, webhook, opsgenie (got 'carrier-pigeon')"
    )
    assert await refused(bad("team: Platform", "team: ops")) == (
        "integrations[0].team: no team named 'ops' on the server or in the file"
    )
    assert (await refused(bad(":cloudtrail", ":cloud trail"))).startswith(
        "integrations[0].topic_arns[0]: must be an SNS topic ARN"
    )
    assert await refused(bad("action: ignore", "action: explode")) == (
        "integrations[0].rules[0].action: must be one of create, close, acknowledge, add-note, "
        "ignore"
    )
    assert await refused(bad("min_signature_version: 2", "min_signature_version: 3")) == (
        "integrations[0].min_signature_version: must be 1 or 2 (got 3)"
    )
    assert await refused(bad("name: quiet-sns", "name: AWS-cloudtrail")) == (
        "integrations[1].name: 'AWS-cloudtrail' is listed twice"
    )
    assert await client.list_integrations() == []


OPS = """\
teams: [{name: ops, members: [{user: dave}]}]
users: [{username: dave}, {username: erin}]
schedules:
  - name: ops-oncall
    team: ops
    time_zone: UTC
    rotations: [{name: main, type: daily, start: 2026-11-30T09:00, participants: [dave]}]
policies: [{name: ops-policy, team: ops, rules: [{after: 0, notify: ["schedule:ops-oncall"]}]}]
routing: [{team: ops, default_policy: ops-policy, default_schedule: ops-oncall}]
integrations: [{name: ops-sns, type: sns, team: ops}]
"""


async def test_prune_deletes_what_the_file_leaves_out_after_a_dry_run(
    running: Running, client: TocsinClient, tmp_path: Path
) -> None:
    base = write(tmp_path, ONCALL + ESCALATION + INTEGRATIONS)
    assert (await apply(running, base)).code == 0
    exported = write(tmp_path, (await tocsin(running, "export")).out, "exported.yaml")
    ops = await apply(running, write(tmp_path, OPS, "ops.yaml"), "--json")
    assert ops.code == 0, ops.err
    result = ops.json()
    assert isinstance(result, dict)
    (key,) = result["created_integrations"]
    ops_sns = (await client.get_integration("ops-sns")).integration
    assert (key["name"], key["id"]) == ("ops-sns", ops_sns.id)
    assert key["url"].endswith(f"/v1/sns/{ops_sns.id}?apiKey={key['api_key']}")
    assert key["api_key"].startswith("tocsin_ik_")

    # Without --prune, what the file leaves out is left alone.
    assert (await apply(running, base)).out == "no changes\n"
    dry = await apply(running, base, "--prune", "--dry-run")
    assert dry.code == 0, dry.err
    assert dry.out.splitlines() == [
        "- delete routing ops",
        "- delete integration ops-sns",
        "- delete policy ops-policy",
        "- delete schedule ops-oncall",
        "- delete user dave",
        "- delete user erin",
        "- delete team ops",
        "dry run: 7 changes not made",
    ]
    assert {u.username for u in await client.list_users()} >= {"dave", "erin"}
    # Routing not listed: the routing of a team that goes is cleared all the same, first.
    unrouted = schema.parse(
        ONCALL + ESCALATION[: ESCALATION.index("routing:")] + INTEGRATIONS, "x.yaml"
    )
    state = await fetch(client, unrouted, prune=True)
    assert plan.plan(unrouted, state, prune=True).lines == dry.out.splitlines()[:-1]
    as_json = await apply(running, base, "--prune", "--dry-run", "--json")
    assert as_json.json() == {
        "changes": dry.out.splitlines()[:-1],
        "warnings": [],
        "applied": False,
        "created_integrations": [],
    }

    made = await apply(running, base, "--prune")
    assert made.code == 0, made.err
    assert made.out.splitlines()[-1] == "7 changes made"
    assert sorted(t.name for t in await client.list_teams()) == ["default", "platform"]
    assert {u.username for u in await client.list_users()} == {"alice", "bob", "carol"}
    assert [s.name for s in await client.list_schedules()] == ["platform-oncall"]
    assert sorted(p.name for p in await client.list_policies()) == ["platform-policy", "quiet"]
    names = sorted(i.integration.name for i in await client.list_integrations())
    assert names == ["aws-cloudtrail", "quiet-sns"]
    assert (await apply(running, base, "--prune")).out == "no changes\n"
    # An export, pruned, changes nothing; the token in use is never a thing prune touches.
    assert (await apply(running, exported, "--prune")).out == "no changes\n"
    assert (await tocsin(running, "tokens", "list")).code == 0


async def test_prune_only_the_kinds_listed_and_refuse_what_cannot_finish(
    running: Running, client: TocsinClient, clock: FakeClock, tmp_path: Path
) -> None:
    async def planned(text: str) -> plan.Plan:
        declared = schema.parse(text, "x.yaml")
        return plan.plan(declared, await fetch(client, declared, prune=True), prune=True)

    async def refused(text: str) -> str:
        try:
            await planned(text)
        except schema.ManifestError as exc:
            return str(exc).removeprefix("x.yaml: ")
        raise AssertionError(f"not refused: {text}")

    assert (await apply(running, write(tmp_path, ONCALL))).code == 0
    # Users are listed, so only users are pruned; `teams: []` never deletes `default`.
    users = "users: [{username: alice}, {username: bob}, {username: carol}]\n"
    assert (await planned(users)).changes == ()
    assert (await planned("teams: [{name: platform}]\n")).changes == ()
    assert (await planned("routing: []\nintegrations: []\n")).changes == ()

    # What stays may not name what prune would delete: nothing is made.
    assert await refused("users: [{username: alice}, {username: carol}]\n") == (
        "users: --prune would delete user 'bob', which the file does not list, but schedule "
        "platform-oncall, which the file does not list, names it: list it in the file"
    )
    assert await refused(
        "users: [{username: alice}, {username: carol}]\n" + ONCALL[ONCALL.index("schedules:") :]
    ) == (
        "schedules[0].rotations[0].participants[1]: names user 'bob', which is not in the "
        "file's users, so --prune would delete it: list it there"
    )
    await client.create_team("Ops")
    await client.create_integration(NewIntegration("Ops-SNS", IntegrationType.SNS, team="ops"))
    assert await refused("teams: [{name: platform}]\n") == (
        "teams: --prune would delete team 'Ops', which the file does not list, but integration "
        "Ops-SNS, which the file does not list, names it: list it in the file"
    )
    # Listed, the integration keeps the team the file leaves out: prune may not delete it.
    kept = "teams: [{name: platform}]\nintegrations: [{name: ops-sns, assignee_team: platform}]\n"
    assert await refused(kept) == (
        "integrations[0]: names team 'Ops', which is not in the file's teams, so --prune would "
        "delete it: list it there"
    )
    # Moved to a team made in the same apply, it is off the old one before that is deleted.
    before = (await client.get_integration("ops-sns")).integration
    moving = (
        "teams: [{name: platform}, {name: sec}]\n"
        "integrations: [{name: ops-sns, team: sec, assignee_team: sec}]\n"
    )
    move = await planned(moving)
    assert move.lines == [
        "+ team sec",
        "~ integration Ops-SNS: team Ops -> sec",
        "~ integration Ops-SNS: assignee_team Ops -> sec",
        "- delete team Ops",
    ]
    await apply_plan(client, move)
    after = (await client.get_integration("ops-sns")).integration
    assert (after.id, after.owner_team, after.assignee_team) == (before.id, "sec", "sec")
    assert sorted(t.name for t in await client.list_teams()) == ["default", "platform", "sec"]
    assert (await planned(moving)).changes == ()
    await client.delete_integration("ops-sns")
    await client.delete_team("sec")
    await client.create_team("Ops")
    await client.create_alert(NewAlert("Disk full", owner_team="ops"))
    assert await refused("teams: [{name: platform}, {name: default}]\n") == (
        "teams: --prune cannot delete team 'Ops': it has alerts, which are kept: list it in "
        "the file"
    )

    # What only the server knows is refused when apply reaches it, with its reason: bob has
    # been on call (his week of the rotation is past), and the schedule's history keeps him.
    clock.set(datetime(2027, 1, 5, tzinfo=UTC))
    without_bob = (
        "users: [{username: alice}, {username: carol}]\n"
        "schedules:\n"
        "  - name: platform-oncall\n"
        "    time_zone: Europe/Berlin\n"
        "    rotations:\n"
        "      - name: primary\n"
        "        type: weekly\n"
        "        start: 2026-11-30T09:00\n"
        "        participants: [alice]\n"
        '        restrictions: ["mon 09:00-fri 17:00"]\n'
        "integrations: [{name: late, type: sns}]\n"
    )
    path = write(tmp_path, without_bob, "without-bob.yaml")
    result = await apply(running, path, "--prune")
    assert result.code == 1
    late = await client.get_integration("late")
    lines = result.out.splitlines()
    # The new integration's key was shown before the refusal: it cannot be shown again.
    assert lines == [
        "~ schedule platform-oncall: rotations[0].participants alice,bob -> alice",
        "~ schedule platform-oncall: - rotation follow-the-sun",
        "+ integration late",
        "- delete user bob",
        f"created integration late ({late.integration.id}).",
        "Paste this URL into the SNS topic's HTTPS subscription; it is shown only now:",
        lines[-1],
    ]
    assert lines[-1].startswith(f"{late.url}?apiKey=tocsin_ik_")
    # This server has no public_url: the new URL is said to be out of SNS's reach.
    warning, error = result.err.splitlines(keepends=True)
    assert warning.startswith("warning: this URL names 127.0.0.1, which Amazon SNS cannot")
    assert error == (
        f"error: {path}: users: --prune cannot delete user bob: user 'bob' has been on call "
        "in schedule platform-oncall, whose history keeps them, so cannot be deleted; to take "
        "them off paging, remove their contact methods and team memberships; or list it in "
        "the file (the changes before it were made; fix this and apply again)\n"
    )
    assert "bob" in {u.username for u in await client.list_users()}
    # With --json too, and the integration the file no longer lists goes first.
    path = write(tmp_path, without_bob.replace("late", "later"))
    as_json = await apply(running, path, "--prune", "--json")
    assert as_json.code == 1 and as_json.err.startswith(f"error: {path}: users: ")
    later = await client.get_integration("later")
    result_json = as_json.json()
    assert isinstance(result_json, dict)
    (key,) = result_json["created_integrations"]
    assert (key["id"], result_json["applied"]) == (later.integration.id, False)
    assert "- delete integration late" in result_json["changes"]
    assert [i.integration.name for i in await client.list_integrations()] == ["later"]
    assert result_json["error"] == as_json.err.removeprefix("error: ").strip()
