"""Properties of the on-call maths over random schedules in zones with awkward DST.

Random rotations, restrictions, participants (empty slots included) and overrides, over
intervals placed near real DST transitions, must give timelines without overlaps or holes,
and point queries that agree with the timeline at every instant.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.oncall.model import (
    OnCall,
    Override,
    Participants,
    Restriction,
    Rotation,
    Schedule,
    Shift,
    Timeline,
    Unit,
)
from service.oncall.shifts import next_handoff_shift, participant, timeline, who_is_on_call

# Each zone with the instants of transitions worth landing near: ordinary one-hour DST both
# ways, Lord Howe's half hour, Apia's lost day, and zones whose midnight is skipped or doubled.
ZONES: dict[str, tuple[datetime, ...]] = {
    "America/New_York": (
        datetime(2025, 3, 9, 7, tzinfo=UTC),
        datetime(2025, 11, 2, 6, tzinfo=UTC),
    ),
    "Europe/Berlin": (
        datetime(2025, 3, 30, 1, tzinfo=UTC),
        datetime(2025, 10, 26, 1, tzinfo=UTC),
    ),
    "Australia/Lord_Howe": (
        datetime(2025, 4, 5, 15, tzinfo=UTC),
        datetime(2025, 10, 4, 15, 30, tzinfo=UTC),
    ),
    "Pacific/Apia": (
        datetime(2011, 12, 30, 10, tzinfo=UTC),
        datetime(2012, 3, 31, 14, tzinfo=UTC),
        datetime(2012, 9, 29, 14, tzinfo=UTC),
    ),
    "America/Havana": (
        datetime(2025, 3, 9, 5, tzinfo=UTC),
        datetime(2025, 11, 2, 5, tzinfo=UTC),
    ),
    "America/Santiago": (
        datetime(2025, 4, 6, 3, tzinfo=UTC),
        datetime(2025, 9, 7, 4, tzinfo=UTC),
    ),
    "Asia/Beirut": (
        datetime(2025, 3, 29, 22, tzinfo=UTC),
        datetime(2025, 10, 25, 21, tzinfo=UTC),
    ),
}
USERS = ("ann", "bob", "cat", "dan")
ROTATION_NAMES = ("primary", "secondary", "night")
# Modest and reproducible: the whole file runs in seconds and CI sees the same examples.
SETTINGS = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,  # nothing written into the checkout; derandomize makes failures repeat
    suppress_health_check=[HealthCheck.too_slow],
)


_TICK = timedelta(microseconds=1)


def _wall(instant: datetime, tz: ZoneInfo) -> datetime:
    return instant.astimezone(tz).replace(tzinfo=None)


def _schedule(time_zone: str, *rotations: Rotation) -> Schedule:
    return Schedule(id="s", name="s", team_id="t", time_zone=time_zone, rotations=rotations)


def _by_rotation(line: Timeline) -> dict[str, list[Shift]]:
    grouped: dict[str, list[Shift]] = {}
    for shift in line.shifts:
        grouped.setdefault(shift.rotation, []).append(shift)
    return grouped


def _on_call_in(line: Timeline, at: datetime) -> set[OnCall]:
    return {OnCall(s.user, s.rotation, s.override) for s in line.shifts if s.start <= at < s.end}


def near(draw: st.DrawFn, transition: datetime, spread_hours: int) -> datetime:
    """An instant within `spread_hours` of `transition`, on a five-minute grid so that
    handoffs, windows and override edges often land on the transition and on each other."""
    return transition + timedelta(
        minutes=5 * draw(st.integers(-spread_hours * 12, spread_hours * 12))
    )


def wall_time(draw: st.DrawFn) -> time:
    # Quarter hours: half hours hit Lord Howe's gap, whole hours the midnight transitions.
    quarter = draw(st.integers(0, 24 * 4 - 1))
    return time(quarter // 4, quarter % 4 * 15)


@st.composite
def restrictions(draw: st.DrawFn) -> Restriction:
    start, end = wall_time(draw), wall_time(draw)
    if draw(st.booleans()):
        return Restriction(start, end)
    return Restriction(start, end, draw(st.integers(0, 6)), draw(st.integers(0, 6)))


@st.composite
def participant_history(draw: st.DrawFn) -> tuple[Participants, ...]:
    slots = st.lists(st.sampled_from((*USERS, None)), min_size=1, max_size=4)
    froms = sorted(set(draw(st.lists(st.integers(1, 40), max_size=2))))
    return tuple(Participants(k, tuple(draw(slots))) for k in [0, *froms])


@st.composite
def rotations(draw: st.DrawFn, name: str, transition: datetime) -> Rotation:
    unit = draw(st.sampled_from(Unit))
    top = {Unit.HOURS: 48, Unit.DAYS: 9, Unit.WEEKS: 3}[unit]
    lengths = st.integers(1, top)
    if unit is Unit.HOURS:
        # Half the time a length that divides a day: those step in wall time, through gaps.
        lengths = st.one_of(st.sampled_from((1, 2, 3, 4, 6, 8, 12, 24)), lengths)
    start = near(draw, transition, 24 * 20)
    lasts = draw(st.integers(0, 60 * 24 * 30))  # 0: no end
    return Rotation(
        name=name,
        unit=unit,
        length=draw(lengths),
        start=start,
        end=start + timedelta(minutes=lasts) if lasts else None,
        participants=draw(participant_history()),
        restrictions=tuple(draw(st.lists(restrictions(), max_size=2))),
    )


@st.composite
def overrides(draw: st.DrawFn, names: Sequence[str], transition: datetime) -> list[Override]:
    found = []
    for i in range(draw(st.integers(0, 4))):
        start = near(draw, transition, 24 * 5)
        # Few distinct creation times, so ties fall back to the id, which is made to clash
        # with the list order half the time.
        created = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(hours=draw(st.integers(0, 2)))
        found.append(
            Override(
                id=f"ov{draw(st.integers(0, 9))}-{i}",
                schedule_id="s",
                user=draw(st.sampled_from((*USERS, "eve"))),
                start=start,
                end=start + timedelta(minutes=5 * draw(st.integers(1, 12 * 24 * 3))),
                rotation=draw(st.sampled_from(("", *names))),
                created_at=created,
            )
        )
    return found


Case = tuple[Schedule, list[Override], datetime, datetime]


@st.composite
def cases(draw: st.DrawFn, with_overrides: bool = True) -> Case:
    """A schedule of one to three rotations near a transition, overrides, and an interval of up
    to eight days there."""
    name = draw(st.sampled_from(sorted(ZONES)))
    transition = draw(st.sampled_from(ZONES[name]))
    names = ROTATION_NAMES[: draw(st.integers(1, len(ROTATION_NAMES)))]
    schedule = _schedule(name, *(draw(rotations(n, transition)) for n in names))
    found = draw(overrides(names, transition)) if with_overrides else []
    start = near(draw, transition, 24 * 4)
    end = start + timedelta(minutes=draw(st.integers(1, 60 * 24 * 8)))
    return schedule, found, start, end


@SETTINGS
@given(cases())
def test_the_timeline_has_no_overlaps_within_a_rotation_and_no_holes(case: Case) -> None:
    schedule, found, start, end = case
    line = timeline(schedule, found, start, end)
    assert all(start <= s.start < s.end <= end for s in line.shifts)
    assert [s.start for s in line.shifts] == sorted(s.start for s in line.shifts)
    assert all(s.user for s in line.shifts)
    for shifts in _by_rotation(line).values():
        for earlier, later in itertools.pairwise(shifts):
            # Strictly increasing: a later shift starts no earlier than the one before ends.
            assert earlier.end <= later.start, (earlier, later)
    # Every stretch between two boundaries is covered by some shift or lies in exactly one
    # gap: never both, never neither.
    points = sorted(
        {start, end}
        | {s.start for s in line.shifts}
        | {s.end for s in line.shifts}
        | {g.start for g in line.gaps}
        | {g.end for g in line.gaps}
    )
    assert points[0] == start and points[-1] == end
    for a, b in itertools.pairwise(points):
        covered = any(s.start <= a and b <= s.end for s in line.shifts)
        in_gaps = sum(1 for g in line.gaps if g.start <= a and b <= g.end)
        assert (covered, in_gaps) in ((True, 0), (False, 1)), (a, b)
    for before, after in itertools.pairwise(line.gaps):
        assert before.end < after.start  # maximal: two touching gaps would be one


def _on_duty_by_the_wall_clock(restrictions: Sequence[Restriction], wall: datetime) -> bool:
    """The restrictions read straight off the wall clock, as a person would. This agrees with
    the DST rule everywhere except the second pass of a repeated time, which callers skip."""
    if not restrictions:
        return True
    for r in restrictions:
        now = wall.hour * 60 + wall.minute + wall.second / 60
        start, end = r.start.hour * 60 + r.start.minute, r.end.hour * 60 + r.end.minute
        if r.start_day is not None and r.end_day is not None:
            now += wall.weekday() * 1440
            start, end = start + r.start_day * 1440, end + r.end_day * 1440
        if (start <= now < end) if start < end else (now >= start or now < end):
            return True
    return False


def _latest(found: Sequence[Override], at: datetime, scope: str) -> Override | None:
    live = [o for o in found if o.rotation == scope and o.start <= at < o.end]
    return max(live, key=lambda o: (o.created_at, o.id)) if live else None


def _expected_on_call(schedule: Schedule, found: Sequence[Override], at: datetime) -> set[OnCall]:
    """Who the rules say is on call at `at`, worked out without the code under test, for an
    instant that is not the second pass of a repeated wall time."""
    wide = _latest(found, at, "")
    if wide is not None:
        return {OnCall(wide.user, "", wide.id)}
    tz = ZoneInfo(schedule.time_zone)
    out = set()
    for r in schedule.rotations:
        if at < r.start or (r.end is not None and at >= r.end):
            continue
        if not _on_duty_by_the_wall_clock(r.restrictions, _wall(at, tz)):
            continue
        limited = _latest(found, at, r.name)
        if limited is not None:
            out.add(OnCall(limited.user, r.name, limited.id))
            continue
        # The slot whose handoff came last: by wall time for aligned rotations (a slot whose
        # wall time was skipped is overtaken by the next), by elapsed time for the others.
        if r.wall_aligned:
            k = (_wall(at, tz) - _wall(r.start, tz)) // r.period
        else:
            k = (at - r.start) // r.period
        user = participant(r, k)
        if user is not None:
            out.add(OnCall(user, r.name))
    return out


@SETTINGS
@given(cases(), st.data())
def test_point_queries_agree_with_the_timeline_and_the_rules(
    case: Case, data: st.DataObject
) -> None:
    schedule, found, start, end = case
    tz = ZoneInfo(schedule.time_zone)
    line = timeline(schedule, found, start, end)
    # Every edge is where a disagreement would hide, and the second before it.
    second = timedelta(seconds=1)
    samples = {start, end - second}
    for s in line.shifts:
        samples |= {s.start, s.end, s.end - second}
    for o in found:
        samples |= {o.start, o.end, o.start - second}
    for r in schedule.rotations:
        samples |= {r.start, r.start - second}
        if r.end is not None:
            samples |= {r.end, r.end - second}
    span = int((end - start).total_seconds())
    samples |= {start + timedelta(seconds=data.draw(st.integers(0, span - 1))) for _ in range(8)}
    for at in sorted(a for a in samples if start <= a < end):
        answer = set(who_is_on_call(schedule, found, at))
        assert answer == _on_call_in(line, at), at
        # The wall clock cannot tell the second pass of a repeated time from the first.
        if not at.astimezone(tz).fold:
            assert answer == _expected_on_call(schedule, found, at), at


@SETTINGS
@given(cases(with_overrides=False))
def test_plain_rotations_hand_off_without_holes(case: Case) -> None:
    schedule, _, start, end = case
    tz = ZoneInfo(schedule.time_zone)
    # Without restrictions or empty slots a rotation is on call from its start to its end.
    plain = tuple(
        Rotation(r.name, r.unit, r.length, r.start, r.end, (Participants(0, USERS[: 1 + i]),))
        for i, r in enumerate(schedule.rotations)
    )
    grouped = _by_rotation(timeline(_schedule(schedule.time_zone, *plain), [], start, end))
    for rotation in plain:
        lo = max(start, rotation.start)
        hi = end if rotation.end is None else min(end, rotation.end)
        shifts = grouped.get(rotation.name, [])
        if lo >= hi:
            assert not shifts
            continue
        assert shifts[0].start == lo and shifts[-1].end == hi
        for earlier, later in itertools.pairwise(shifts):
            assert earlier.end == later.start, (earlier, later)
        for shift in shifts:
            if shift.start == lo or shift.end == hi:
                continue  # clipped
            length = shift.end - shift.start
            if rotation.wall_aligned:
                # A whole period of wall time, give or take the clock change (Apia's: a day).
                slack = timedelta(hours=24 if schedule.time_zone == "Pacific/Apia" else 1)
                assert abs(length - rotation.period) <= slack, shift
                # Each handoff is at the start's wall time plus whole periods, unless that
                # wall time was skipped and the handoff is the end of the gap.
                wall = _wall(shift.start, tz)
                on_grid = (wall - _wall(rotation.start, tz)) % rotation.period == timedelta(0)
                jumped = _wall(shift.start - _TICK, tz) + _TICK != wall
                assert on_grid or jumped, shift
            else:
                assert length == rotation.period, shift
                assert (shift.start - rotation.start) % rotation.period == timedelta(0), shift


@SETTINGS
@given(cases(with_overrides=False), st.integers(0, 200))
def test_a_participant_change_starts_at_the_next_handoff(case: Case, k: int) -> None:
    schedule, _, start, _ = case
    # Five, so that skipping over any few slots would show as the wrong first person.
    new = ("zed", "yan", "xi", "wu", "vi")
    # Just before a transition is where the next handoff slot may never happen.
    for now in (start, *(t - timedelta(minutes=5) for t in ZONES[schedule.time_zone])):
        for r in schedule.rotations:
            first = next_handoff_shift(r, schedule.time_zone, now)
            changed = replace(
                r,
                participants=(
                    *(p for p in r.participants if p.from_shift < first),
                    Participants(first, new),
                ),
            )
            # Shifts before the change keep their people; the one on now is unchanged.
            if k < first:
                assert participant(changed, k) == participant(r, k)
            else:
                assert participant(changed, k) == new[(k - first) % len(new)]
            assert who_is_on_call(_schedule(schedule.time_zone, changed), [], now) == (
                who_is_on_call(_schedule(schedule.time_zone, r), [], now)
            )
            # The first shift to start after now is the new list's first person's.
            free = replace(changed, end=None, restrictions=())
            until = max(now, r.start) + 3 * r.period + timedelta(days=2)
            line = timeline(_schedule(schedule.time_zone, free), [], now, until)
            assert [s.user for s in line.shifts if s.start > now][:1] == ["zed"], (now, r)


def _identity(shift: Shift) -> tuple[str, str, str, datetime, datetime]:
    return (shift.rotation, shift.override, shift.user, shift.began, shift.end)


@SETTINGS
@given(cases(), st.data())
def test_a_shift_keeps_its_true_start_wherever_the_window_begins(
    case: Case, data: st.DataObject
) -> None:
    # What names a calendar event: a window that begins later cuts the shifts it starts in,
    # and each must still say when it truly began, overrides and restrictions included.
    schedule, found, start, end = case
    steps = int((end - start) / timedelta(minutes=5))
    cut = start + timedelta(minutes=5 * data.draw(st.integers(0, max(0, steps - 1))))
    whole = timeline(schedule, found, start, end)
    later = timeline(schedule, found, cut, end)
    assert sorted(map(_identity, later.shifts)) == sorted(
        _identity(s) for s in whole.shifts if s.end > cut
    )
    assert all(s.began < s.start for s in later.shifts if s.origin is not None)
