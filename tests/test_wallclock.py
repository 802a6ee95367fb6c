"""Wall-clock times to instants: one DST rule for schedules, a strict one for typed times.

Expected instants are written by hand from the tz database's transitions (2011-2025, so later
releases do not move them) and compared as UTC. The zones: New York and Berlin (ordinary hour
shifts), Lord Howe (half an hour), Apia (skipped 2011-12-30 entirely), and Havana, Santiago and
Beirut, whose clocks change at midnight, so a whole midnight is skipped or repeated.
"""

from __future__ import annotations

import bisect
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from service.core.errors import InvalidArgument
from service.core.wallclock import exact, local, parse_instant, resolve, zone


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def wall(text: str) -> datetime:
    return datetime.fromisoformat(text)


# (zone, wall time, the instant it resolves to in UTC, why)
RESOLVED = [
    ("America/New_York", "2025-07-01 09:00", "2025-07-01 13:00", "summer, EDT"),
    ("America/New_York", "2025-01-15 09:00", "2025-01-15 14:00", "winter, EST"),
    # Spring forward 2025-03-09: 02:00 EST becomes 03:00 EDT (07:00 UTC).
    ("America/New_York", "2025-03-09 01:59:59", "2025-03-09 06:59:59", "last second before"),
    ("America/New_York", "2025-03-09 02:00", "2025-03-09 07:00", "gap start"),
    ("America/New_York", "2025-03-09 02:30", "2025-03-09 07:00", "in the gap"),
    ("America/New_York", "2025-03-09 02:59:59", "2025-03-09 07:00", "gap end"),
    ("America/New_York", "2025-03-09 03:00", "2025-03-09 07:00", "first after"),
    ("America/New_York", "2025-03-09 03:01", "2025-03-09 07:01", "after"),
    # Fall back 2025-11-02: 02:00 EDT becomes 01:00 EST (06:00 UTC); 01:xx happens twice.
    ("America/New_York", "2025-11-02 00:59", "2025-11-02 04:59", "before the repeat"),
    ("America/New_York", "2025-11-02 01:00", "2025-11-02 05:00", "first 01:00, EDT"),
    ("America/New_York", "2025-11-02 01:30", "2025-11-02 05:30", "first 01:30, EDT"),
    ("America/New_York", "2025-11-02 01:59:59", "2025-11-02 05:59:59", "first, EDT"),
    ("America/New_York", "2025-11-02 02:00", "2025-11-02 07:00", "once, EST"),
    # Berlin 2025-03-30: 02:00 CET becomes 03:00 CEST (01:00 UTC).
    ("Europe/Berlin", "2025-03-30 01:59", "2025-03-30 00:59", "before the gap"),
    ("Europe/Berlin", "2025-03-30 02:00", "2025-03-30 01:00", "gap start"),
    ("Europe/Berlin", "2025-03-30 02:45", "2025-03-30 01:00", "in the gap"),
    ("Europe/Berlin", "2025-03-30 03:00", "2025-03-30 01:00", "first after"),
    # Berlin 2025-10-26: 03:00 CEST becomes 02:00 CET (01:00 UTC); 02:xx happens twice.
    ("Europe/Berlin", "2025-10-26 02:00", "2025-10-26 00:00", "first 02:00, CEST"),
    ("Europe/Berlin", "2025-10-26 02:30", "2025-10-26 00:30", "first 02:30, CEST"),
    ("Europe/Berlin", "2025-10-26 03:00", "2025-10-26 02:00", "once, CET"),
    # Lord Howe 2025-10-05: 02:00 +10:30 becomes 02:30 +11 (15:30 UTC the day before).
    ("Australia/Lord_Howe", "2025-10-05 01:59", "2025-10-04 15:29", "before the gap"),
    ("Australia/Lord_Howe", "2025-10-05 02:00", "2025-10-04 15:30", "gap start"),
    ("Australia/Lord_Howe", "2025-10-05 02:15", "2025-10-04 15:30", "in the half hour"),
    ("Australia/Lord_Howe", "2025-10-05 02:29", "2025-10-04 15:30", "gap end"),
    ("Australia/Lord_Howe", "2025-10-05 02:30", "2025-10-04 15:30", "first after"),
    ("Australia/Lord_Howe", "2025-10-05 03:00", "2025-10-04 16:00", "+11"),
    # Lord Howe 2025-04-06: 02:00 +11 becomes 01:30 +10:30 (15:00 UTC); 01:30-02:00 twice.
    ("Australia/Lord_Howe", "2025-04-06 01:29", "2025-04-05 14:29", "before the repeat"),
    ("Australia/Lord_Howe", "2025-04-06 01:30", "2025-04-05 14:30", "first 01:30, +11"),
    ("Australia/Lord_Howe", "2025-04-06 01:45", "2025-04-05 14:45", "first 01:45, +11"),
    ("Australia/Lord_Howe", "2025-04-06 02:00", "2025-04-05 15:30", "once, +10:30"),
    # Apia 2011-12-29 24:00 -10 became 2011-12-31 00:00 +14 (10:00 UTC): no 30 December.
    ("Pacific/Apia", "2011-12-29 23:59", "2011-12-30 09:59", "last minute of the 29th"),
    ("Pacific/Apia", "2011-12-30 00:00", "2011-12-30 10:00", "the lost day starts"),
    ("Pacific/Apia", "2011-12-30 12:00", "2011-12-30 10:00", "noon of the lost day"),
    ("Pacific/Apia", "2011-12-30 23:59:59", "2011-12-30 10:00", "its last second"),
    ("Pacific/Apia", "2011-12-31 00:00", "2011-12-30 10:00", "first after"),
    ("Pacific/Apia", "2011-12-31 09:00", "2011-12-30 19:00", "+14"),
    # Havana 2025-03-09: 00:00 -05 becomes 01:00 -04 (05:00 UTC): no midnight.
    ("America/Havana", "2025-03-08 23:59", "2025-03-09 04:59", "before midnight"),
    ("America/Havana", "2025-03-09 00:00", "2025-03-09 05:00", "the missing midnight"),
    ("America/Havana", "2025-03-09 00:30", "2025-03-09 05:00", "in the gap"),
    ("America/Havana", "2025-03-09 01:00", "2025-03-09 05:00", "first after"),
    # Havana 2025-11-02: 01:00 -04 becomes 00:00 -05 (05:00 UTC): midnight twice.
    ("America/Havana", "2025-11-02 00:00", "2025-11-02 04:00", "first midnight, -04"),
    ("America/Havana", "2025-11-02 00:30", "2025-11-02 04:30", "first, -04"),
    ("America/Havana", "2025-11-02 01:00", "2025-11-02 06:00", "once, -05"),
    # Santiago 2025-09-07: 00:00 -04 becomes 01:00 -03 (04:00 UTC): no midnight.
    ("America/Santiago", "2025-09-07 00:00", "2025-09-07 04:00", "the missing midnight"),
    ("America/Santiago", "2025-09-07 00:59", "2025-09-07 04:00", "in the gap"),
    # Santiago 2025-04-06: 24:00 -03 becomes 23:00 -04 on the 5th (03:00 UTC): 23:xx twice.
    ("America/Santiago", "2025-04-05 22:59", "2025-04-06 01:59", "before the repeat"),
    ("America/Santiago", "2025-04-05 23:00", "2025-04-06 02:00", "first 23:00, -03"),
    ("America/Santiago", "2025-04-05 23:30", "2025-04-06 02:30", "first 23:30, -03"),
    ("America/Santiago", "2025-04-06 00:00", "2025-04-06 04:00", "midnight once, -04"),
    # Beirut 2025-03-30: 00:00 +02 becomes 01:00 +03 (22:00 UTC the day before).
    ("Asia/Beirut", "2025-03-30 00:00", "2025-03-29 22:00", "the missing midnight"),
    ("Asia/Beirut", "2025-03-30 00:45", "2025-03-29 22:00", "in the gap"),
    # Beirut 2025-10-26: 00:00 +03 becomes 23:00 +02 on the 25th (21:00 UTC): 23:xx twice.
    ("Asia/Beirut", "2025-10-25 23:00", "2025-10-25 20:00", "first 23:00, +03"),
    ("Asia/Beirut", "2025-10-26 00:00", "2025-10-25 22:00", "midnight once, +02"),
]


