"""Who is on call: pure functions of a schedule, its overrides and an instant.

Every answer comes from the same two primitives, so the timeline and a point query can never
disagree: `_Handoffs` (when shift k of a rotation starts) and `_windows` (the wall-clock
windows a rotation's restrictions allow). Layering follows Opsgenie: everyone whose rotation
is on call at an instant is on call together; an override limited to a rotation replaces that
rotation's person; a schedule-wide override replaces everyone. Among overrides of one scope
the most recently added wins where they overlap.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from service.core.wallclock import local, resolve, zone
from service.oncall.model import (
    Gap,
    OnCall,
    OnCallChange,
    Override,
    Restriction,
    Rotation,
    Schedule,
    Shift,
    Timeline,
)

_DAY = timedelta(days=1)
_WEEK = timedelta(weeks=1)
# How far next/previous on-call look before saying nobody; a chunk at a time.
SEARCH_HORIZON = timedelta(days=366)
_SEARCH_CHUNK = timedelta(days=14)


# --- Shifts of one rotation -------------------------------------------------------------------


class _Handoffs:
    """When a rotation's shifts start, in one zone: the rotation's constants worked out once
    per query. Wall-aligned rotations step in wall-clock time and resolve each handoff by the
    DST rule; others step in exact elapsed time."""

    __slots__ = ("aligned", "period", "start", "start_wall", "tz")

    def __init__(self, rotation: Rotation, tz: ZoneInfo) -> None:
        self.tz = tz
        self.start = rotation.start
        self.start_wall = local(rotation.start, tz)
        self.period = rotation.period
        self.aligned = rotation.wall_aligned

    def boundary(self, k: int) -> datetime:
        """When shift `k` starts."""
        if k == 0:
            return self.start
        if not self.aligned:
            return self.start + self.period * k
        return resolve(self.start_wall + self.period * k, self.tz)

    def index(self, at: datetime) -> int:
        """The shift that holds `at` (at or after the start). Shifts the DST rule shrinks to
        nothing are skipped: their slot's wall time did not exist."""
        if self.aligned:
            guess = (local(at, self.tz) - self.start_wall) // self.period
        else:
            guess = (at - self.start) // self.period
        k = max(0, guess)
        while k > 0 and self.boundary(k) > at:
            k -= 1
        while self.boundary(k + 1) <= at:
            k += 1
        return k


def participant(rotation: Rotation, k: int) -> str | None:
    """Who takes shift `k`: the participant list in force then, counted from where it began."""
    chosen = None
    for entry in rotation.participants:
        if entry.from_shift > k:
            break
        chosen = entry
    if chosen is None or not chosen.users:
        return None
    return chosen.users[(k - chosen.from_shift) % len(chosen.users)]


def next_handoff_shift(rotation: Rotation, time_zone: str, now: datetime) -> int:
    """The first shift that starts after `now`: where a participant change takes effect.
    Slots the DST rule shrinks to nothing start no shift, so they are passed over."""
    if now < rotation.start:
        return 0
    handoffs = _Handoffs(rotation, zone(time_zone))
    return handoffs.index(handoffs.boundary(handoffs.index(now) + 1))


# --- Restrictions ----------------------------------------------------------------------------


