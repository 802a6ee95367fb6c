"""On-call maths, in process: WhoIsOnCall for 1,000 schedules at one instant, and a 90-day
timeline of a five-rotation schedule. Pure functions, so no server: what is measured is the
work every escalation step and every calendar fetch pays.

The baseline, measured in the same run, is the least a zone-aware answer costs: converting the
instant into each schedule's zone once.
"""

from __future__ import annotations

import functools
import random
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from datetime import time as clock

from service.core.wallclock import resolve, zone
from service.oncall.model import Override, Participants, Restriction, Rotation, Schedule, Unit
from service.oncall.shifts import timeline, who_is_on_call

SCHEDULES = 1_000
PASSES = 7
TIMELINE_RUNS = 21
TIMELINE_DAYS = 90
WHO_TARGET_MS = 0.2
TIMELINE_TARGET_MS = 20.0
AT = datetime(2026, 11, 1, 6, 30, tzinfo=UTC)  # US fall-back night: the awkward case
ZONES = (
    "America/New_York",
    "Europe/Berlin",
    "Australia/Lord_Howe",
    "Pacific/Apia",
    "America/Sao_Paulo",
    "Asia/Kolkata",
    "Europe/London",
    "America/Los_Angeles",
    "Australia/Sydney",
    "UTC",
)
_SHAPES = ((Unit.WEEKS, 1), (Unit.DAYS, 1), (Unit.HOURS, 12), (Unit.HOURS, 8), (Unit.DAYS, 2))


def _rotation(rng: random.Random, name: str, tz_name: str, people: int) -> Rotation:
    unit, length = rng.choice(_SHAPES)
    start = resolve(
        datetime(2026, rng.randint(1, 9), rng.randint(1, 28), rng.choice((0, 9))), zone(tz_name)
    )
    users = tuple(f"user-{rng.randrange(5_000)}" for _ in range(people))
    restrictions: tuple[Restriction, ...] = ()
    if rng.random() < 0.3:
        restrictions = (Restriction(clock(9), clock(17), 0, 4),)
    elif rng.random() < 0.3:
        restrictions = (Restriction(clock(22), clock(6)),)
    return Rotation(name, unit, length, start, None, (Participants(0, users),), restrictions)


def schedules(rng: random.Random) -> list[tuple[Schedule, list[Override]]]:
    out = []
    for i in range(SCHEDULES):
        tz_name = ZONES[i % len(ZONES)]
        rotations = tuple(
            _rotation(rng, f"r{j}", tz_name, rng.randint(2, 8)) for j in range(rng.randint(1, 3))
        )
        overrides = [
            # Near the instant but not over it, so every query does the rotations' work.
            Override(
                f"o{i}-{k}",
                f"s{i}",
                "user-x",
                AT + timedelta(hours=k * 30 + 1),
                AT + timedelta(hours=k * 30 + 13),
                rotations[0].name if k % 2 else "",
                AT - timedelta(days=30),
            )
            for k in range(rng.randint(0, 3))
        ]
        out.append(
            (Schedule(f"s{i}", f"schedule-{i}", "team", tz_name, rotations=rotations), overrides)
        )
    return out


def five_rotations() -> Schedule:
    tz_name = "America/New_York"
    tz = zone(tz_name)
    monday = resolve(datetime(2026, 1, 5, 9), tz)
    people = tuple(f"user-{n}" for n in range(6))

    def rotation(
        name: str,
        unit: Unit,
        length: int,
        start: datetime,
        restrictions: tuple[Restriction, ...] = (),
    ) -> Rotation:
        return Rotation(name, unit, length, start, None, (Participants(0, people),), restrictions)

    return Schedule(
        "five", "five", "team", tz_name,
        rotations=(
            rotation("primary", Unit.WEEKS, 1, monday),
            rotation("secondary", Unit.WEEKS, 1, monday + timedelta(days=3)),
            rotation("business", Unit.DAYS, 1, monday, (Restriction(clock(9), clock(17), 0, 4),)),
            rotation("follow-the-sun", Unit.HOURS, 12, resolve(datetime(2026, 1, 5, 7), tz)),
            rotation("nights", Unit.DAYS, 1, monday, (Restriction(clock(22), clock(6)),)),
        ),
    )  # fmt: skip


def _timed_ms(call: Callable[[], object]) -> float:
    started = time.perf_counter_ns()
    call()
    return (time.perf_counter_ns() - started) / 1e6


def run() -> list[str]:
    rng = random.Random(20261125)
    population = schedules(rng)
    per_call: list[float] = []
    baseline: list[float] = []
    for _ in range(PASSES):
        for schedule, overrides in population:
            tz = zone(schedule.time_zone)
            baseline.append(_timed_ms(functools.partial(AT.astimezone, tz)))
            per_call.append(_timed_ms(functools.partial(who_is_on_call, schedule, overrides, AT)))
    five = five_rotations()
    start = datetime(2026, 2, 1, tzinfo=UTC)  # spans the March DST change
    end = start + timedelta(days=TIMELINE_DAYS)
    line = timeline(five, [], start, end)
    runs = [_timed_ms(lambda: timeline(five, [], start, end)) for _ in range(TIMELINE_RUNS)]
    who_median = statistics.median(per_call)
    who_p99 = statistics.quantiles(per_call, n=100)[98]
    base_median = statistics.median(baseline)
    timeline_median = statistics.median(runs)
    rotations = sum(len(s.rotations) for s, _ in population)
    return [
        f"WhoIsOnCall, {SCHEDULES:,} schedules ({rotations:,} rotations, {len(ZONES)} zones) at "
        f"one instant, {PASSES} passes:",
        f"  median {who_median * 1000:.1f} us, p99 {who_p99 * 1000:.1f} us per schedule; "
        f"{who_median * SCHEDULES:.1f} ms for all {SCHEDULES:,}",
        f"  baseline (the instant into the schedule's zone): median {base_median * 1000:.2f} us "
        f"-> WhoIsOnCall costs {who_median / base_median:.0f}x that",
        f"  target <= {WHO_TARGET_MS} ms median: "
        + ("met" if who_median <= WHO_TARGET_MS else "NOT met"),
        f"Timeline, {TIMELINE_DAYS} days of a 5-rotation schedule ({len(line.shifts)} shifts, "
        f"{len(line.gaps)} gaps), median of {TIMELINE_RUNS}: {timeline_median:.1f} ms",
        f"  target <= {TIMELINE_TARGET_MS:g} ms: "
        + ("met" if timeline_median <= TIMELINE_TARGET_MS else "NOT met"),
    ]