@pytest.mark.parametrize(("name", "wall_time", "expected", "why"), RESOLVED)
def test_resolve_follows_the_dst_rule(name: str, wall_time: str, expected: str, why: str) -> None:
    found = resolve(wall(wall_time), zone(name))
    assert found == utc(expected), why
    assert found.tzinfo is UTC


@pytest.mark.parametrize(
    ("name", "wall_time", "expected"),
    [
        # Wall times read back from an instant in the second pass of a repeated hour carry
        # fold=1; the rule still means the first occurrence, and a skipped time still means
        # the end of the gap, whatever fold says.
        ("America/New_York", "2025-11-02 01:30", "2025-11-02 05:30"),
        ("America/New_York", "2025-03-09 02:30", "2025-03-09 07:00"),
        ("Europe/Berlin", "2025-10-26 02:30", "2025-10-26 00:30"),
        ("Australia/Lord_Howe", "2025-04-06 01:45", "2025-04-05 14:45"),
        ("Australia/Lord_Howe", "2025-10-05 02:15", "2025-10-04 15:30"),
        ("America/Havana", "2025-11-02 00:00", "2025-11-02 04:00"),
        ("Pacific/Apia", "2011-12-30 12:00", "2011-12-30 10:00"),
    ],
)
def test_resolve_ignores_fold(name: str, wall_time: str, expected: str) -> None:
    assert resolve(wall(wall_time).replace(fold=1), zone(name)) == utc(expected)


