"""Reading one value of the manifest file at a path in it (`schedules[0].time_zone`): the
shapes every section shares. A problem is `InvalidArgument(path, rule)`; the file's name is
added where the whole file is read."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from clients.cli import arguments
from service.core import validation
from service.core.errors import InvalidArgument
from service.core.wallclock import exact, parse_instant, zone
from service.escalation.usecases import DELAY_MAX

T = TypeVar("T")


def _at(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def keys(
    value: object, path: str, required: Sequence[str], optional: Sequence[str]
) -> dict[str, Any]:
    """A mapping with only the known keys, and a value for each required one."""
    known = (*required, *optional)
    if not isinstance(value, dict):
        raise InvalidArgument(path, f"must be a mapping with keys {', '.join(known)}")
    for key in value:
        if key not in known:
            raise InvalidArgument(_at(path, str(key)), f"unknown key (known: {', '.join(known)})")
    for key in required:
        if value.get(key) is None:
            raise InvalidArgument(_at(path, key), "is required")
    return value


def listed(value: object, path: str, read: Callable[[Any, str], T]) -> tuple[T, ...]:
    """Each item of a list, read at its index; no value is an empty list."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise InvalidArgument(path, "must be a list")
    return tuple(read(item, f"{path}[{index}]") for index, item in enumerate(value))


def optional(
    fields: Mapping[str, object], key: str, path: str, read: Callable[[Any, str], T]
) -> T | None:
    """The value of `key`, read, or None when the file leaves it out or gives no value."""
    value = fields.get(key)
    return None if value is None else read(value, f"{path}.{key}")


def unique(names: Sequence[str], path: str, key: str) -> None:
    """Refuses a name listed twice, in any case."""
    seen: set[str] = set()
    for index, name in enumerate(names):
        if name.lower() in seen:
            raise InvalidArgument(f"{path}[{index}].{key}", f"{name!r} is listed twice")
        seen.add(name.lower())


def text(value: object, path: str) -> str:
    if not isinstance(value, str):
        raise InvalidArgument(path, f"must be text, not {value!r} (quote it)")
    return value


def whole_number(value: object, path: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidArgument(path, f"must be a whole number, not {value!r}")
    return value


def boolean(value: object, path: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidArgument(path, f"must be true or false, not {value!r}")
    return value


def name(value: object, path: str) -> str:
    """The name of a team, schedule, policy or integration."""
    return validation.object_name(text(value, path), path)


def description(value: object, path: str) -> str:
    """A team's, schedule's or policy's description."""
    return validation.text(path, text(value, path), validation.TEAM_DESCRIPTION_MAX)


def time_zone(value: object, path: str) -> str:
    """A time zone's name, as the zone database spells it."""
    return zone(text(value, path), path).key


def duration(value: object, path: str) -> timedelta:
    """`0`, `30s`, `5m`, `1h30m`, `1d`, as on the command line; at most a day."""
    if value == 0 and isinstance(value, int) and not isinstance(value, bool):
        return timedelta()
    if not isinstance(value, str):
        raise InvalidArgument(path, f"must be a duration such as 30s, 5m or 1h30m, not {value!r}")
    try:
        delta = arguments.duration(value)
    except argparse.ArgumentTypeError as exc:
        raise InvalidArgument(path, str(exc)) from None
    if delta > DELAY_MAX:
        raise InvalidArgument(path, f"must be at most 24 hours (got {value})")
    return delta


def instant(value: object, tz: ZoneInfo, path: str) -> datetime:
    """ISO 8601 text or a YAML timestamp; without an offset, a wall time in `tz`."""
    if isinstance(value, datetime):
        return exact(value, tz, path) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, date):
        value = value.isoformat()
    return parse_instant(text(value, path), tz, path)