def _window(restriction: Restriction, anchor: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The restriction's window that starts on `anchor`'s day (daily) or in the week whose
    Monday is `anchor` (weekly), as instants."""
    if restriction.start_day is None or restriction.end_day is None:
        start = datetime.combine(anchor, restriction.start)
        end = datetime.combine(anchor, restriction.end)
        if end <= start:
            end += _DAY
    else:
        start = datetime.combine(anchor + restriction.start_day * _DAY, restriction.start)
        end = datetime.combine(anchor + restriction.end_day * _DAY, restriction.end)
        if end <= start:
            end += _WEEK
    return resolve(start, tz), resolve(end, tz)


def _anchors(restriction: Restriction, first: date, last: date) -> Iterator[date]:
    """Days (or Mondays) whose windows may touch local dates `first`..`last`: one before, for
    windows that cross midnight or the week's end, and one after, for DST edges."""
    if restriction.weekly:
        day = first - timedelta(days=first.weekday()) - _WEEK
        step = _WEEK
    else:
        day = first - _DAY
        step = _DAY
    while day <= last + step:
        yield day
        day += step


def _windows(
    restrictions: Sequence[Restriction], tz: ZoneInfo, lo: datetime, hi: datetime
) -> list[tuple[datetime, datetime]]:
    """The restrictions' windows that overlap [lo, hi), sorted and merged but not cut to the
    interval: a shift's true start is where its window began, not where the query did."""
    first, last = local(lo, tz).date(), local(hi, tz).date()
    found = sorted(
        _window(restriction, anchor, tz)
        for restriction in restrictions
        for anchor in _anchors(restriction, first, last)
    )
    merged: list[tuple[datetime, datetime]] = []
    for start, end in found:
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return [(start, end) for start, end in merged if start < hi and end > lo]


def allowed(restrictions: Sequence[Restriction], tz: ZoneInfo, at: datetime) -> bool:
    """Whether `at` falls in one of the wall-clock windows (always, when there are none)."""
    if not restrictions:
        return True
    day = local(at, tz).date()
    return any(
        start <= at < end
        for restriction in restrictions
        for anchor in _anchors(restriction, day, day)
        for start, end in (_window(restriction, anchor, tz),)
    )


def _covers(rotation: Rotation, tz: ZoneInfo, at: datetime) -> bool:
    """Whether the rotation is on duty at `at` (someone or an empty slot)."""
    if at < rotation.start or (rotation.end is not None and at >= rotation.end):
        return False
    return allowed(rotation.restrictions, tz, at)


# --- Point queries ---------------------------------------------------------------------------


def _latest(overrides: Iterable[Override], at: datetime) -> Override | None:
    live = [o for o in overrides if o.start <= at < o.end]
    return max(live, key=_added_order) if live else None


def _added_order(override: Override) -> tuple[datetime, str]:
    return (override.created_at or override.start, override.id)


def who_is_on_call(
    schedule: Schedule, overrides: Sequence[Override], at: datetime
) -> tuple[OnCall, ...]:
    """Everyone on call at `at`, in rotation order."""
    wide = _latest((o for o in overrides if not o.rotation), at)
    if wide is not None:
        return (OnCall(wide.user, "", wide.id),)
    tz = zone(schedule.time_zone)
    found = []
    for rotation in schedule.rotations:
        if not _covers(rotation, tz, at):
            continue
        override = _latest(
            (o for o in overrides if o.rotation.lower() == rotation.name.lower()), at
        )
        if override is not None:
            found.append(OnCall(override.user, rotation.name, override.id))
            continue
        user = participant(rotation, _Handoffs(rotation, tz).index(at))
        if user is not None:
            found.append(OnCall(user, rotation.name))
    return tuple(found)


# --- Timelines -------------------------------------------------------------------------------


def _rotation_shifts(
    rotation: Rotation, tz: ZoneInfo, lo: datetime, hi: datetime
) -> Iterator[Shift]:
    """The rotation's duty that overlaps [lo, hi), cut to its restrictions but not to the
    interval (the timeline cuts it last); empty slots have user ''."""
    first, stop = max(lo, rotation.start), hi
    if rotation.end is not None:
        stop = min(stop, rotation.end)
    if first >= stop:
        return
    windows = _windows(rotation.restrictions, tz, first, stop) if rotation.restrictions else None
    w = 0
    handoffs = _Handoffs(rotation, tz)
    k = handoffs.index(first)
    start = handoffs.boundary(k)
    while start < stop:
        end = handoffs.boundary(k + 1)
        if rotation.end is not None:
            end = min(end, rotation.end)
        if start < end:
            user = participant(rotation, k) or ""
            if windows is None:
                yield Shift(user, start, end, rotation.name)
            else:
                s, e = max(start, first), min(end, stop)
                while w < len(windows) and windows[w][1] <= s:
                    w += 1
                i = w
                while i < len(windows) and windows[i][0] < e:
                    ws, we = max(windows[i][0], start), min(windows[i][1], end)
                    if ws < we:
                        yield Shift(user, ws, we, rotation.name)
                    i += 1
        k += 1
        start = end


def _clip(shift: Shift, lo: datetime, hi: datetime) -> Shift | None:
    """`shift` cut to [lo, hi) (None when nothing is left), remembering its true start when
    `lo` cuts it."""
    start, end = max(shift.start, lo), min(shift.end, hi)
    if start >= end:
        return None
    origin = shift.start if shift.start < start else None
    return replace(shift, start=start, end=end, origin=origin)


def _overlay(pieces: list[Shift], override: Override, rotation: str) -> list[Shift]:
    """Gives `override.user` the part of each piece inside the override's window. A
    schedule-wide override (rotation '') takes the whole window, pieces or not."""
    kept: list[Shift] = []
    taken: list[Shift] = []
    for piece in pieces:
        if piece.end <= override.start or piece.start >= override.end:
            kept.append(piece)
            continue
        if piece.start < override.start:
            kept.append(replace(piece, end=override.start))
        if piece.end > override.end:
            kept.append(replace(piece, start=override.end))
        taken.append(
            Shift(
                override.user,
                max(piece.start, override.start),
                min(piece.end, override.end),
                rotation,
                override.id,
            )
        )
    if not rotation:
        taken = [Shift(override.user, override.start, override.end, "", override.id)]
    return kept + taken


def timeline(
    schedule: Schedule, overrides: Sequence[Override], start: datetime, end: datetime
) -> Timeline:
    """Every shift in [start, end) after overrides, ordered by start, and the gaps when nobody
    is on call. Shifts are layered whole and cut to the interval last, so each keeps its true
    start (`Shift.origin`); an override that ended before `start` still moves the start of
    the shift it cut short, when the caller passes it."""
    tz = zone(schedule.time_zone)
    order = {rotation.name: i for i, rotation in enumerate(schedule.rotations)}
    relevant = sorted((o for o in overrides if o.start < end), key=_added_order)
    pieces: list[Shift] = []
    for rotation in schedule.rotations:
        own = list(_rotation_shifts(rotation, tz, start, end))
        for override in relevant:
            if override.rotation.lower() == rotation.name.lower():
                own = _overlay(own, override, rotation.name)
        pieces.extend(own)
    for override in relevant:
        if not override.rotation:
            pieces = _overlay(pieces, override, "")
    cut = (_clip(p, start, end) for p in pieces if p.user)
    shifts = sorted(
        (p for p in cut if p is not None),
        key=lambda p: (p.start, order.get(p.rotation, -1), p.end),
    )
    return Timeline(start, end, tuple(shifts), tuple(_gaps(shifts, start, end)))


def _gaps(shifts: Sequence[Shift], start: datetime, end: datetime) -> Iterator[Gap]:
    covered_until = start
    for shift in shifts:  # sorted by start
        if shift.start > covered_until:
            yield Gap(covered_until, shift.start)
        covered_until = max(covered_until, shift.end)
    if covered_until < end:
        yield Gap(covered_until, end)


def segments(line: Timeline) -> list[tuple[datetime, datetime, frozenset[str]]]:
    """The timeline as maximal stretches with one set of people on call (empty in gaps)."""
    points = sorted(
        {line.start, line.end} | {s.start for s in line.shifts} | {s.end for s in line.shifts}
    )
    out: list[tuple[datetime, datetime, frozenset[str]]] = []
    active: list[Shift] = []
    pending = list(line.shifts)
    p = 0
    for a, b in itertools.pairwise(points):
        while p < len(pending) and pending[p].start <= a:
            active.append(pending[p])
            p += 1
        active = [s for s in active if s.end > a]
        users = frozenset(s.user for s in active)
        if out and out[-1][2] == users and out[-1][1] == a:
            out[-1] = (out[-1][0], b, users)
        else:
            out.append((a, b, users))
    return out


def next_on_call(
    schedule: Schedule, overrides: Sequence[Override], at: datetime
) -> OnCallChange | None:
    """The next people on call after those on call at `at` (a different, non-empty set) and
    when they start; None if nobody else is on call within a year."""
    now = frozenset(c.user for c in who_is_on_call(schedule, overrides, at))
    # The last chunk stops at the horizon: callers load overrides only that far.
    limit = at + SEARCH_HORIZON
    lo = at
    while lo < limit:
        hi = min(lo + _SEARCH_CHUNK, limit)
        for start, _, users in segments(timeline(schedule, overrides, lo, hi)):
            if users and users != now:
                return OnCallChange(max(start, at), tuple(sorted(users)))
        lo = hi
    return None


def previous_on_call(
    schedule: Schedule, overrides: Sequence[Override], at: datetime
) -> OnCallChange | None:
    """The last people on call before those on call at `at` (a different, non-empty set) and
    when their time ended; None if nobody else was on call within a year."""
    now = frozenset(c.user for c in who_is_on_call(schedule, overrides, at))
    limit = at - SEARCH_HORIZON
    hi = at
    while hi > limit:
        lo = max(hi - _SEARCH_CHUNK, limit)
        for _, end, users in reversed(segments(timeline(schedule, overrides, lo, hi))):
            if users and users != now:
                return OnCallChange(end, tuple(sorted(users)))
        hi = lo
    return None