def test_resolve_of_a_second_occurrence_read_back_is_the_first() -> None:
    tz = zone("America/New_York")
    second = utc("2025-11-02 06:30")  # 01:30 EST, the second 01:30
    assert local(second, tz) == wall("2025-11-02 01:30")
    assert resolve(local(second, tz), tz) == utc("2025-11-02 05:30")


# Transitions worth sweeping, as UTC instants, with how far either side the sweep reaches.
TRANSITIONS = [
    ("America/New_York", "2025-03-09 07:00", 4),
    ("America/New_York", "2025-11-02 06:00", 4),
    ("Europe/Berlin", "2025-03-30 01:00", 4),
    ("Europe/Berlin", "2025-10-26 01:00", 4),
    ("Australia/Lord_Howe", "2025-10-04 15:30", 4),
    ("Australia/Lord_Howe", "2025-04-05 15:00", 4),
    ("Pacific/Apia", "2011-12-30 10:00", 30),
    ("Pacific/Apia", "2012-03-31 14:00", 4),
    ("America/Havana", "2025-03-09 05:00", 4),
    ("America/Havana", "2025-11-02 05:00", 4),
    ("America/Santiago", "2025-09-07 04:00", 4),
    ("America/Santiago", "2025-04-06 03:00", 4),
    ("Asia/Beirut", "2025-03-29 22:00", 4),
    ("Asia/Beirut", "2025-10-25 21:00", 4),
]


@pytest.mark.parametrize(("name", "transition", "hours"), TRANSITIONS)
def test_resolve_is_the_first_instant_whose_wall_time_has_reached_it(
    name: str, transition: str, hours: int
) -> None:
    # An independent statement of the rule: a wall time means the first instant at which the
    # zone's clock shows that time or later. That is the first occurrence of a repeated time
    # and the end of the gap for a skipped one. Checked every five minutes across the edge.
    tz = ZoneInfo(name)
    step = timedelta(minutes=5)
    first = utc(transition) - timedelta(hours=hours + 2)
    instants = [first + step * i for i in range((hours + 2) * 24 + 1)]
    reached: list[datetime] = []  # the latest wall time shown up to each instant
    for instant in instants:
        shown = instant.astimezone(tz).replace(tzinfo=None)
        reached.append(max(shown, reached[-1]) if reached else shown)
    low = (utc(transition) - timedelta(hours=hours)).astimezone(tz).replace(tzinfo=None)
    walls = [low + step * i for i in range(hours * 24)]
    for w in walls:
        expected = instants[bisect.bisect_left(reached, w)]
        assert resolve(w, tz) == expected, w


