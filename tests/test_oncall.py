"""Who is on call, worked out by hand across DST edges.

Every instant here is written as the wall clock showed it, with its UTC offset, and every
expectation too: "2025-03-09T03:00-04:00" is 03:00 EDT, the first instant after New York
springs forward. The transitions used (all from the tz database):

- America/New_York: 2025-03-09 02:00 -> 03:00; 2025-11-02 02:00 -> 01:00.
- Europe/Berlin: 2025-03-30 02:00 -> 03:00; 2025-10-26 03:00 -> 02:00.
- Australia/Lord_Howe: 2025-10-05 02:00 -> 02:30; 2025-04-06 02:00 -> 01:30 (half hours).
- Pacific/Apia: 2011-12-29 24:00 -10 -> 2011-12-31 00:00 +14 (no 30 December).
- America/Havana: 2025-03-09 00:00 -> 01:00 (no midnight).
- America/Santiago: 2025-04-06 00:00 -> 2025-04-05 23:00 (23:xx twice).
- Asia/Beirut: 2025-03-30 00:00 -> 01:00 (no midnight).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta

import pytest

from service.core.wallclock import zone
from service.oncall.model import (
    OnCallChange,
    Override,
    Participants,
    Restriction,
    Rotation,
    Schedule,
    Timeline,
    Unit,
)
from service.oncall.shifts import (
    next_handoff_shift,
    next_on_call,
    participant,
    previous_on_call,
    segments,
    timeline,
    who_is_on_call,
)

ABC = ("a", "b", "c")
MON, FRI = 0, 4
NY, BERLIN, LORD_HOWE, APIA = (
    "America/New_York",
    "Europe/Berlin",
    "Australia/Lord_Howe",
    "Pacific/Apia",
)
HAVANA, SANTIAGO, BEIRUT = "America/Havana", "America/Santiago", "Asia/Beirut"
# Overrides are added in this order unless a case says otherwise.
ADDED = datetime(2025, 1, 1, tzinfo=UTC)


def t(text: str) -> datetime:
    """An instant written as wall time with its offset."""
    found = datetime.fromisoformat(text)
    assert found.tzinfo is not None, text
    return found


def rotation(
    unit: Unit,
    length: int,
    start: str,
    users: Sequence[str | None] = ABC,
    *,
    name: str = "primary",
    end: str | None = None,
    restrictions: Sequence[Restriction] = (),
    history: Sequence[Participants] | None = None,
) -> Rotation:
    return Rotation(
        name=name,
        unit=unit,
        length=length,
        start=t(start),
        end=None if end is None else t(end),
        participants=tuple(history) if history is not None else (Participants(0, tuple(users)),),
        restrictions=tuple(restrictions),
    )


def schedule(time_zone: str, *rotations: Rotation) -> Schedule:
    return Schedule(id="s1", name="ops", team_id="t1", time_zone=time_zone, rotations=rotations)


def override(
    id: str,
    user: str,
    start: str,
    end: str,
    rotation: str = "primary",
    created: datetime = ADDED,
) -> Override:
    return Override(id, "s1", user, t(start), t(end), rotation, created)


def wall(instant: datetime, time_zone: str) -> str:
    return instant.astimezone(zone(time_zone)).isoformat(timespec="minutes")


def shifts_of(line: Timeline, time_zone: str) -> list[tuple[str, str, str]]:
    return [(s.user, wall(s.start, time_zone), wall(s.end, time_zone)) for s in line.shifts]


def layered(line: Timeline, time_zone: str) -> list[tuple[str, str, str, str, str]]:
    """Shifts with the rotation and override each came through."""
    return [
        (s.user, wall(s.start, time_zone), wall(s.end, time_zone), s.rotation, s.override)
        for s in line.shifts
    ]


def gaps_of(line: Timeline, time_zone: str) -> list[tuple[str, str]]:
    return [(wall(g.start, time_zone), wall(g.end, time_zone)) for g in line.gaps]


def on_call(sched: Schedule, overrides: Sequence[Override], at: str) -> list[tuple[str, str, str]]:
    return [(c.user, c.rotation, c.override) for c in who_is_on_call(sched, overrides, t(at))]


# --- Handoffs of each kind of rotation ---------------------------------------------------------

# (zone, rotation, [from, to), the shifts as (user, start, end)); users a, b, c from shift 0.
HANDOFFS = {
    "new-york-hourly-spring-forward": (
        NY,
        rotation(Unit.HOURS, 1, "2025-03-09T00:00-05:00"),
        ("2025-03-09T00:00-05:00", "2025-03-09T05:00-04:00"),
        [
            ("a", "2025-03-09T00:00-05:00", "2025-03-09T01:00-05:00"),
            ("b", "2025-03-09T01:00-05:00", "2025-03-09T03:00-04:00"),
            # c's 02:00 slot never happened: it is dropped, but still counted, so 03:00 is a's.
            ("a", "2025-03-09T03:00-04:00", "2025-03-09T04:00-04:00"),
            ("b", "2025-03-09T04:00-04:00", "2025-03-09T05:00-04:00"),
        ],
    ),
    "new-york-hourly-fall-back": (
        NY,
        rotation(Unit.HOURS, 1, "2025-11-02T00:00-04:00"),
        ("2025-11-02T00:00-04:00", "2025-11-02T03:00-05:00"),
        [
            ("a", "2025-11-02T00:00-04:00", "2025-11-02T01:00-04:00"),
            # From the first 01:00 to 02:00: two hours of elapsed time.
            ("b", "2025-11-02T01:00-04:00", "2025-11-02T02:00-05:00"),
            ("c", "2025-11-02T02:00-05:00", "2025-11-02T03:00-05:00"),
        ],
    ),
    "new-york-daily-spring-forward": (
        NY,
        rotation(Unit.DAYS, 1, "2025-03-07T09:00-05:00"),
        ("2025-03-07T09:00-05:00", "2025-03-11T09:00-04:00"),
        [
            ("a", "2025-03-07T09:00-05:00", "2025-03-08T09:00-05:00"),
            ("b", "2025-03-08T09:00-05:00", "2025-03-09T09:00-04:00"),  # 23 hours
            ("c", "2025-03-09T09:00-04:00", "2025-03-10T09:00-04:00"),
            ("a", "2025-03-10T09:00-04:00", "2025-03-11T09:00-04:00"),
        ],
    ),
    "new-york-daily-clipped-to-the-interval": (
        NY,
        rotation(Unit.DAYS, 1, "2025-03-07T09:00-05:00"),
        ("2025-03-08T15:00-05:00", "2025-03-09T12:00-04:00"),
        [
            ("b", "2025-03-08T15:00-05:00", "2025-03-09T09:00-04:00"),
            ("c", "2025-03-09T09:00-04:00", "2025-03-09T12:00-04:00"),
        ],
    ),
    "berlin-weekly-fall-back": (
        BERLIN,
        rotation(Unit.WEEKS, 1, "2025-10-20T10:00+02:00"),
        ("2025-10-20T10:00+02:00", "2025-11-03T10:00+01:00"),
        [
            ("a", "2025-10-20T10:00+02:00", "2025-10-27T10:00+01:00"),
            ("b", "2025-10-27T10:00+01:00", "2025-11-03T10:00+01:00"),
        ],
    ),
    "berlin-daily-handoff-in-the-gap": (
        BERLIN,
        rotation(Unit.DAYS, 1, "2025-03-28T02:30+01:00"),
        ("2025-03-28T02:30+01:00", "2025-03-31T02:30+02:00"),
        [
            ("a", "2025-03-28T02:30+01:00", "2025-03-29T02:30+01:00"),
            ("b", "2025-03-29T02:30+01:00", "2025-03-30T03:00+02:00"),  # end of the gap
            ("c", "2025-03-30T03:00+02:00", "2025-03-31T02:30+02:00"),
        ],
    ),
    "berlin-daily-handoff-in-the-repeated-hour": (
        BERLIN,
        rotation(Unit.DAYS, 1, "2025-10-24T02:30+02:00"),
        ("2025-10-24T02:30+02:00", "2025-10-27T02:30+01:00"),
        [
            ("a", "2025-10-24T02:30+02:00", "2025-10-25T02:30+02:00"),
            ("b", "2025-10-25T02:30+02:00", "2025-10-26T02:30+02:00"),  # first 02:30
            ("c", "2025-10-26T02:30+02:00", "2025-10-27T02:30+01:00"),  # 25 hours
        ],
    ),
    "lord-howe-hourly-half-hour-gap": (
        LORD_HOWE,
        rotation(Unit.HOURS, 1, "2025-10-05T00:00+10:30"),
        ("2025-10-05T00:00+10:30", "2025-10-05T04:00+11:00"),
        [
            ("a", "2025-10-05T00:00+10:30", "2025-10-05T01:00+10:30"),
            ("b", "2025-10-05T01:00+10:30", "2025-10-05T02:30+11:00"),
            ("c", "2025-10-05T02:30+11:00", "2025-10-05T03:00+11:00"),  # half an hour
            ("a", "2025-10-05T03:00+11:00", "2025-10-05T04:00+11:00"),
        ],
    ),
    "lord-howe-hourly-half-hour-repeat": (
        LORD_HOWE,
        rotation(Unit.HOURS, 1, "2025-04-06T00:00+11:00"),
        ("2025-04-06T00:00+11:00", "2025-04-06T03:00+10:30"),
        [
            ("a", "2025-04-06T00:00+11:00", "2025-04-06T01:00+11:00"),
            ("b", "2025-04-06T01:00+11:00", "2025-04-06T02:00+10:30"),  # 90 minutes
            ("c", "2025-04-06T02:00+10:30", "2025-04-06T03:00+10:30"),
        ],
    ),
    "lord-howe-daily-handoff-in-the-repeated-half-hour": (
        LORD_HOWE,
        rotation(Unit.DAYS, 1, "2025-04-04T01:45+11:00"),
        ("2025-04-04T01:45+11:00", "2025-04-07T01:45+10:30"),
        [
            ("a", "2025-04-04T01:45+11:00", "2025-04-05T01:45+11:00"),
            ("b", "2025-04-05T01:45+11:00", "2025-04-06T01:45+11:00"),
            ("c", "2025-04-06T01:45+11:00", "2025-04-07T01:45+10:30"),
        ],
    ),
    "apia-daily-at-midnight-over-the-lost-day": (
        APIA,
        rotation(Unit.DAYS, 1, "2011-12-28T00:00-10:00"),
        ("2011-12-28T00:00-10:00", "2012-01-02T00:00+14:00"),
        [
            ("a", "2011-12-28T00:00-10:00", "2011-12-29T00:00-10:00"),
            ("b", "2011-12-29T00:00-10:00", "2011-12-31T00:00+14:00"),
            # c's slot, 30 December, never happened; the count goes on with a.
            ("a", "2011-12-31T00:00+14:00", "2012-01-01T00:00+14:00"),
            ("b", "2012-01-01T00:00+14:00", "2012-01-02T00:00+14:00"),
        ],
    ),
    "apia-daily-in-the-morning-over-the-lost-day": (
        APIA,
        rotation(Unit.DAYS, 1, "2011-12-28T09:00-10:00"),
        ("2011-12-28T09:00-10:00", "2012-01-01T09:00+14:00"),
        [
            ("a", "2011-12-28T09:00-10:00", "2011-12-29T09:00-10:00"),
            ("b", "2011-12-29T09:00-10:00", "2011-12-31T00:00+14:00"),  # 15 hours
            ("c", "2011-12-31T00:00+14:00", "2011-12-31T09:00+14:00"),  # 9 hours
            ("a", "2011-12-31T09:00+14:00", "2012-01-01T09:00+14:00"),
        ],
    ),
    "apia-hourly-over-the-lost-day": (
        APIA,
        rotation(Unit.HOURS, 1, "2011-12-29T22:00-10:00"),
        ("2011-12-29T22:00-10:00", "2011-12-31T02:00+14:00"),
        [
            ("a", "2011-12-29T22:00-10:00", "2011-12-29T23:00-10:00"),
            ("b", "2011-12-29T23:00-10:00", "2011-12-31T00:00+14:00"),
            # Shifts 2-25 were the hours of 30 December; 26 is 31 December 00:00: 26 % 3 = 2.
            ("c", "2011-12-31T00:00+14:00", "2011-12-31T01:00+14:00"),
            ("a", "2011-12-31T01:00+14:00", "2011-12-31T02:00+14:00"),
        ],
    ),
    "havana-daily-at-a-skipped-midnight": (
        HAVANA,
        rotation(Unit.DAYS, 1, "2025-03-07T00:00-05:00"),
        ("2025-03-07T00:00-05:00", "2025-03-11T00:00-04:00"),
        [
            ("a", "2025-03-07T00:00-05:00", "2025-03-08T00:00-05:00"),
            ("b", "2025-03-08T00:00-05:00", "2025-03-09T01:00-04:00"),
            ("c", "2025-03-09T01:00-04:00", "2025-03-10T00:00-04:00"),  # 23 hours
            ("a", "2025-03-10T00:00-04:00", "2025-03-11T00:00-04:00"),
        ],
    ),
    "santiago-daily-in-the-repeated-hour": (
        SANTIAGO,
        rotation(Unit.DAYS, 1, "2025-04-03T23:30-03:00"),
        ("2025-04-03T23:30-03:00", "2025-04-06T23:30-04:00"),
        [
            ("a", "2025-04-03T23:30-03:00", "2025-04-04T23:30-03:00"),
            ("b", "2025-04-04T23:30-03:00", "2025-04-05T23:30-03:00"),
            ("c", "2025-04-05T23:30-03:00", "2025-04-06T23:30-04:00"),
        ],
    ),
    "beirut-weekly-at-a-skipped-midnight": (
        BEIRUT,
        rotation(Unit.WEEKS, 1, "2025-03-23T00:00+02:00"),
        ("2025-03-23T00:00+02:00", "2025-04-06T00:00+03:00"),
        [
            ("a", "2025-03-23T00:00+02:00", "2025-03-30T01:00+03:00"),
            ("b", "2025-03-30T01:00+03:00", "2025-04-06T00:00+03:00"),
        ],
    ),
    "new-york-4h-steps-in-wall-time": (
        NY,
        rotation(Unit.HOURS, 4, "2025-03-08T22:00-05:00"),
        ("2025-03-08T22:00-05:00", "2025-03-09T10:00-04:00"),
        [
            ("a", "2025-03-08T22:00-05:00", "2025-03-09T03:00-04:00"),
            ("b", "2025-03-09T03:00-04:00", "2025-03-09T06:00-04:00"),  # 3 hours
            ("c", "2025-03-09T06:00-04:00", "2025-03-09T10:00-04:00"),
        ],
    ),
    "havana-12h-steps-in-wall-time": (
        HAVANA,
        rotation(Unit.HOURS, 12, "2025-03-08T00:00-05:00"),
        ("2025-03-08T00:00-05:00", "2025-03-09T12:00-04:00"),
        [
            ("a", "2025-03-08T00:00-05:00", "2025-03-08T12:00-05:00"),
            ("b", "2025-03-08T12:00-05:00", "2025-03-09T01:00-04:00"),
            ("c", "2025-03-09T01:00-04:00", "2025-03-09T12:00-04:00"),
        ],
    ),
    "berlin-2d-steps-in-wall-time": (
        BERLIN,
        rotation(Unit.DAYS, 2, "2025-10-24T08:00+02:00"),
        ("2025-10-24T08:00+02:00", "2025-10-30T08:00+01:00"),
        [
            ("a", "2025-10-24T08:00+02:00", "2025-10-26T08:00+01:00"),  # 49 hours
            ("b", "2025-10-26T08:00+01:00", "2025-10-28T08:00+01:00"),
            ("c", "2025-10-28T08:00+01:00", "2025-10-30T08:00+01:00"),
        ],
    ),
    "new-york-2w-steps-in-wall-time": (
        NY,
        rotation(Unit.WEEKS, 2, "2025-03-03T09:00-05:00"),
        ("2025-03-03T09:00-05:00", "2025-03-31T09:00-04:00"),
        [
            ("a", "2025-03-03T09:00-05:00", "2025-03-17T09:00-04:00"),
            ("b", "2025-03-17T09:00-04:00", "2025-03-31T09:00-04:00"),
        ],
    ),
    "new-york-5h-is-elapsed-time": (
        NY,
        rotation(Unit.HOURS, 5, "2025-03-08T22:00-05:00"),
        ("2025-03-08T22:00-05:00", "2025-03-09T14:00-04:00"),
        [
            ("a", "2025-03-08T22:00-05:00", "2025-03-09T04:00-04:00"),
            ("b", "2025-03-09T04:00-04:00", "2025-03-09T09:00-04:00"),
            ("c", "2025-03-09T09:00-04:00", "2025-03-09T14:00-04:00"),
        ],
    ),
    "berlin-36h-is-elapsed-time": (
        BERLIN,
        rotation(Unit.HOURS, 36, "2025-10-25T08:00+02:00"),
        ("2025-10-25T08:00+02:00", "2025-10-28T07:00+01:00"),
        [
            ("a", "2025-10-25T08:00+02:00", "2025-10-26T19:00+01:00"),
            ("b", "2025-10-26T19:00+01:00", "2025-10-28T07:00+01:00"),
        ],
    ),
    "lord-howe-7h-is-elapsed-time": (
        LORD_HOWE,
        rotation(Unit.HOURS, 7, "2025-10-04T22:00+10:30"),
        ("2025-10-04T22:00+10:30", "2025-10-05T12:30+11:00"),
        [
            ("a", "2025-10-04T22:00+10:30", "2025-10-05T05:30+11:00"),
            ("b", "2025-10-05T05:30+11:00", "2025-10-05T12:30+11:00"),
        ],
    ),
    "new-york-48h-is-elapsed-time": (
        NY,
        rotation(Unit.HOURS, 48, "2025-03-08T09:00-05:00"),
        ("2025-03-08T09:00-05:00", "2025-03-12T10:00-04:00"),
        [
            ("a", "2025-03-08T09:00-05:00", "2025-03-10T10:00-04:00"),
            ("b", "2025-03-10T10:00-04:00", "2025-03-12T10:00-04:00"),
        ],
    ),
    "apia-rotation-ends-mid-shift": (
        APIA,
        rotation(
            Unit.DAYS, 1, "2011-12-28T09:00-10:00", end="2011-12-31T06:00+14:00", users=("a", "b")
        ),
        ("2011-12-28T00:00-10:00", "2012-01-01T00:00+14:00"),
        [
            ("a", "2011-12-28T09:00-10:00", "2011-12-29T09:00-10:00"),
            ("b", "2011-12-29T09:00-10:00", "2011-12-31T00:00+14:00"),
            ("a", "2011-12-31T00:00+14:00", "2011-12-31T06:00+14:00"),
        ],
    ),
}


@pytest.mark.parametrize(
    ("time_zone", "rot", "window", "expected"), HANDOFFS.values(), ids=HANDOFFS
)
def test_timeline_hands_off_at_wall_clock_times(
    time_zone: str,
    rot: Rotation,
    window: tuple[str, str],
    expected: list[tuple[str, str, str]],
) -> None:
    line = timeline(schedule(time_zone, rot), [], t(window[0]), t(window[1]))
    assert shifts_of(line, time_zone) == expected
    assert all(s.rotation == rot.name and not s.override for s in line.shifts)


@pytest.mark.parametrize(
    ("time_zone", "rot", "window", "expected"), HANDOFFS.values(), ids=HANDOFFS
)
def test_who_is_on_call_at_each_handoff(
    time_zone: str,
    rot: Rotation,
    window: tuple[str, str],
    expected: list[tuple[str, str, str]],
) -> None:
    sched = schedule(time_zone, rot)
    for user, start, end in expected:
        assert on_call(sched, [], start) == [(user, rot.name, "")], start
        # The last minute before a shift ends is still its own.
        at = t(end) - timedelta(minutes=1)
        found = who_is_on_call(sched, [], at)
        assert [(c.user, c.rotation, c.override) for c in found] == [(user, rot.name, "")], at


# --- Restrictions ------------------------------------------------------------------------------

RESTRICTED = {
    "new-york-nights-cross-midnight-and-spring-forward": (
        NY,
        rotation(
            Unit.DAYS,
            1,
            "2025-03-07T00:00-05:00",
            restrictions=[Restriction(time(22), time(6))],
        ),
        ("2025-03-07T00:00-05:00", "2025-03-10T12:00-04:00"),
        [
            ("a", "2025-03-07T00:00-05:00", "2025-03-07T06:00-05:00"),
            ("a", "2025-03-07T22:00-05:00", "2025-03-08T00:00-05:00"),
            ("b", "2025-03-08T00:00-05:00", "2025-03-08T06:00-05:00"),
            ("b", "2025-03-08T22:00-05:00", "2025-03-09T00:00-05:00"),
            ("c", "2025-03-09T00:00-05:00", "2025-03-09T06:00-04:00"),  # 5 hours
            ("c", "2025-03-09T22:00-04:00", "2025-03-10T00:00-04:00"),
            ("a", "2025-03-10T00:00-04:00", "2025-03-10T06:00-04:00"),
        ],
        [
            ("2025-03-07T06:00-05:00", "2025-03-07T22:00-05:00"),
            ("2025-03-08T06:00-05:00", "2025-03-08T22:00-05:00"),
            ("2025-03-09T06:00-04:00", "2025-03-09T22:00-04:00"),
            ("2025-03-10T06:00-04:00", "2025-03-10T12:00-04:00"),
        ],
    ),
    "berlin-weekdays-mon-9-to-fri-17": (
        BERLIN,
        rotation(
            Unit.DAYS,
            1,
            "2025-10-20T09:00+02:00",
            restrictions=[Restriction(time(9), time(17), MON, FRI)],
        ),
        ("2025-10-20T00:00+02:00", "2025-10-28T00:00+01:00"),
        [
            ("a", "2025-10-20T09:00+02:00", "2025-10-21T09:00+02:00"),
            ("b", "2025-10-21T09:00+02:00", "2025-10-22T09:00+02:00"),
            ("c", "2025-10-22T09:00+02:00", "2025-10-23T09:00+02:00"),
            ("a", "2025-10-23T09:00+02:00", "2025-10-24T09:00+02:00"),
            ("b", "2025-10-24T09:00+02:00", "2025-10-24T17:00+02:00"),
            # Saturday is c's and Sunday a's, both off duty; Monday is shift 7, b's.
            ("b", "2025-10-27T09:00+01:00", "2025-10-28T00:00+01:00"),
        ],
        [
            ("2025-10-20T00:00+02:00", "2025-10-20T09:00+02:00"),
            ("2025-10-24T17:00+02:00", "2025-10-27T09:00+01:00"),
        ],
    ),
    "new-york-weekend-fri-18-to-mon-8-wraps-the-week": (
        NY,
        rotation(
            Unit.WEEKS,
            1,
            "2025-03-03T08:00-05:00",
            users=("a", "b"),
            restrictions=[Restriction(time(18), time(8), FRI, MON)],
        ),
        ("2025-03-03T00:00-05:00", "2025-03-17T12:00-04:00"),
        [
            ("a", "2025-03-07T18:00-05:00", "2025-03-10T08:00-04:00"),  # 61 hours
            ("b", "2025-03-14T18:00-04:00", "2025-03-17T08:00-04:00"),
        ],
        [
            ("2025-03-03T00:00-05:00", "2025-03-07T18:00-05:00"),
            ("2025-03-10T08:00-04:00", "2025-03-14T18:00-04:00"),
            ("2025-03-17T08:00-04:00", "2025-03-17T12:00-04:00"),
        ],
    ),
    "havana-evenings-end-at-a-skipped-midnight": (
        HAVANA,
        rotation(
            Unit.DAYS,
            1,
            "2025-03-07T12:00-05:00",
            restrictions=[Restriction(time(20), time(0))],
        ),
        ("2025-03-08T00:00-05:00", "2025-03-10T12:00-04:00"),
        [
            ("b", "2025-03-08T20:00-05:00", "2025-03-09T01:00-04:00"),
            ("c", "2025-03-09T20:00-04:00", "2025-03-10T00:00-04:00"),
        ],
        [
            ("2025-03-08T00:00-05:00", "2025-03-08T20:00-05:00"),
            ("2025-03-09T01:00-04:00", "2025-03-09T20:00-04:00"),
            ("2025-03-10T00:00-04:00", "2025-03-10T12:00-04:00"),
        ],
    ),
    "santiago-night-over-the-repeated-hour": (
        SANTIAGO,
        rotation(
            Unit.DAYS,
            1,
            "2025-04-05T12:00-03:00",
            users=("a",),
            restrictions=[Restriction(time(22), time(2))],
        ),
        ("2025-04-05T12:00-03:00", "2025-04-06T12:00-04:00"),
        [("a", "2025-04-05T22:00-03:00", "2025-04-06T02:00-04:00")],  # 5 hours
        [
            ("2025-04-05T12:00-03:00", "2025-04-05T22:00-03:00"),
            ("2025-04-06T02:00-04:00", "2025-04-06T12:00-04:00"),
        ],
    ),
    "lord-howe-window-inside-the-half-hour-gap": (
        LORD_HOWE,
        rotation(
            Unit.DAYS,
            1,
            "2025-10-03T12:00+10:30",
            users=("a",),
            restrictions=[Restriction(time(2), time(2, 30))],
        ),
        ("2025-10-04T00:00+10:30", "2025-10-07T00:00+11:00"),
        [
            ("a", "2025-10-04T02:00+10:30", "2025-10-04T02:30+10:30"),
            # 02:00-02:30 on 5 October never happened.
            ("a", "2025-10-06T02:00+11:00", "2025-10-06T02:30+11:00"),
        ],
        [
            ("2025-10-04T00:00+10:30", "2025-10-04T02:00+10:30"),
            ("2025-10-04T02:30+10:30", "2025-10-06T02:00+11:00"),
            ("2025-10-06T02:30+11:00", "2025-10-07T00:00+11:00"),
        ],
    ),
    "beirut-office-hours-until-the-rotation-ends": (
        BEIRUT,
        rotation(
            Unit.DAYS,
            1,
            "2025-03-28T09:00+02:00",
            end="2025-03-31T12:00+03:00",
            restrictions=[Restriction(time(8), time(18))],
        ),
        ("2025-03-28T00:00+02:00", "2025-04-02T00:00+03:00"),
        [
            ("a", "2025-03-28T09:00+02:00", "2025-03-28T18:00+02:00"),
            ("a", "2025-03-29T08:00+02:00", "2025-03-29T09:00+02:00"),
            ("b", "2025-03-29T09:00+02:00", "2025-03-29T18:00+02:00"),
            ("b", "2025-03-30T08:00+03:00", "2025-03-30T09:00+03:00"),
            ("c", "2025-03-30T09:00+03:00", "2025-03-30T18:00+03:00"),
            ("c", "2025-03-31T08:00+03:00", "2025-03-31T09:00+03:00"),
            ("a", "2025-03-31T09:00+03:00", "2025-03-31T12:00+03:00"),
        ],
        [
            ("2025-03-28T00:00+02:00", "2025-03-28T09:00+02:00"),
            ("2025-03-28T18:00+02:00", "2025-03-29T08:00+02:00"),
            ("2025-03-29T18:00+02:00", "2025-03-30T08:00+03:00"),
            ("2025-03-30T18:00+03:00", "2025-03-31T08:00+03:00"),
            ("2025-03-31T12:00+03:00", "2025-04-02T00:00+03:00"),
        ],
    ),
    "new-york-touching-and-overlapping-windows-merge": (
        NY,
        rotation(
            Unit.DAYS,
            1,
            "2025-03-07T00:00-05:00",
            users=("a",),
            restrictions=[
                Restriction(time(8), time(12)),
                Restriction(time(12), time(13)),
                Restriction(time(12, 30), time(16)),
            ],
        ),
        ("2025-03-07T00:00-05:00", "2025-03-08T00:00-05:00"),
        [("a", "2025-03-07T08:00-05:00", "2025-03-07T16:00-05:00")],
        [
            ("2025-03-07T00:00-05:00", "2025-03-07T08:00-05:00"),
            ("2025-03-07T16:00-05:00", "2025-03-08T00:00-05:00"),
        ],
    ),
    "new-york-a-window-ending-where-it-starts-lasts-all-day": (
        NY,
        rotation(
            Unit.DAYS,
            1,
            "2025-03-08T00:00-05:00",
            restrictions=[Restriction(time(9), time(9))],
        ),
        ("2025-03-08T00:00-05:00", "2025-03-10T00:00-04:00"),
        [
            ("a", "2025-03-08T00:00-05:00", "2025-03-09T00:00-05:00"),
            ("b", "2025-03-09T00:00-05:00", "2025-03-10T00:00-04:00"),
        ],
        [],
    ),
    "berlin-a-week-ending-where-it-starts-lasts-all-week": (
        BERLIN,
        rotation(
            Unit.WEEKS,
            1,
            "2025-10-20T09:00+02:00",
            users=("a", "b"),
            restrictions=[Restriction(time(9), time(9), MON, MON)],
        ),
        ("2025-10-20T09:00+02:00", "2025-10-28T09:00+01:00"),
        [
            ("a", "2025-10-20T09:00+02:00", "2025-10-27T09:00+01:00"),
            ("b", "2025-10-27T09:00+01:00", "2025-10-28T09:00+01:00"),
        ],
        [],
    ),
    "berlin-empty-slots-are-off-call": (
        BERLIN,
        rotation(Unit.DAYS, 1, "2025-10-25T09:00+02:00", users=("a", None)),
        ("2025-10-25T09:00+02:00", "2025-10-28T09:00+01:00"),
        [
            ("a", "2025-10-25T09:00+02:00", "2025-10-26T09:00+01:00"),
            ("a", "2025-10-27T09:00+01:00", "2025-10-28T09:00+01:00"),
        ],
        [("2025-10-26T09:00+01:00", "2025-10-27T09:00+01:00")],
    ),
}


@pytest.mark.parametrize(
    ("time_zone", "rot", "window", "expected", "gaps"), RESTRICTED.values(), ids=RESTRICTED
)
def test_restrictions_limit_when_a_rotation_is_on_duty(
    time_zone: str,
    rot: Rotation,
    window: tuple[str, str],
    expected: list[tuple[str, str, str]],
    gaps: list[tuple[str, str]],
) -> None:
    sched = schedule(time_zone, rot)
    line = timeline(sched, [], t(window[0]), t(window[1]))
    assert shifts_of(line, time_zone) == expected
    assert gaps_of(line, time_zone) == gaps
    for user, start, _ in expected:
        assert on_call(sched, [], start) == [(user, rot.name, "")], start
    for start, _ in gaps:
        assert on_call(sched, [], start) == [], start


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        ("2025-03-07T17:59-05:00", []),
        ("2025-03-07T18:00-05:00", ["a"]),
        ("2025-03-08T12:00-05:00", ["a"]),
        ("2025-03-09T03:00-04:00", ["a"]),  # the weekend's missing hour changes nothing
        ("2025-03-10T07:59-04:00", ["a"]),
        ("2025-03-10T08:00-04:00", []),
        ("2025-03-12T12:00-04:00", []),
        ("2025-03-16T23:00-04:00", ["b"]),
    ],
)
def test_a_weekly_restriction_that_wraps_the_week(at: str, expected: list[str]) -> None:
    rot = rotation(
        Unit.WEEKS,
        1,
        "2025-03-03T08:00-05:00",
        users=("a", "b"),
        restrictions=[Restriction(time(18), time(8), FRI, MON)],
    )
    found = who_is_on_call(schedule(NY, rot), [], t(at))
    assert [c.user for c in found] == expected


# --- Overrides ---------------------------------------------------------------------------------

# Berlin, daily at 09:00 from Monday 20 October: a, b, c, a, b, c (Saturday), a (Sunday 26th,
# after the clocks go back), b.
DAILY = rotation(Unit.DAYS, 1, "2025-10-20T09:00+02:00")
OFFICE = rotation(
    Unit.DAYS, 1, "2025-10-20T09:00+02:00", restrictions=[Restriction(time(9), time(17))]
)
SECOND = rotation(Unit.WEEKS, 1, "2025-10-20T09:00+02:00", users=("s",), name="secondary")
P = "primary"

OVERRIDDEN = {
    "starting-exactly-at-a-handoff": (
        BERLIN,
        (DAILY,),
        [override("o1", "x", "2025-10-21T09:00+02:00", "2025-10-21T15:00+02:00")],
        ("2025-10-20T09:00+02:00", "2025-10-22T09:00+02:00"),
        [
            ("a", "2025-10-20T09:00+02:00", "2025-10-21T09:00+02:00", P, ""),
            ("x", "2025-10-21T09:00+02:00", "2025-10-21T15:00+02:00", P, "o1"),
            ("b", "2025-10-21T15:00+02:00", "2025-10-22T09:00+02:00", P, ""),
        ],
    ),
    "ending-exactly-at-a-handoff": (
        BERLIN,
        (DAILY,),
        [override("o1", "x", "2025-10-20T21:00+02:00", "2025-10-21T09:00+02:00")],
        ("2025-10-20T09:00+02:00", "2025-10-22T09:00+02:00"),
        [
            ("a", "2025-10-20T09:00+02:00", "2025-10-20T21:00+02:00", P, ""),
            ("x", "2025-10-20T21:00+02:00", "2025-10-21T09:00+02:00", P, "o1"),
            ("b", "2025-10-21T09:00+02:00", "2025-10-22T09:00+02:00", P, ""),
        ],
    ),
    "spanning-several-shifts-and-the-fall-back": (
        BERLIN,
        (DAILY,),
        [override("o1", "x", "2025-10-24T12:00+02:00", "2025-10-27T12:00+01:00")],
        ("2025-10-24T09:00+02:00", "2025-10-28T09:00+01:00"),
        [
            ("b", "2025-10-24T09:00+02:00", "2025-10-24T12:00+02:00", P, ""),
            # The override stands in for each shift it covers, one piece per shift.
            ("x", "2025-10-24T12:00+02:00", "2025-10-25T09:00+02:00", P, "o1"),
            ("x", "2025-10-25T09:00+02:00", "2025-10-26T09:00+01:00", P, "o1"),
            ("x", "2025-10-26T09:00+01:00", "2025-10-27T09:00+01:00", P, "o1"),
            ("x", "2025-10-27T09:00+01:00", "2025-10-27T12:00+01:00", P, "o1"),
            ("b", "2025-10-27T12:00+01:00", "2025-10-28T09:00+01:00", P, ""),
        ],
    ),
    "rotation-limited-only-while-the-rotation-is-on-duty": (
        BERLIN,
        (OFFICE,),
        [override("o1", "x", "2025-10-20T12:00+02:00", "2025-10-21T12:00+02:00")],
        ("2025-10-20T00:00+02:00", "2025-10-22T00:00+02:00"),
        [
            ("a", "2025-10-20T09:00+02:00", "2025-10-20T12:00+02:00", P, ""),
            ("x", "2025-10-20T12:00+02:00", "2025-10-20T17:00+02:00", P, "o1"),
            ("x", "2025-10-21T09:00+02:00", "2025-10-21T12:00+02:00", P, "o1"),
            ("b", "2025-10-21T12:00+02:00", "2025-10-21T17:00+02:00", P, ""),
        ],
    ),
    "rotation-limited-fills-an-empty-slot": (
        BERLIN,
        (rotation(Unit.DAYS, 1, "2025-10-20T09:00+02:00", users=("a", None)),),
        [override("o1", "x", "2025-10-21T00:00+02:00", "2025-10-22T00:00+02:00")],
        ("2025-10-20T09:00+02:00", "2025-10-22T09:00+02:00"),
        [
            ("a", "2025-10-20T09:00+02:00", "2025-10-21T00:00+02:00", P, ""),
            ("x", "2025-10-21T00:00+02:00", "2025-10-21T09:00+02:00", P, "o1"),
            ("x", "2025-10-21T09:00+02:00", "2025-10-22T00:00+02:00", P, "o1"),
        ],
    ),
    "rotation-limited-stops-where-the-rotation-ends": (
        BERLIN,
        (rotation(Unit.DAYS, 1, "2025-10-20T09:00+02:00", end="2025-10-20T12:00+02:00"),),
        [override("o1", "x", "2025-10-20T10:00+02:00", "2025-10-20T14:00+02:00")],
        ("2025-10-20T09:00+02:00", "2025-10-20T18:00+02:00"),
        [
            ("a", "2025-10-20T09:00+02:00", "2025-10-20T10:00+02:00", P, ""),
            ("x", "2025-10-20T10:00+02:00", "2025-10-20T12:00+02:00", P, "o1"),
        ],
    ),
    "rotation-limited-leaves-other-rotations-alone": (
        BERLIN,
        (DAILY, SECOND),
        [override("o1", "x", "2025-10-20T12:00+02:00", "2025-10-20T14:00+02:00")],
        ("2025-10-20T09:00+02:00", "2025-10-20T18:00+02:00"),
        [
            ("a", "2025-10-20T09:00+02:00", "2025-10-20T12:00+02:00", P, ""),
            ("s", "2025-10-20T09:00+02:00", "2025-10-20T18:00+02:00", "secondary", ""),
            ("x", "2025-10-20T12:00+02:00", "2025-10-20T14:00+02:00", P, "o1"),
            ("a", "2025-10-20T14:00+02:00", "2025-10-20T18:00+02:00", P, ""),
        ],
    ),
    "rotation-limited-to-an-unknown-rotation-does-nothing": (
        BERLIN,
        (DAILY,),
        [override("o1", "x", "2025-10-20T12:00+02:00", "2025-10-20T14:00+02:00", "tertiary")],
        ("2025-10-20T09:00+02:00", "2025-10-20T18:00+02:00"),
        [("a", "2025-10-20T09:00+02:00", "2025-10-20T18:00+02:00", P, "")],
    ),
    "schedule-wide-replaces-everyone-even-off-duty": (
        BERLIN,
        (OFFICE, SECOND),
        [override("o1", "x", "2025-10-20T16:00+02:00", "2025-10-20T20:00+02:00", "")],
        ("2025-10-20T09:00+02:00", "2025-10-20T22:00+02:00"),
        [
            ("a", "2025-10-20T09:00+02:00", "2025-10-20T16:00+02:00", P, ""),
            ("s", "2025-10-20T09:00+02:00", "2025-10-20T16:00+02:00", "secondary", ""),
            ("x", "2025-10-20T16:00+02:00", "2025-10-20T20:00+02:00", "", "o1"),
            ("s", "2025-10-20T20:00+02:00", "2025-10-20T22:00+02:00", "secondary", ""),
        ],
    ),
    "schedule-wide-where-nobody-was-on-call": (
        BERLIN,
        (OFFICE,),
        [override("o1", "x", "2025-10-20T18:00+02:00", "2025-10-20T20:00+02:00", "")],
        ("2025-10-20T09:00+02:00", "2025-10-20T22:00+02:00"),
        [
            ("a", "2025-10-20T09:00+02:00", "2025-10-20T17:00+02:00", P, ""),
            ("x", "2025-10-20T18:00+02:00", "2025-10-20T20:00+02:00", "", "o1"),
        ],
    ),
    "schedule-wide-clipped-to-the-interval": (
        BERLIN,
        (DAILY,),
        [override("o1", "x", "2025-10-19T00:00+02:00", "2025-10-20T12:00+02:00", "")],
        ("2025-10-20T09:00+02:00", "2025-10-20T18:00+02:00"),
        [
            ("x", "2025-10-20T09:00+02:00", "2025-10-20T12:00+02:00", "", "o1"),
            ("a", "2025-10-20T12:00+02:00", "2025-10-20T18:00+02:00", P, ""),
        ],
    ),
    "the-latest-created-wins-where-they-overlap": (
        BERLIN,
        (DAILY,),
        [
            override("o1", "x", "2025-10-20T10:00+02:00", "2025-10-20T14:00+02:00"),
            override(
                "o2",
                "y",
                "2025-10-20T12:00+02:00",
                "2025-10-20T16:00+02:00",
                created=datetime(2025, 1, 2, tzinfo=UTC),
            ),
        ],
        ("2025-10-20T09:00+02:00", "2025-10-20T18:00+02:00"),
        [
            ("a", "2025-10-20T09:00+02:00", "2025-10-20T10:00+02:00", P, ""),
            ("x", "2025-10-20T10:00+02:00", "2025-10-20T12:00+02:00", P, "o1"),
            # y takes over x's piece and a's next one: a piece each.
            ("y", "2025-10-20T12:00+02:00", "2025-10-20T14:00+02:00", P, "o2"),
            ("y", "2025-10-20T14:00+02:00", "2025-10-20T16:00+02:00", P, "o2"),
            ("a", "2025-10-20T16:00+02:00", "2025-10-20T18:00+02:00", P, ""),
        ],
    ),
    "creation-time-not-list-order-decides": (
        BERLIN,
        (DAILY,),
        [
            override(
                "o1",
                "x",
                "2025-10-20T10:00+02:00",
                "2025-10-20T14:00+02:00",
                created=datetime(2025, 1, 3, tzinfo=UTC),
            ),
            override("o2", "y", "2025-10-20T12:00+02:00", "2025-10-20T16:00+02:00"),
        ],
        ("2025-10-20T09:00+02:00", "2025-10-20T18:00+02:00"),
        [
            ("a", "2025-10-20T09:00+02:00", "2025-10-20T10:00+02:00", P, ""),
            ("x", "2025-10-20T10:00+02:00", "2025-10-20T12:00+02:00", P, "o1"),
            ("x", "2025-10-20T12:00+02:00", "2025-10-20T14:00+02:00", P, "o1"),
            ("y", "2025-10-20T14:00+02:00", "2025-10-20T16:00+02:00", P, "o2"),
            ("a", "2025-10-20T16:00+02:00", "2025-10-20T18:00+02:00", P, ""),
        ],
    ),
    "created-together-the-later-id-wins": (
        BERLIN,
        (DAILY,),
        [
            override("o2", "x", "2025-10-20T10:00+02:00", "2025-10-20T14:00+02:00"),
            override("o1", "y", "2025-10-20T12:00+02:00", "2025-10-20T16:00+02:00"),
        ],
        ("2025-10-20T09:00+02:00", "2025-10-20T18:00+02:00"),
        [
            ("a", "2025-10-20T09:00+02:00", "2025-10-20T10:00+02:00", P, ""),
            ("x", "2025-10-20T10:00+02:00", "2025-10-20T12:00+02:00", P, "o2"),
            ("x", "2025-10-20T12:00+02:00", "2025-10-20T14:00+02:00", P, "o2"),
            ("y", "2025-10-20T14:00+02:00", "2025-10-20T16:00+02:00", P, "o1"),
            ("a", "2025-10-20T16:00+02:00", "2025-10-20T18:00+02:00", P, ""),
        ],
    ),
    "overlapping-schedule-wide-latest-wins": (
        BERLIN,
        (DAILY,),
        [
            override(
                "o1",
                "x",
                "2025-10-20T10:00+02:00",
                "2025-10-20T14:00+02:00",
                "",
                created=datetime(2025, 1, 2, tzinfo=UTC),
            ),
            override("o2", "y", "2025-10-20T12:00+02:00", "2025-10-20T16:00+02:00", ""),
        ],
        ("2025-10-20T09:00+02:00", "2025-10-20T18:00+02:00"),
        [
            ("a", "2025-10-20T09:00+02:00", "2025-10-20T10:00+02:00", P, ""),
            ("x", "2025-10-20T10:00+02:00", "2025-10-20T14:00+02:00", "", "o1"),
            ("y", "2025-10-20T14:00+02:00", "2025-10-20T16:00+02:00", "", "o2"),
            ("a", "2025-10-20T16:00+02:00", "2025-10-20T18:00+02:00", P, ""),
        ],
    ),
    "schedule-wide-beats-a-newer-rotation-limited": (
        BERLIN,
        (DAILY,),
        [
            override("o1", "x", "2025-10-20T10:00+02:00", "2025-10-20T14:00+02:00", ""),
            override(
                "o2",
                "y",
                "2025-10-20T12:00+02:00",
                "2025-10-20T16:00+02:00",
                created=datetime(2025, 1, 2, tzinfo=UTC),
            ),
        ],
        ("2025-10-20T09:00+02:00", "2025-10-20T18:00+02:00"),
        [
            ("a", "2025-10-20T09:00+02:00", "2025-10-20T10:00+02:00", P, ""),
            ("x", "2025-10-20T10:00+02:00", "2025-10-20T14:00+02:00", "", "o1"),
            ("y", "2025-10-20T14:00+02:00", "2025-10-20T16:00+02:00", P, "o2"),
            ("a", "2025-10-20T16:00+02:00", "2025-10-20T18:00+02:00", P, ""),
        ],
    ),
    "over-a-dropped-slot-in-new-york": (
        NY,
        (rotation(Unit.HOURS, 1, "2025-03-09T00:00-05:00"),),
        [override("o1", "x", "2025-03-09T01:30-05:00", "2025-03-09T03:30-04:00")],
        ("2025-03-09T00:00-05:00", "2025-03-09T04:00-04:00"),
        [
            ("a", "2025-03-09T00:00-05:00", "2025-03-09T01:00-05:00", P, ""),
            ("b", "2025-03-09T01:00-05:00", "2025-03-09T01:30-05:00", P, ""),
            ("x", "2025-03-09T01:30-05:00", "2025-03-09T03:00-04:00", P, "o1"),
            ("x", "2025-03-09T03:00-04:00", "2025-03-09T03:30-04:00", P, "o1"),
            ("a", "2025-03-09T03:30-04:00", "2025-03-09T04:00-04:00", P, ""),
        ],
    ),
}


@pytest.mark.parametrize(
    ("time_zone", "rotations", "overrides", "window", "expected"),
    OVERRIDDEN.values(),
    ids=OVERRIDDEN,
)
def test_overrides_layer_over_rotations(
    time_zone: str,
    rotations: tuple[Rotation, ...],
    overrides: list[Override],
    window: tuple[str, str],
    expected: list[tuple[str, str, str, str, str]],
) -> None:
    sched = schedule(time_zone, *rotations)
    line = timeline(sched, overrides, t(window[0]), t(window[1]))
    assert layered(line, time_zone) == expected
    # At each start in the table, exactly the rows covering it are on call.
    for _, start, *_ in expected:
        at = t(start)
        covering = {(u, r, o) for u, s, e, r, o in expected if t(s) <= at < t(e)}
        assert set(on_call(sched, overrides, start)) == covering, start


# --- Who is on call together -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "at", "expected"),
    [
        # Everyone whose rotation is on duty, in rotation order.
        ([], "2025-10-21T12:00+02:00", [("b", P, ""), ("s", "secondary", "")]),
        # Outside office hours only the secondary is on duty.
        ([], "2025-10-21T17:00+02:00", [("s", "secondary", "")]),
        ([], "2025-10-26T08:59+01:00", [("s", "secondary", "")]),
        # Sunday 26th after the clocks went back: shift 6 is a's.
        ([], "2025-10-26T09:00+01:00", [("a", P, ""), ("s", "secondary", "")]),
        # Before either rotation starts nobody is on call.
        ([], "2025-10-20T08:59+02:00", []),
        (
            [override("o1", "x", "2025-10-21T10:00+02:00", "2025-10-21T11:00+02:00")],
            "2025-10-21T10:00+02:00",
            [("x", P, "o1"), ("s", "secondary", "")],
        ),
        # A rotation-limited override off duty changes nothing.
        (
            [override("o1", "x", "2025-10-21T17:00+02:00", "2025-10-21T19:00+02:00")],
            "2025-10-21T18:00+02:00",
            [("s", "secondary", "")],
        ),
        (
            [override("o1", "y", "2025-10-21T10:00+02:00", "2025-10-21T11:00+02:00", "secondary")],
            "2025-10-21T10:59+02:00",
            [("b", P, ""), ("y", "secondary", "o1")],
        ),
        # The end of an override is not part of it.
        (
            [override("o1", "x", "2025-10-21T10:00+02:00", "2025-10-21T11:00+02:00")],
            "2025-10-21T11:00+02:00",
            [("b", P, ""), ("s", "secondary", "")],
        ),
        (
            [override("o1", "x", "2025-10-21T10:00+02:00", "2025-10-21T11:00+02:00", "")],
            "2025-10-21T10:30+02:00",
            [("x", "", "o1")],
        ),
        (
            [override("o1", "x", "2025-10-20T06:00+02:00", "2025-10-20T07:00+02:00", "")],
            "2025-10-20T06:00+02:00",
            [("x", "", "o1")],
        ),
        # A schedule-wide override beats a rotation-limited one, even one added after it.
        (
            [
                override("o1", "x", "2025-10-21T10:00+02:00", "2025-10-21T11:00+02:00", ""),
                override("o2", "y", "2025-10-21T10:00+02:00", "2025-10-21T11:00+02:00", P),
            ],
            "2025-10-21T10:30+02:00",
            [("x", "", "o1")],
        ),
        # A restriction's window includes its start and excludes its end.
        ([], "2025-10-21T09:00+02:00", [("b", P, ""), ("s", "secondary", "")]),
        ([], "2025-10-21T16:59:59+02:00", [("b", P, ""), ("s", "secondary", "")]),
    ],
)
def test_who_is_on_call_layers_rotations_and_overrides(
    overrides: list[Override], at: str, expected: list[tuple[str, str, str]]
) -> None:
    assert on_call(schedule(BERLIN, OFFICE, SECOND), overrides, at) == expected


# --- Participants ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("history", "expected"),
    [
        ((Participants(0, ABC),), ["a", "b", "c", "a", "b", "c", "a", "b"]),
        ((Participants(0, ("a", None)),), ["a", None, "a", None, "a", None, "a", None]),
        (
            (Participants(0, ("a", "b")), Participants(3, ("c", "d", "e"))),
            ["a", "b", "a", "c", "d", "e", "c", "d"],
        ),
        (
            (Participants(0, ("a", "b")), Participants(3, ()), Participants(5, ("c",))),
            ["a", "b", "a", None, None, "c", "c", "c"],
        ),
        ((Participants(2, ("a", "b")),), [None, None, "a", "b", "a", "b", "a", "b"]),
        ((), [None] * 8),
    ],
)
def test_participant_counts_from_where_each_list_began(
    history: tuple[Participants, ...], expected: list[str | None]
) -> None:
    rot = rotation(Unit.DAYS, 1, "2025-03-06T09:00-05:00", history=history)
    assert [participant(rot, k) for k in range(8)] == expected


def test_a_participant_change_keeps_the_history() -> None:
    # a and b took shifts 0-2; c, d, e take shift 3 (after the clocks spring forward) on.
    rot = rotation(
        Unit.DAYS,
        1,
        "2025-03-06T09:00-05:00",
        history=[Participants(0, ("a", "b")), Participants(3, ("c", "d", "e"))],
    )
    line = timeline(schedule(NY, rot), [], t("2025-03-06T09:00-05:00"), t("2025-03-11T09:00-04:00"))
    assert shifts_of(line, NY) == [
        ("a", "2025-03-06T09:00-05:00", "2025-03-07T09:00-05:00"),
        ("b", "2025-03-07T09:00-05:00", "2025-03-08T09:00-05:00"),
        ("a", "2025-03-08T09:00-05:00", "2025-03-09T09:00-04:00"),
        ("c", "2025-03-09T09:00-04:00", "2025-03-10T09:00-04:00"),
        ("d", "2025-03-10T09:00-04:00", "2025-03-11T09:00-04:00"),
    ]


@pytest.mark.parametrize(
    ("rot", "time_zone", "now", "expected"),
    [
        (HANDOFFS["new-york-daily-spring-forward"][1], NY, "2025-03-07T08:00-05:00", 0),
        (HANDOFFS["new-york-daily-spring-forward"][1], NY, "2025-03-07T09:00-05:00", 1),
        (HANDOFFS["new-york-daily-spring-forward"][1], NY, "2025-03-07T12:00-05:00", 1),
        (HANDOFFS["new-york-daily-spring-forward"][1], NY, "2025-03-08T09:00-05:00", 2),
        (HANDOFFS["new-york-daily-spring-forward"][1], NY, "2025-03-09T08:59-04:00", 2),
        (HANDOFFS["new-york-daily-spring-forward"][1], NY, "2025-03-09T09:00-04:00", 3),
        (HANDOFFS["berlin-36h-is-elapsed-time"][1], BERLIN, "2025-10-26T18:59+01:00", 1),
        (HANDOFFS["berlin-36h-is-elapsed-time"][1], BERLIN, "2025-10-26T19:00+01:00", 2),
        # The next handoff is 03:00; the 02:00 slot (2) never starts, so 3 is next.
        (HANDOFFS["new-york-hourly-spring-forward"][1], NY, "2025-03-09T01:30-05:00", 3),
        # Shifts 2-25 (30 December) never start: 26 is the first after 23:30.
        (HANDOFFS["apia-hourly-over-the-lost-day"][1], APIA, "2011-12-29T23:30-10:00", 26),
        (
            HANDOFFS["apia-daily-at-midnight-over-the-lost-day"][1],
            APIA,
            "2011-12-29T12:00-10:00",
            3,
        ),
    ],
)
def test_next_handoff_shift(rot: Rotation, time_zone: str, now: str, expected: int) -> None:
    assert next_handoff_shift(rot, time_zone, t(now)) == expected


def test_a_list_changed_before_a_skipped_slot_starts_with_its_first_person() -> None:
    # Changing the list just before Apia's lost day: the first shift that happens under the
    # new list is its first person's, as for any other handoff.
    rot = HANDOFFS["apia-hourly-over-the-lost-day"][1]
    k = next_handoff_shift(rot, APIA, t("2011-12-29T23:30-10:00"))
    changed = rotation(
        Unit.HOURS,
        1,
        "2011-12-29T22:00-10:00",
        history=[Participants(0, ABC), Participants(k, ("v", "w", "x", "y", "z"))],
    )
    line = timeline(
        schedule(APIA, changed), [], t("2011-12-29T22:00-10:00"), t("2011-12-31T02:00+14:00")
    )
    assert shifts_of(line, APIA) == [
        ("a", "2011-12-29T22:00-10:00", "2011-12-29T23:00-10:00"),
        ("b", "2011-12-29T23:00-10:00", "2011-12-31T00:00+14:00"),
        ("v", "2011-12-31T00:00+14:00", "2011-12-31T01:00+14:00"),
        ("w", "2011-12-31T01:00+14:00", "2011-12-31T02:00+14:00"),
    ]


# --- Next and previous on call -----------------------------------------------------------------

# New York, daily at 09:00 from Monday 3 March: a, b, c, a, b (Friday 7th), c, a (Sunday 9th,
# after springing forward), b.
NY_DAILY = rotation(Unit.DAYS, 1, "2025-03-03T09:00-05:00")
NY_OFFICE = rotation(
    Unit.DAYS, 1, "2025-03-03T09:00-05:00", restrictions=[Restriction(time(9), time(17))]
)
NY_WEEKLY = rotation(Unit.WEEKS, 1, "2025-03-03T09:00-05:00", users=("s", "u"), name="secondary")


@pytest.mark.parametrize(
    ("rotations", "overrides", "at", "after", "before"),
    [
        (
            (NY_DAILY,),
            [],
            "2025-03-07T12:00-05:00",
            ("2025-03-08T09:00-05:00", ("c",)),
            ("2025-03-07T09:00-05:00", ("a",)),
        ),
        (
            (NY_DAILY,),
            [],
            "2025-03-08T12:00-05:00",
            ("2025-03-09T09:00-04:00", ("a",)),
            ("2025-03-08T09:00-05:00", ("b",)),
        ),
        # At a handoff the new person is already on: next is the one after.
        (
            (NY_DAILY,),
            [],
            "2025-03-09T09:00-04:00",
            ("2025-03-10T09:00-04:00", ("b",)),
            ("2025-03-09T09:00-04:00", ("c",)),
        ),
        # Nobody on call now: next is whoever comes on, previous whoever went off.
        (
            (NY_OFFICE,),
            [],
            "2025-03-07T20:00-05:00",
            ("2025-03-08T09:00-05:00", ("c",)),
            ("2025-03-07T17:00-05:00", ("b",)),
        ),
        # Inside an override: the overridden person comes back after it.
        (
            (NY_DAILY,),
            [override("o1", "x", "2025-03-07T10:00-05:00", "2025-03-07T14:00-05:00")],
            "2025-03-07T12:00-05:00",
            ("2025-03-07T14:00-05:00", ("b",)),
            ("2025-03-07T10:00-05:00", ("b",)),
        ),
        # Layered rotations change together as a set.
        (
            (NY_DAILY, NY_WEEKLY),
            [],
            "2025-03-07T12:00-05:00",
            ("2025-03-08T09:00-05:00", ("c", "s")),
            ("2025-03-07T09:00-05:00", ("a", "s")),
        ),
        (
            (NY_DAILY, NY_WEEKLY),
            [],
            "2025-03-09T12:00-04:00",
            ("2025-03-10T09:00-04:00", ("b", "u")),
            ("2025-03-09T09:00-04:00", ("c", "s")),
        ),
        # Before the rotation starts: nothing before, a first.
        ((NY_DAILY,), [], "2025-03-01T12:00-05:00", ("2025-03-03T09:00-05:00", ("a",)), None),
        # After it ends: the last person, and nobody next.
        (
            (rotation(Unit.DAYS, 1, "2025-03-03T09:00-05:00", end="2025-03-05T12:00-05:00"),),
            [],
            "2025-03-07T12:00-05:00",
            None,
            ("2025-03-05T12:00-05:00", ("c",)),
        ),
        # Found beyond the first two weeks searched.
        (
            (rotation(Unit.DAYS, 1, "2025-04-20T09:00-04:00"),),
            [],
            "2025-03-07T12:00-05:00",
            ("2025-04-20T09:00-04:00", ("a",)),
            None,
        ),
        # Nobody within a year (366 days): 370 days ahead is too far, as is 370 days back.
        (
            (rotation(Unit.DAYS, 1, "2026-03-12T09:00-04:00"),),
            [],
            "2025-03-07T12:00-05:00",
            None,
            None,
        ),
        (
            (rotation(Unit.DAYS, 1, "2024-02-01T09:00-05:00", end="2024-03-02T12:00-05:00"),),
            [],
            "2025-03-07T12:00-05:00",
            None,
            None,
        ),
        # 365 days either way is still within the year.
        (
            (rotation(Unit.DAYS, 1, "2026-03-07T09:00-05:00"),),
            [],
            "2025-03-07T12:00-05:00",
            ("2026-03-07T09:00-05:00", ("a",)),
            None,
        ),
        (
            (rotation(Unit.DAYS, 1, "2024-02-01T09:00-05:00", end="2024-03-08T09:00-05:00"),),
            [],
            "2025-03-07T12:00-05:00",
            None,
            ("2024-03-08T09:00-05:00", ("c",)),
        ),
        (
            (rotation(Unit.DAYS, 1, "2026-06-01T09:00-04:00"),),
            [],
            "2025-03-07T12:00-05:00",
            None,
            None,
        ),
    ],
)
def test_next_and_previous_on_call(
    rotations: tuple[Rotation, ...],
    overrides: list[Override],
    at: str,
    after: tuple[str, tuple[str, ...]] | None,
    before: tuple[str, tuple[str, ...]] | None,
) -> None:
    sched = schedule(NY, *rotations)
    found_after = next_on_call(sched, overrides, t(at))
    found_before = previous_on_call(sched, overrides, t(at))
    assert found_after == (None if after is None else OnCallChange(t(after[0]), after[1]))
    assert found_before == (None if before is None else OnCallChange(t(before[0]), before[1]))


# --- Timelines as stretches --------------------------------------------------------------------


def test_segments_merge_consecutive_shifts_of_the_same_people() -> None:
    sched = schedule(BERLIN, OFFICE, SECOND)
    overrides = [override("o1", "x", "2025-10-20T12:00+02:00", "2025-10-22T12:00+02:00")]
    line = timeline(sched, overrides, t("2025-10-20T00:00+02:00"), t("2025-10-21T00:00+02:00"))
    stretches = [(wall(a, BERLIN), wall(b, BERLIN), set(users)) for a, b, users in segments(line)]
    assert stretches == [
        ("2025-10-20T00:00+02:00", "2025-10-20T09:00+02:00", set()),
        ("2025-10-20T09:00+02:00", "2025-10-20T12:00+02:00", {"a", "s"}),
        ("2025-10-20T12:00+02:00", "2025-10-20T17:00+02:00", {"x", "s"}),
        ("2025-10-20T17:00+02:00", "2025-10-21T00:00+02:00", {"s"}),
    ]


def test_an_override_over_several_shifts_is_one_stretch() -> None:
    _, rotations, overrides, window, _ = OVERRIDDEN["spanning-several-shifts-and-the-fall-back"]
    line = timeline(schedule(BERLIN, *rotations), overrides, t(window[0]), t(window[1]))
    stretches = [(wall(a, BERLIN), wall(b, BERLIN), set(users)) for a, b, users in segments(line)]
    assert stretches == [
        ("2025-10-24T09:00+02:00", "2025-10-24T12:00+02:00", {"b"}),
        ("2025-10-24T12:00+02:00", "2025-10-27T12:00+01:00", {"x"}),
        ("2025-10-27T12:00+01:00", "2025-10-28T09:00+01:00", {"b"}),
    ]


def test_the_timeline_before_a_rotation_starts_is_a_gap() -> None:
    line = timeline(
        schedule(NY, NY_DAILY), [], t("2025-03-02T00:00-05:00"), t("2025-03-04T00:00-05:00")
    )
    assert shifts_of(line, NY) == [
        ("a", "2025-03-03T09:00-05:00", "2025-03-04T00:00-05:00"),
    ]
    assert gaps_of(line, NY) == [("2025-03-02T00:00-05:00", "2025-03-03T09:00-05:00")]
    assert line.start == t("2025-03-02T00:00-05:00") and line.end == t("2025-03-04T00:00-05:00")
