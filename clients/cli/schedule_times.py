"""Times in an on-call schedule's commands, as typed and as shown: without a UTC offset, a
time is a wall-clock time in the schedule's zone; ones that zone skips or repeats are refused
with an explanation."""

from __future__ import annotations

from datetime import datetime

from clients.cli.arguments import OptionError
from service.core.errors import InvalidArgument
from service.core.wallclock import parse_instant, zone


def typed_time(text: str | None, time_zone: str, field: str) -> datetime | None:
    """`now`, or ISO 8601 with an offset, or a wall time in `time_zone`."""
    if text is None or text.strip().lower() == "now":
        return None
    try:
        return parse_instant(text, zone(time_zone), field)
    except InvalidArgument as exc:  # typed wrong, not refused by the service
        raise OptionError(exc.field, exc.rule) from None


def wall_time(instant: datetime, time_zone: str) -> str:
    return instant.astimezone(zone(time_zone)).strftime("%Y-%m-%d %H:%M %Z")