@pytest.mark.parametrize(("name", "transition", "hours"), TRANSITIONS)
def test_an_instant_read_as_wall_time_resolves_to_itself_or_its_first_occurrence(
    name: str, transition: str, hours: int
) -> None:
    tz = zone(name)
    for minutes in range(-hours * 60, hours * 60, 5):
        instant = utc(transition) + timedelta(minutes=minutes)
        back = resolve(local(instant, tz), tz)
        assert local(back, tz) == local(instant, tz)
        # Only the second pass of a repeated time (fold=1) maps back to an earlier instant.
        second = instant.astimezone(tz).fold == 1
        assert (back < instant) if second else (back == instant), instant


@pytest.mark.parametrize(
    ("name", "instant", "expected"),
    [
        ("America/New_York", "2025-11-02 05:30", "2025-11-02 01:30"),
        ("America/New_York", "2025-11-02 06:30", "2025-11-02 01:30"),
        ("Australia/Lord_Howe", "2025-10-04 15:30", "2025-10-05 02:30"),
        ("Pacific/Apia", "2011-12-30 09:59", "2011-12-29 23:59"),
        ("Pacific/Apia", "2011-12-30 10:00", "2011-12-31 00:00"),
    ],
)
def test_local_is_the_naive_wall_time(name: str, instant: str, expected: str) -> None:
    found = local(utc(instant), zone(name))
    assert found == wall(expected)
    assert found.tzinfo is None


# --- Typed times: exact() and parse_instant() -------------------------------------------------


@pytest.mark.parametrize(
    ("name", "wall_time", "expected"),
    [
        ("America/New_York", "2025-03-09 01:59", "2025-03-09 06:59"),
        ("America/New_York", "2025-03-09 03:00", "2025-03-09 07:00"),
        ("America/New_York", "2025-11-02 00:59", "2025-11-02 04:59"),
        ("America/New_York", "2025-11-02 02:00", "2025-11-02 07:00"),
        ("Australia/Lord_Howe", "2025-04-06 01:29", "2025-04-05 14:29"),
        ("Australia/Lord_Howe", "2025-04-06 02:00", "2025-04-05 15:30"),
        ("Pacific/Apia", "2011-12-31 00:00", "2011-12-30 10:00"),
        ("America/Havana", "2025-03-09 01:00", "2025-03-09 05:00"),
        ("Asia/Beirut", "2025-10-26 00:00", "2025-10-25 22:00"),
    ],
)
def test_exact_accepts_times_that_happen_once(name: str, wall_time: str, expected: str) -> None:
    assert exact(wall(wall_time), zone(name), "start") == utc(expected)


@pytest.mark.parametrize(
    ("name", "wall_time", "words"),
    [
        (
            "America/New_York",
            "2025-03-09 02:30",
            "2025-03-09 02:30 does not exist in America/New_York: the clocks jump over it",
        ),
        ("America/New_York", "2025-03-09 02:00", "use 2025-03-09 03:00"),
        ("Europe/Berlin", "2025-03-30 02:15", "use 2025-03-30 03:00"),
        ("Australia/Lord_Howe", "2025-10-05 02:15", "use 2025-10-05 02:30"),
        ("Pacific/Apia", "2011-12-30 09:00", "use 2011-12-31 00:00"),
        ("America/Havana", "2025-03-09 00:00", "use 2025-03-09 01:00"),
        ("America/Santiago", "2025-09-07 00:30", "use 2025-09-07 01:00"),
        ("Asia/Beirut", "2025-03-30 00:00", "use 2025-03-30 01:00"),
    ],
)
def test_exact_refuses_a_skipped_time_and_says_what_to_use(
    name: str, wall_time: str, words: str
) -> None:
    with pytest.raises(InvalidArgument) as caught:
        exact(wall(wall_time), zone(name), "override.start")
    assert caught.value.field == "override.start"
    assert words in caught.value.rule
    assert "explicit UTC offset" in caught.value.rule


