"""Schedules as iCalendar (RFC 5545) files, for calendar apps that subscribe to a secret URL.

Pure: a timeline and the names to show in, text out. Each shift is one event whose UID is
stable across fetches (schedule, rotation, override, user and the shift's true start, not
where the feed's window cut it), so a calendar app updates events in place instead of
replacing or duplicating them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from service.core.clock import to_micros
from service.oncall.model import Schedule, Shift, Timeline

PRODUCT_ID = "-//Tocsin//On-call schedules//EN"


def calendar(
    schedule: Schedule, line: Timeline, names: Mapping[str, str], now: datetime, user: str = ""
) -> str:
    """The shifts of `line` (only `user`'s, a user id, when given) as an iCalendar file."""
    # Imported on first use: it is a tenth of a second that every CLI command would pay.
    import icalendar

    cal = icalendar.Calendar()
    cal.add("prodid", PRODUCT_ID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    title = f"On call: {schedule.name}"
    if user:
        title += f" ({names.get(user, user)})"
    cal.add("x-wr-calname", title)
    cal.add("x-wr-timezone", schedule.time_zone)
    for shift in line.shifts:
        if user and shift.user != user:
            continue
        who = names.get(shift.user, shift.user)
        event = icalendar.Event()
        event.add("uid", _uid(schedule, shift))
        event.add("dtstamp", now)
        event.add("dtstart", shift.start)
        event.add("dtend", shift.end)
        through = shift.rotation or "override"
        if shift.override and shift.rotation:
            through = f"{shift.rotation}, override"
        event.add("summary", f"{who} on call ({schedule.name}: {through})")
        event.add("description", f"{who} is on call for {schedule.name} through {through}.")
        event.add("transp", "TRANSPARENT")
        cal.add_component(event)
    return bytes(cal.to_ical()).decode()


def _uid(schedule: Schedule, shift: Shift) -> str:
    # The true start, not `shift.start`: the feed's window begins a month before each fetch,
    # and a UID that moved with it would make calendar apps replace the event every refresh.
    through = shift.rotation or "schedule"
    if shift.override:
        through += f"-override-{shift.override}"
    return f"{schedule.id}-{through}-{shift.user}-{to_micros(shift.began)}@tocsin"
