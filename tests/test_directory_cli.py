"""`tocsin users|teams members|schedules` through the real console script."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.conftest import Running, serving
from tests.fakes import FakeClock
from tests.test_cli import tocsin


@pytest.fixture
async def running(tmp_path: Path, clock: FakeClock) -> AsyncIterator[Running]:
    """One backend is enough: the console script only speaks gRPC, and each run costs a
    process start."""
    async with serving(tmp_path, clock) as server:
        yield server


async def test_users_and_members_from_the_cli(running: Running) -> None:
    created = await tocsin(running, "users", "create", "alice", "--time-zone", "Europe/Berlin")
    assert created.code == 0
    assert "new alert rule (not set: uses this):\n  nothing: no contact method" in created.out
    added = await tocsin(
        running, "users", "add-contact", "alice", "--channel", "sms", "--address", "+4915112345678",
        "--name", "phone", "--json",
    )  # fmt: skip
    assert added.code == 0, added.err
    user = added.json()
    assert isinstance(user, dict) and user["contact_methods"][0]["name"] == "phone"
    rule = await tocsin(
        running, "users", "set-rule", "alice", "--kind", "high_priority", "--step", "phone:0",
        "--repeat-minutes", "5", "--repeat-times", "2",
    )  # fmt: skip
    assert rule.code == 0, rule.err
    assert "  after 0s  phone\n  again every 5m, 2 more times\n" in rule.out  # as typed
    bad = await tocsin(
        running, "users", "add-contact", "alice", "--channel", "sms", "--address", "12"
    )
    assert bad.code == 1 and "E.164" in bad.err
    longer = await tocsin(
        running, "users", "add-contact", "alice", "--channel", "email",
        "--address", "alice@example.com", "--name", "work-email-address",
    )  # fmt: skip
    assert longer.code == 0, longer.err
    shown = (await tocsin(running, "users", "get", "alice")).out.splitlines()
    methods = shown[shown.index("contact methods:") + 1 :][:2]
    assert [m.split() for m in methods] == [
        ["phone", "sms", "+4915112345678"],
        ["work-email-address", "email", "alice@example.com"],
    ]
    assert methods[0].index("+49") == methods[1].index("alice@")  # in columns
    assert (await tocsin(running, "teams", "add-member", "default", "alice")).code == 0
    members = await tocsin(running, "teams", "members", "default")
    assert "alice" in members.out and "member" in members.out


async def test_schedules_from_the_cli(running: Running, tmp_path: Path) -> None:
    for name in ("ann", "ben"):
        assert (await tocsin(running, "users", "create", name)).code == 0
    created = await tocsin(
        running, "schedules", "create", "web", "--time-zone", "America/New_York",
        "--rotation", "primary", "--type", "daily", "--start", "2026-02-23T09:00",
        "--participants", "ann,ben", "--restriction", "mon 09:00-fri 17:00",
    )  # fmt: skip
    assert created.code == 0, created.err
    assert "only      mon 09:00-fri 17:00" in created.out
    got = await tocsin(running, "schedules", "get", "web", "--json")
    assert got.code == 0, got.err
    shown = got.json()
    assert isinstance(shown, dict) and shown["team"] == "default"
    assert "team_id" not in shown and "ical_secret" not in shown  # a name, and not sent
    # Typed wall times that the zone skips are refused, with what to type instead.
    skipped = await tocsin(
        running, "schedules", "create", "web2", "--time-zone", "America/New_York",
        "--rotation", "p", "--start", "2026-03-08T02:30", "--participants", "ann",
    )  # fmt: skip
    assert skipped.code == 2  # a time typed wrong is a usage mistake, found before any call
    assert "does not exist in America/New_York" in skipped.err and "03:00" in skipped.err

    oncall = await tocsin(running, "schedules", "oncall", "web", "--at", "2026-03-03T10:00")
    assert oncall.out.strip() == "2026-03-03 10:00 EST: ann (primary)"  # shift 8 of ann, ben
    timeline = await tocsin(
        running, "schedules", "timeline", "web", "--from", "2026-03-02T00:00", "--days", "1"
    )
    lines = timeline.out.splitlines()
    assert lines[0].split() == ["FROM", "TO", "WHO", "ROTATION", "OVERRIDE"]
    assert "(nobody)" in lines[1] and "ben" in lines[2]
    gaps = await tocsin(running, "schedules", "gaps", "web", "--days", "7")
    assert gaps.code == 1 and "nobody on call" in gaps.out

    override = await tocsin(
        running, "schedules", "override", "add", "web", "--user", "ann",
        "--start", "2026-03-03T00:00", "--end", "2026-03-04T00:00", "--json",
    )  # fmt: skip
    assert override.code == 0, override.err
    listed = await tocsin(running, "schedules", "override", "list", "web", "--json")
    overrides = listed.json()
    assert isinstance(overrides, list) and [o["user"] for o in overrides] == ["ann"]

    ics = tmp_path / "web.ics"
    exported = await tocsin(running, "schedules", "export-ical", "web", "-o", str(ics))
    assert exported.code == 0, exported.err
    assert "subscribe at http" in exported.out
    assert ics.read_text().startswith("BEGIN:VCALENDAR")
    # With --json too: the file is written, and the JSON says where and the feed's URL.
    again = tmp_path / "again.ics"
    shown = await tocsin(running, "schedules", "export-ical", "web", "-o", str(again), "--json")
    assert shown.code == 0, shown.err
    data = shown.json()
    assert isinstance(data, dict) and set(data) == {"url", "output"}
    assert data["output"] == str(again) and str(data["url"]).startswith("http")
    # Rotating into a file that cannot be written is refused before the secret changes.
    nowhere = str(tmp_path / "no-such-directory" / "web.ics")
    refused = await tocsin(
        running, "schedules", "export-ical", "web", "--rotate-secret", "-o", nowhere, "--json"
    )
    assert refused.code == 2 and "cannot write it" in refused.err
    after = await tocsin(running, "schedules", "export-ical", "web", "--json")
    assert after.json()["url"] == data["url"]  # type: ignore[index]
    assert again.read_text() == ics.read_text()


async def test_schedules_update_changes_only_what_is_given(running: Running) -> None:
    for name in ("ann", "ben", "cat"):
        assert (await tocsin(running, "users", "create", name)).code == 0
    created = await tocsin(
        running, "schedules", "create", "web", "--time-zone", "America/New_York",
        "--description", "web team", "--rotation", "primary", "--type", "daily",
        "--start", "2026-02-23T09:00", "--participants", "ann,ben",
    )  # fmt: skip
    assert created.code == 0, created.err

    async def updated(*args: str) -> dict[str, object]:
        result = await tocsin(running, "schedules", "update", "web", *args, "--json")
        assert result.code == 0, result.err
        data = result.json()
        assert isinstance(data, dict)
        return data

    def people(data: dict[str, object]) -> list[tuple[str, list[str]]]:
        rotations = data["rotations"]
        assert isinstance(rotations, list)
        return [(r["name"], r["participants"][-1]["users"]) for r in rotations]

    renamed = await updated("--name", "web-oncall")
    assert (renamed["name"], renamed["description"]) == ("web-oncall", "web team")
    assert people(renamed) == [("primary", ["ann", "ben"])]
    added = await tocsin(
        running, "schedules", "update", "web-oncall", "--rotation", "nights",
        "--start", "2026-02-23T18:00", "--participants", "cat", "--json",
    )  # fmt: skip
    assert added.code == 0, added.err
    changed = await tocsin(
        running, "schedules", "update", "web-oncall", "--rotation", "primary",
        "--participants", "ben,ann", "--json",
    )  # fmt: skip
    assert changed.code == 0, changed.err
    data = changed.json()
    assert isinstance(data, dict)
    assert people(data) == [("primary", ["ben", "ann"]), ("nights", ["cat"])]
    rotations = data["rotations"]
    assert isinstance(rotations, list) and rotations[0]["unit"] == "days"  # kept
    dropped = await tocsin(
        running, "schedules", "update", "web-oncall", "--remove-rotation", "nights"
    )
    assert dropped.code == 0 and "rotation nights" not in dropped.out
    missing = await tocsin(running, "schedules", "update", "web-oncall", "--rotation", "x")
    assert missing.code == 2 and "a new one needs --start and --participants" in missing.err
    nothing = await tocsin(running, "schedules", "update", "web-oncall")
    assert nothing.code == 2 and nothing.err.startswith("error: nothing to change")