@pytest.mark.parametrize(
    ("name", "wall_time", "first"),
    [
        ("America/New_York", "2025-11-02 01:00", "2025-11-02T01:00-04:00"),
        ("America/New_York", "2025-11-02 01:59", "2025-11-02T01:59-04:00"),
        ("Europe/Berlin", "2025-10-26 02:30", "2025-10-26T02:30+02:00"),
        ("Australia/Lord_Howe", "2025-04-06 01:30", "2025-04-06T01:30+11:00"),
        ("America/Havana", "2025-11-02 00:00", "2025-11-02T00:00-04:00"),
        ("America/Santiago", "2025-04-05 23:30", "2025-04-05T23:30-03:00"),
        ("Asia/Beirut", "2025-10-25 23:15", "2025-10-25T23:15+03:00"),
    ],
)
def test_exact_refuses_a_repeated_time_and_offers_the_first(
    name: str, wall_time: str, first: str
) -> None:
    with pytest.raises(InvalidArgument) as caught:
        exact(wall(wall_time), zone(name), "end")
    assert caught.value.field == "end"
    assert f"{wall(wall_time):%Y-%m-%d %H:%M} happens twice in {name}" in caught.value.rule
    assert f"e.g. {first} for the first" in caught.value.rule


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-07-01T09:00", "2025-07-01 13:00"),
        ("2025-07-01 09:00:30", "2025-07-01 13:00:30"),
        ("  2025-07-01T09:00  ", "2025-07-01 13:00"),
        ("2025-07-01", "2025-07-01 04:00"),  # a date is its midnight
        ("2025-07-01T09:00Z", "2025-07-01 09:00"),
        ("2025-07-01T09:00+02:00", "2025-07-01 07:00"),
        # An explicit offset picks either pass of a repeated time, and is never refused.
        ("2025-11-02T01:30-04:00", "2025-11-02 05:30"),
        ("2025-11-02T01:30-05:00", "2025-11-02 06:30"),
        ("2025-03-09T02:30-05:00", "2025-03-09 07:30"),
    ],
)
def test_parse_instant_reads_iso_8601(text: str, expected: str) -> None:
    found = parse_instant(text, zone("America/New_York"), "at")
    assert found == utc(expected)
    assert found.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("2025-03-09T02:30", "does not exist in America/New_York"),
        ("2025-11-02T01:30", "happens twice in America/New_York"),
        ("", "must be an ISO 8601 time"),
        ("tomorrow", "must be an ISO 8601 time such as 2026-03-08T09:00 or"),
        ("2025-02-30T09:00", "not '2025-02-30T09:00'"),
        ("09:00", "must be an ISO 8601 time"),
    ],
)
def test_parse_instant_refuses_what_it_cannot_place(text: str, words: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        parse_instant(text, zone("America/New_York"), "at")
    assert caught.value.field == "at"
    assert words in caught.value.rule


@pytest.mark.parametrize(
    "name",
    ["America/New_York", "Europe/Berlin", "Australia/Lord_Howe", "Pacific/Apia", "UTC"],
)
def test_zone_finds_iana_names(name: str) -> None:
    assert zone(name).key == name


@pytest.mark.parametrize(
    "name",
    [
        "",
        " Europe/Berlin",
        "Europe/Berlin ",
        "Mars/Olympus_Mons",
        "/etc/passwd",
        "../../etc/passwd",
        ".hidden",
        "Europe/../../etc/passwd",
        "x" * 65,
    ],
)
def test_zone_refuses_what_is_not_a_zone_name(name: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        zone(name, "schedule.time_zone")
    assert caught.value.field == "schedule.time_zone"
    assert "must be an IANA time zone name" in caught.value.rule
