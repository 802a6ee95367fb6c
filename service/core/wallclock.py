"""Wall-clock times in an IANA zone, turned into instants by one rule for every DST edge.

Schedules hand off at wall-clock times. A wall time that does not exist (the clocks spring
forward over it) means the first instant after the gap; one that occurs twice (the clocks fall
back) means its first occurrence. The mapping never goes backwards, so shifts built from it
never overlap and never leave a gap. Times a person types are stricter: `exact()` refuses both
cases with an explanation instead of guessing.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from service.core.errors import InvalidArgument

_SECOND = timedelta(seconds=1)


@functools.lru_cache(maxsize=512)
def zone(name: str, field: str = "time_zone") -> ZoneInfo:
    """The IANA zone called `name`; an invalid name is refused with the field it came from."""
    if not name or name != name.strip() or len(name) > 64 or name.startswith(("/", ".")):
        raise InvalidArgument(
            field, f"must be an IANA time zone name such as Europe/Berlin, not {name!r}"
        )
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidArgument(
            field, f"must be an IANA time zone name such as Europe/Berlin, not {name!r}"
        ) from exc


def local(instant: datetime, tz: ZoneInfo) -> datetime:
    """The naive wall-clock time at `instant` in `tz`."""
    return instant.astimezone(tz).replace(tzinfo=None)


def resolve(wall: datetime, tz: ZoneInfo) -> datetime:
    """The UTC instant of naive wall time `wall` in `tz`: the first occurrence of a repeated
    time, the first instant after the gap for a skipped one."""
    # For a naive time, fold=0 reads it with the offset in force before a transition and
    # fold=1 with the one after; they differ only near a transition. This is the hot path of
    # every on-call query, so it avoids building aware datetimes.
    if wall.fold:  # a time read back from a second occurrence still means the first
        wall = wall.replace(fold=0)
    before = tz.utcoffset(wall)
    after = tz.utcoffset(wall.replace(fold=1))
    if before is None or after is None:  # pragma: no cover - ZoneInfo always answers
        raise ValueError(f"{tz.key} gives no UTC offset for {wall}")
    if after <= before:  # normal, or repeated: the first occurrence uses the earlier offset
        return (wall - before).replace(tzinfo=UTC)
    return _end_of_gap(wall, tz)


def _end_of_gap(wall: datetime, tz: ZoneInfo) -> datetime:
    # In a gap, fold=1 reads the wall time with the offset after the transition and fold=0
    # with the one before: the transition lies between the two readings. Search it out.
    lo = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
    hi = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if lo > hi:
        lo, hi = hi, lo
    # Invariant: local(lo) < wall <= local(hi) in wall-clock order; the gap starts after lo.
    while hi - lo > _SECOND:
        mid = lo + (hi - lo) // 2
        mid = mid.replace(microsecond=0)
        if mid <= lo:
            mid = lo + _SECOND
        if local(mid, tz) < wall:
            lo = mid
        else:
            hi = mid
    return hi


def exact(wall: datetime, tz: ZoneInfo, field: str) -> datetime:
    """The UTC instant of a wall time a person typed; refuses times the zone skips or repeats,
    saying why and what to type instead."""
    first = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    second = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
    shown = wall.isoformat(sep=" ", timespec="minutes")
    if local(first, tz) != wall:
        after = local(_end_of_gap(wall, tz), tz).isoformat(sep=" ", timespec="minutes")
        raise InvalidArgument(
            field,
            f"{shown} does not exist in {tz.key}: the clocks jump over it (a daylight saving "
            f"or time zone change); use {after} or give an explicit UTC offset",
        )
    if first != second:
        raise InvalidArgument(
            field,
            f"{shown} happens twice in {tz.key} (the clocks go back); give an explicit UTC "
            f"offset, e.g. {first.astimezone(tz).isoformat(timespec='minutes')} for the first",
        )
    return first


def parse_instant(text: str, tz: ZoneInfo, field: str) -> datetime:
    """An instant typed as ISO 8601: with an offset (or Z) it is exact; without one it is a
    wall time in `tz` and must exist exactly once there."""
    cleaned = text.strip()
    try:
        parsed = datetime.fromisoformat(cleaned)
    except ValueError as exc:
        raise InvalidArgument(
            field,
            f"must be an ISO 8601 time such as 2026-03-08T09:00 or "
            f"2026-03-08T09:00:00Z, not {text!r}",
        ) from exc
    if parsed.tzinfo is None:
        return exact(parsed, tz, field)
    return parsed.astimezone(UTC)
