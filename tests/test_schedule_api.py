"""ScheduleService through the real gRPC server and client, and the iCalendar feed through the
HTTP edge. The on-call maths has its own tables and properties in test_oncall*.py; here the
point is the wiring: storage, participant history, overrides and errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import aiohttp
import icalendar
import pytest

from clients.client import TocsinClient
from service.core.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from service.oncall.model import OnCall
from service.oncall.restrictions import parse_restriction
from service.oncall.rotations import RotationSpec
from service.oncall.usecases import ScheduleSpec
from tests.conftest import Running

NY = ZoneInfo("America/New_York")


def ny(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=NY).astimezone(UTC)


def weekly(participants: tuple[str, ...], name: str = "primary") -> RotationSpec:
    # Mondays at 09:00 New York time; 2026-02-23 is a Monday.
    return RotationSpec(name, "weekly", ny(2026, 2, 23, 9), participants)


async def people(client: TocsinClient, *names: str) -> None:
    for name in names:
        await client.create_user(name)


async def test_schedule_and_who_is_on_call(running: Running, client: TocsinClient) -> None:
    await people(client, "ann", "ben", "cat")
    await client.create_team("web")
    spec = ScheduleSpec(
        "web-oncall",
        team="web",
        time_zone="America/New_York",
        rotations=(
            weekly(("ann", "ben")),
            RotationSpec(
                "nights",
                "daily",
                ny(2026, 2, 23, 18),
                ("cat", "none"),
                restrictions=(parse_restriction("18:00-06:00"),),
            ),
        ),
    )
    schedule = await client.create_schedule(spec)
    assert schedule.team_id == "web"
    assert schedule.rotations[1].current_users == ("cat", None)
    with pytest.raises(AlreadyExists):
        await client.create_schedule(spec)
    # The clock reads 2026-03-01 09:00 UTC: Sunday 04:00 in New York, week one (ann); the
    # night of Feb 28 is shift 5 of nights (cat, none, cat, none, cat, none): an empty slot.
    _, now = await client.who_is_on_call("web-oncall")
    assert now == (OnCall("ann", "primary"),)
    _, night = await client.who_is_on_call("web-oncall", ny(2026, 3, 1, 23))
    assert night == (OnCall("ann", "primary"), OnCall("cat", "nights"))
    # Across the spring-forward night (Mar 8, 02:00 -> 03:00): the weekly hand-off on Monday
    # Mar 9 is at 09:00 EDT, not 09:00 EST.
    _, before = await client.who_is_on_call("web-oncall", ny(2026, 3, 9, 8, 59))
    _, after = await client.who_is_on_call("web-oncall", ny(2026, 3, 9, 9, 0))
    assert before[0].user == "ben" and after[0].user == "ann"
    assert ny(2026, 3, 9, 9) == datetime(2026, 3, 9, 13, tzinfo=UTC)
    # Wednesday noon: ben alone; Wednesday night is an empty slot, Thursday night is cat's.
    change = await client.next_on_call("web-oncall", ny(2026, 3, 4, 12))
    assert change is not None
    assert change.users == ("ben", "cat") and change.at == ny(2026, 3, 5, 18)
    previous = await client.next_on_call("web-oncall", ny(2026, 3, 4, 12), previous=True)
    assert previous is not None
    assert previous.users == ("ben", "cat") and previous.at == ny(2026, 3, 4, 6)
    assert (await client.list_schedules("web"))[0].name == "web-oncall"


async def test_changing_participants_keeps_the_past_and_the_present(
    running: Running, client: TocsinClient
) -> None:
    await people(client, "ann", "ben", "cat")
    await client.create_schedule(
        ScheduleSpec("s", time_zone="America/New_York", rotations=(weekly(("ann", "ben")),))
    )
    _, _, before = await client.timeline("s", ny(2026, 2, 23, 9), ny(2026, 3, 23, 9))
    running.clock.set(ny(2026, 3, 4, 12))  # in week 2 (ben)
    await client.update_schedule(
        "s",
        ScheduleSpec("s", time_zone="America/New_York", rotations=(weekly(("cat", "ann")),)),
    )
    _, _, after = await client.timeline("s", ny(2026, 2, 23, 9), ny(2026, 3, 23, 9))
    assert [s.user for s in before.shifts] == ["ann", "ben", "ann", "ben"]
    # Weeks 1 and 2 stay; the new list starts with its first entry at the next hand-off.
    assert [s.user for s in after.shifts] == ["ann", "ben", "cat", "ann"]
    shown = await client.get_schedule("s")
    assert shown.rotations[0].current_users == ("cat", "ann")
    # Deleting them: cat is in the rotation now; ben only in its history, which keeps him.
    with pytest.raises(FailedPrecondition, match="in the rotations of schedule s: take them"):
        await client.delete_user("cat")
    with pytest.raises(FailedPrecondition, match="has been on call in schedule s.*contact"):
        await client.delete_user("ben")


async def test_an_update_changes_only_the_fields_it_names(
    running: Running, client: TocsinClient
) -> None:
    await people(client, "ann", "ben", "cat")
    await client.create_team("web")
    nights = RotationSpec("nights", "daily", ny(2026, 2, 23, 18), ("cat",))
    spec = ScheduleSpec(
        "s", "web", "America/New_York", "d", rotations=(weekly(("ann", "ben")), nights)
    )
    await client.create_schedule(spec)
    renamed = await client.update_schedule("s", ScheduleSpec("day"), ["name"])
    assert (renamed.name, renamed.time_zone, renamed.description) == (
        "day", "America/New_York", "d",
    )  # fmt: skip
    assert [r.name for r in renamed.rotations] == ["primary", "nights"]
    running.clock.set(ny(2026, 3, 4, 12))  # in week 2 (ben)
    # Only the rotations: the list is replaced, and a kept one keeps its history.
    one = await client.update_schedule(
        "day", ScheduleSpec("", rotations=(weekly(("cat", "ann")),)), ["rotations"]
    )
    assert [r.name for r in one.rotations] == ["primary"] and one.team_id == renamed.team_id
    _, _, line = await client.timeline("day", ny(2026, 2, 23, 9), ny(2026, 3, 23, 9))
    assert [s.user for s in line.shifts] == ["ann", "ben", "cat", "ann"]
    described = await client.update_schedule(
        "day", ScheduleSpec("", description="days"), ["description"]
    )
    assert described.rotations == one.rotations and described.name == "day"
    with pytest.raises(InvalidArgument, match="update_mask: names no field of a schedule: 'zone'"):
        await client.update_schedule("day", ScheduleSpec(""), ["zone"])
    with pytest.raises(InvalidArgument, match="time_zone"):
        await client.update_schedule("day", ScheduleSpec("", time_zone="Mars/Base"), ["time_zone"])
    moved = await client.update_schedule("day", ScheduleSpec("", time_zone="UTC"), ["time_zone"])
    assert moved.time_zone == "UTC" and moved.description == "days"


async def test_overrides(running: Running, client: TocsinClient) -> None:
    await people(client, "ann", "ben", "olga")
    await client.create_schedule(
        ScheduleSpec("s", time_zone="America/New_York", rotations=(weekly(("ann", "ben")),))
    )
    start, end = ny(2026, 3, 2, 0), ny(2026, 3, 3, 0)
    override = await client.add_override("s", "olga", start, end, "primary")
    assert override.user == "olga" and override.rotation == "primary"
    _, who = await client.who_is_on_call("s", ny(2026, 3, 2, 12))
    assert who == (OnCall("olga", "primary", override.id),)
    _, _, line = await client.timeline("s", ny(2026, 3, 1, 0), ny(2026, 3, 4, 0))
    # The override spans ann's hand-off to ben at 09:00 on Mar 2: it takes a piece of each.
    assert [(s.user, s.override == override.id) for s in line.shifts] == [
        ("ann", False),
        ("olga", True),
        ("olga", True),
        ("ben", False),
    ]
    assert [o.id for o in await client.list_overrides("s")] == [override.id]
    # In progress: removing ends it now and keeps what happened.
    running.clock.set(ny(2026, 3, 2, 6))
    ended = await client.remove_override("s", override.id)
    assert ended is not None and ended.end == ny(2026, 3, 2, 6)
    _, who = await client.who_is_on_call("s", ny(2026, 3, 2, 12))
    assert who == (OnCall("ben", "primary"),)
    # Over: history, so it stays.
    running.clock.set(ny(2026, 3, 3, 0))
    with pytest.raises(FailedPrecondition, match="history"):
        await client.remove_override("s", override.id)
    future = await client.add_override("s", "olga", ny(2026, 4, 1), ny(2026, 4, 2))
    assert await client.remove_override("s", future.id) is None
    with pytest.raises(NotFound):
        await client.remove_override("s", future.id)
    with pytest.raises(InvalidArgument, match="in the past"):
        await client.add_override("s", "olga", ny(2026, 1, 1), ny(2026, 1, 2))
    # Begun already: it begins now, and the shifts before stay as they were.
    _, _, before = await client.timeline("s", ny(2026, 3, 2, 0), ny(2026, 3, 3, 0))
    late = await client.add_override("s", "olga", ny(2026, 3, 2, 12), ny(2026, 3, 4, 0))
    assert late.start == ny(2026, 3, 3, 0)
    _, _, after = await client.timeline("s", ny(2026, 3, 2, 0), ny(2026, 3, 3, 0))
    assert after.shifts == before.shifts
    await client.remove_override("s", late.id)
    with pytest.raises(InvalidArgument, match="a year ahead"):
        await client.add_override("s", "olga", ny(2027, 6, 1), ny(2027, 6, 2))
    with pytest.raises(InvalidArgument, match="no rotation 'backup'"):
        await client.add_override("s", "olga", ny(2026, 4, 1), ny(2026, 4, 2), "backup")
    with pytest.raises(FailedPrecondition, match="on call in 1 override|schedule"):
        await client.delete_user("olga")


async def test_gaps_and_timeline_limits(running: Running, client: TocsinClient) -> None:
    await people(client, "ann")
    await client.create_schedule(
        ScheduleSpec(
            "business",
            time_zone="America/New_York",
            rotations=(
                RotationSpec(
                    "day",
                    "weekly",
                    ny(2026, 2, 23, 9),
                    ("ann",),
                    restrictions=(parse_restriction("mon 09:00-fri 17:00"),),
                ),
            ),
        )
    )
    found = await client.find_gaps("business", 7)
    ((name, zone_name, line),) = found
    assert name == "business" and zone_name == "America/New_York"
    # From Sunday 04:00 to Monday 09:00, then Friday 17:00 onwards.
    assert [(g.start, g.end) for g in line.gaps] == [
        (datetime(2026, 3, 1, 9, tzinfo=UTC), ny(2026, 3, 2, 9)),
        (ny(2026, 3, 6, 17), datetime(2026, 3, 8, 9, tzinfo=UTC)),
    ]
    with pytest.raises(InvalidArgument, match="400 days"):
        await client.timeline("business", ny(2026, 1, 1), ny(2027, 6, 1))
    with pytest.raises(InvalidArgument) as caught:
        await client.find_gaps("", 0)
    assert caught.value.field == "days"


@pytest.mark.parametrize(
    ("rotation", "field", "words"),
    [
        (weekly(("nobody-by-this-name",)), "rotations[0].participants[0]", "no user"),
        (weekly(()), "rotations[0].participants", "at least one"),
        (
            RotationSpec("p", "weekly", ny(2026, 11, 1, 1, 30) + timedelta(hours=1), ("ann",)),
            "rotations[0].start",
            "happens twice",
        ),
        (RotationSpec("p", "fortnightly", ny(2026, 3, 2, 9), ("ann",)), "rotations[0].type", ""),
        (RotationSpec("p", "custom", ny(2026, 3, 2, 9), ("ann",)), "rotations[0].unit", ""),
        (
            RotationSpec("p", "daily", ny(2026, 3, 2, 9), ("ann",), length=400),
            "rotations[0].length",
            "",
        ),
        (
            RotationSpec("p", "daily", ny(2026, 3, 2, 9), ("ann",), end=ny(2026, 3, 1)),
            "rotations[0].end",
            "after the start",
        ),
    ],
)
async def test_bad_rotations_are_refused_naming_the_field(
    client: TocsinClient, rotation: RotationSpec, field: str, words: str
) -> None:
    await people(client, "ann")
    with pytest.raises(InvalidArgument) as caught:
        await client.create_schedule(
            ScheduleSpec("s", time_zone="America/New_York", rotations=(rotation,))
        )
    assert caught.value.field == field
    assert words in caught.value.rule


async def test_restrictions_and_zones_are_checked() -> None:
    with pytest.raises(InvalidArgument, match="must have a length"):
        parse_restriction("09:00-09:00")
    with pytest.raises(InvalidArgument, match="weekday"):
        parse_restriction("funday 09:00-fri 17:00")
    with pytest.raises(InvalidArgument, match="HH:MM"):
        parse_restriction("9am-5pm")
    assert parse_restriction("Mon 09:00-Friday 17:00").describe() == "mon 09:00-fri 17:00"


async def test_ical_feed_at_its_secret_url(running: Running, client: TocsinClient) -> None:
    await people(client, "ann", "ben")
    schedule = await client.create_schedule(
        ScheduleSpec("s", time_zone="America/New_York", rotations=(weekly(("ann", "ben")),))
    )
    exported = await client.export_ical("s", "ann")
    assert f"/v1/ical/{schedule.id}/" in exported.url and exported.url.endswith("?user=ann")
    events = icalendar.Calendar.from_ical(exported.ical).walk("VEVENT")
    assert events and all("ann on call" in str(e["SUMMARY"]) for e in events)
    async with aiohttp.ClientSession() as http:
        async with http.get(exported.url) as reply:
            assert reply.status == 200
            assert reply.content_type == "text/calendar"
            served = icalendar.Calendar.from_ical(await reply.text()).walk("VEVENT")
        assert {str(e["UID"]) for e in served} == {str(e["UID"]) for e in events}
        wrong = exported.url.replace(f"/{schedule.id}/", f"/{schedule.id}/x")
        async with http.get(wrong) as reply:
            assert reply.status == 404
        rotated = await client.rotate_ical_secret("s")
        async with http.get(exported.url) as reply:
            assert reply.status == 404
        async with http.get(rotated.url) as reply:
            assert reply.status == 200


def _events(feed: str) -> dict[str, tuple[datetime, datetime, str]]:
    """UID -> (start, end, summary) of each event in an iCalendar file."""
    events = icalendar.Calendar.from_ical(feed).walk("VEVENT")
    return {
        str(e["UID"]): (e.decoded("DTSTART"), e.decoded("DTEND"), str(e["SUMMARY"])) for e in events
    }


async def test_ical_uids_hold_still_as_the_window_moves(
    running: Running, client: TocsinClient
) -> None:
    # The feed starts a month before each fetch and cuts the shifts it starts in; their UIDs
    # must not move with it, or calendar apps replace those events on every refresh.
    await people(client, "ann", "ben", "cat", "dan")
    nights = RotationSpec(
        "nights",
        "daily",
        ny(2026, 2, 23, 9),
        ("cat", "none"),
        restrictions=(parse_restriction("18:00-06:00"),),
    )
    await client.create_schedule(
        ScheduleSpec("s", time_zone="America/New_York", rotations=(weekly(("ann", "ben")), nights))
    )
    await client.add_override("s", "dan", ny(2026, 3, 10), ny(2026, 3, 13), "primary")
    running.clock.set(ny(2026, 4, 10, 23))  # the feed starts at 23:00 on March 11
    feeds = []
    for later in (timedelta(0), timedelta(hours=1), timedelta(days=3)):
        running.clock.set(ny(2026, 4, 10, 23) + later)
        feeds.append(_events((await client.export_ical("s")).ical))
    first, hour, days = feeds
    # At 23:00 on March 11 the feed cuts dan's override and cat's night (18:00 to 06:00).
    cut = {uid: event for uid, event in first.items() if event[0] == ny(2026, 3, 11, 23)}
    assert sorted(event[2].split()[0] for event in cut.values()) == ["cat", "dan"]
    # An hour later both are cut again, later, and keep their UIDs; so does every event that
    # both fetches show whole.
    assert {uid: hour[uid][0] for uid in cut} == dict.fromkeys(cut, ny(2026, 3, 12))
    assert set(first) - set(hour) == set()
    # Three days on, the override has ended before the feed starts, and the rest of ann's
    # week (from the override's end) is cut: still the UID it had when it was whole.
    ann = [uid for uid, e in first.items() if e[0] == ny(2026, 3, 13) and "ann" in e[2]]
    assert len(ann) == 1 and days[ann[0]][0] == ny(2026, 3, 14, 23)
    assert {uid for uid, e in first.items() if e[1] > ny(2026, 3, 14, 23)} <= set(days)


async def test_renaming_a_rotation_while_changing_its_people_keeps_the_past(
    running: Running, client: TocsinClient
) -> None:
    await people(client, "ann", "ben", "cat", "dan")
    await client.create_schedule(
        ScheduleSpec(
            "s",
            time_zone="America/New_York",
            rotations=(weekly(("ann", "ben")), weekly(("cat",), name="backup")),
        )
    )
    running.clock.set(ny(2026, 3, 4, 12))  # in week 2 (ben)
    # After the timeline below ends, so that it stays whole.
    override = await client.add_override("s", "dan", ny(2026, 3, 30), ny(2026, 3, 31), "primary")
    renamed = (weekly(("cat", "ann"), name="day shift"), weekly(("dan",), name="backup"))
    await client.update_schedule(
        "s", ScheduleSpec("s", time_zone="America/New_York", rotations=renamed)
    )
    _, _, after = await client.timeline("s", ny(2026, 2, 23, 9), ny(2026, 3, 23, 9))
    shifts = [(s.rotation, s.user) for s in after.shifts]
    assert [user for rotation, user in shifts if rotation == "day shift"] == [
        "ann", "ben", "cat", "ann",
    ]  # fmt: skip
    assert [user for rotation, user in shifts if rotation == "backup"] == [
        "cat", "cat", "dan", "dan",
    ]  # fmt: skip
    # The override limited to the rotation follows it to its new name.
    [moved] = await client.list_overrides("s")
    assert (moved.id, moved.rotation) == (override.id, "day shift")
    _, who = await client.who_is_on_call("s", ny(2026, 3, 30, 12))
    assert OnCall("dan", "day shift", override.id) in who


async def test_undoing_a_pending_change_keeps_the_order(
    running: Running, client: TocsinClient
) -> None:
    await people(client, "ann", "ben", "cat")
    spec = ScheduleSpec("s", time_zone="America/New_York", rotations=(weekly(("ann", "ben")),))
    await client.create_schedule(spec)
    _, _, before = await client.timeline("s", ny(2026, 2, 23, 9), ny(2026, 3, 23, 9))
    changed = ScheduleSpec("s", time_zone="America/New_York", rotations=(weekly(("cat",)),))
    await client.update_schedule("s", changed)
    await client.update_schedule("s", spec)  # back, before the hand-off
    _, _, after = await client.timeline("s", ny(2026, 2, 23, 9), ny(2026, 3, 23, 9))
    assert [s.user for s in after.shifts] == [s.user for s in before.shifts]


async def test_rotation_times_far_outside_any_calendar_are_refused(client: TocsinClient) -> None:
    await people(client, "ann")
    ancient = RotationSpec("p", "custom", datetime(1, 1, 2, tzinfo=UTC), ("ann",), 5, "hours")
    with pytest.raises(InvalidArgument) as caught:
        await client.create_schedule(
            ScheduleSpec("s", time_zone="America/New_York", rotations=(ancient,))
        )
    assert caught.value.field == "rotations[0].start"


async def test_times_near_the_end_of_the_calendar_are_refused(client: TocsinClient) -> None:
    # Looking a year ahead of (or behind) these would pass what a datetime can hold.
    await people(client, "ann", "ben")
    await client.create_schedule(ScheduleSpec("s", rotations=(weekly(("ann", "ben")),)))
    last = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
    first = datetime(1, 1, 1, tzinfo=UTC)
    calls = [
        ("at", client.who_is_on_call("s", last)),
        ("at", client.next_on_call("s", last)),
        ("at", client.next_on_call("s", first, previous=True)),
        ("from", client.timeline("s", last)),
        ("to", client.timeline("s", None, last)),
    ]
    for field, call in calls:
        with pytest.raises(InvalidArgument, match="must fall in the years 1900 to 8999") as caught:
            await call
        assert caught.value.field == field
    late = datetime(8999, 12, 31, tzinfo=UTC)
    _, latest = await client.who_is_on_call("s", late)
    change = await client.next_on_call("s", late)
    assert change is not None and change.at - late <= timedelta(weeks=1)
    assert latest[0].user != change.users[0]
