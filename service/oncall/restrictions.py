"""Restriction windows as people type them: a daily one (09:00-17:00) or a weekly one
(mon 09:00-fri 17:00), checked and read into `Restriction` values. Rotations and routing
rules share them. Pure: no I/O, no clock."""

from __future__ import annotations

import re
from datetime import time

from service.core.errors import InvalidArgument
from service.oncall.model import Restriction

RESTRICTIONS_MAX = 20  # windows of one rotation or routing rule

_CLOCK = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")


def clock_time(text: str, field: str) -> time:
    """A wall-clock time typed HH:MM (24-hour)."""
    match = _CLOCK.fullmatch(text.strip())
    if match is None:
        raise InvalidArgument(field, f"must be a time HH:MM such as 09:00 (got {text!r})")
    return time(int(match[1]), int(match[2]))


_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def weekday(text: str, field: str) -> int:
    """Monday is 0; a day is its name or any prefix of three letters or more."""
    key = text.strip().lower()
    for index, name in enumerate(_DAY_NAMES):
        if len(key) >= 3 and name.startswith(key):
            return index
    raise InvalidArgument(field, f"must be a weekday such as mon or tuesday (got {text!r})")


def restriction(
    start: str, end: str, start_day: str = "", end_day: str = "", field: str = "restriction"
) -> Restriction:
    """A daily window (HH:MM to HH:MM) or, with both days, a weekly one (Mon 09:00 to Fri
    17:00). An end at or before the start crosses midnight, or the week's end."""
    if bool(start_day) != bool(end_day):
        raise InvalidArgument(field, "give both start_day and end_day, or neither")
    begins, ends = clock_time(start, f"{field}.start"), clock_time(end, f"{field}.end")
    if not start_day:
        if begins == ends:
            raise InvalidArgument(
                field, f"starts and ends at {begins:%H:%M}: a window must have a length"
            )
        return Restriction(begins, ends)
    first, last = weekday(start_day, f"{field}.start_day"), weekday(end_day, f"{field}.end_day")
    if (first, begins) == (last, ends):
        raise InvalidArgument(field, "starts where it ends: a window must have a length")
    return Restriction(begins, ends, first, last)


def parse_restriction(text: str, field: str = "restriction") -> Restriction:
    """`09:00-17:00`, or `mon 09:00-fri 17:00`."""
    left, dash, right = text.partition("-")
    if not dash:
        raise InvalidArgument(
            field, f"must look like 09:00-17:00 or mon 09:00-fri 17:00 (got {text!r})"
        )
    a, b = left.split(), right.split()
    if len(a) == len(b) == 1:
        return restriction(a[0], b[0], field=field)
    if len(a) == len(b) == 2:
        return restriction(a[1], b[1], a[0], b[0], field=field)
    raise InvalidArgument(
        field, f"must look like 09:00-17:00 or mon 09:00-fri 17:00 (got {text!r})"
    )
