"""Field rules for everything a caller sends, with the limits Opsgenie users know.

Each check raises `InvalidArgument` naming the field and the rule; lengths count characters.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta

from service.core.errors import InvalidArgument

MESSAGE_MAX = 130
ALIAS_MAX = 512
DESCRIPTION_MAX = 15_000
TAGS_MAX = 20
TAG_MAX = 50
DETAILS_TOTAL_MAX = 8_000
ENTITY_MAX = 512
SOURCE_MAX = 100
ACTIONS_MAX = 10
ACTION_MAX = 50
NOTE_MAX = 25_000
USER_MAX = 100
RESPONDERS_MAX = 50
RESPONDER_NAME_MAX = 512
RESPONDER_TYPES = ("team", "user", "escalation", "schedule")
TEAM_NAME_MAX = 100
TEAM_DESCRIPTION_MAX = 1_000
TOKEN_NAME_MAX = 100
SNOOZE_MAX = timedelta(days=7)
# The times a schedule may be asked about: far wider than any rota needs, and far enough
# inside what datetime holds (years 1 to 9999) that looking a year or two ahead or behind,
# or into a time zone, never overflows.
SCHEDULE_EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
SCHEDULE_LATEST = datetime(9000, 1, 1, tzinfo=UTC)

_TEAM_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
# An SNS topic ARN; the HTTP edge reads the partition and region out of the same pattern.
TOPIC_ARN = re.compile(
    r"arn:(?P<partition>aws|aws-cn|aws-us-gov):sns:(?P<region>[a-z]{2}(?:-[a-z]+)+-[0-9]{1,2}):"
    r"(?P<account>[0-9]{1,12}):(?P<name>[A-Za-z0-9_-]{1,256}(?:\.fifo)?)"
)


def text(field: str, value: str, limit: int, *, required: bool = False) -> str:
    """Checks one free-text field; returns it unchanged."""
    if "\x00" in value:
        raise InvalidArgument(field, "must not contain NUL characters")
    if required and not value.strip():
        raise InvalidArgument(field, "is required")
    if len(value) > limit:
        raise InvalidArgument(field, f"must be at most {limit:,} characters (got {len(value):,})")
    return value


def word_list(
    field: str, values: Iterable[str], *, max_items: int, max_len: int
) -> tuple[str, ...]:
    """Checks a list of short labels (tags, actions); drops repeats, keeps order."""
    kept: list[str] = []
    for index, value in enumerate(values):
        item = f"{field}[{index}]"
        text(item, value, max_len)
        if not value.strip():
            raise InvalidArgument(item, "must not be empty")
        if value != value.strip():
            raise InvalidArgument(item, "must not start or end with whitespace")
        if value not in kept:
            kept.append(value)
    if len(kept) > max_items:
        raise InvalidArgument(field, f"must have at most {max_items} items (got {len(kept)})")
    return tuple(kept)


def tags(values: Iterable[str], field: str = "tags") -> tuple[str, ...]:
    return word_list(field, values, max_items=TAGS_MAX, max_len=TAG_MAX)


def details(values: Mapping[str, str], field: str = "details") -> dict[str, str]:
    total = 0
    for key, value in values.items():
        if not key.strip():
            raise InvalidArgument(field, "keys must not be empty")
        text(f"{field}[{key!r}]", key + value, DETAILS_TOTAL_MAX)
        total += len(key) + len(value)
    if total > DETAILS_TOTAL_MAX:
        raise InvalidArgument(
            field,
            f"keys and values must total at most {DETAILS_TOTAL_MAX:,} characters (got {total:,})",
        )
    return dict(values)


def user(value: str) -> str:
    return text("user", value, USER_MAX)


def note(value: str, *, required: bool = False) -> str:
    return text("note", value, NOTE_MAX, required=required)


def snooze_until(until: datetime, now: datetime, field: str = "until") -> datetime:
    """`field` names what the caller sent: the end itself, or a duration from now."""
    if until <= now:
        raise InvalidArgument(field, "must end in the future")
    if until - now > SNOOZE_MAX:
        raise InvalidArgument(field, "must end at most 7 days ahead")
    return until


def schedule_time(field: str, value: datetime | None) -> datetime | None:
    if value is not None and not SCHEDULE_EARLIEST <= value < SCHEDULE_LATEST:
        raise InvalidArgument(
            field, f"must fall in the years 1900 to 8999 (got {value.isoformat()})"
        )
    return value


def object_name(value: str, field: str = "name") -> str:
    """The name of a team, schedule, policy or integration: what people type to name it."""
    text(field, value, TEAM_NAME_MAX, required=True)
    if not _TEAM_NAME.fullmatch(value):
        raise InvalidArgument(
            field,
            "may hold only letters, digits, '.', '_' and '-', "
            "and must start with a letter or digit",
        )
    return value


def topic_arn(field: str, value: str) -> str:
    if not TOPIC_ARN.fullmatch(value):
        raise InvalidArgument(
            field, "must be an SNS topic ARN such as arn:aws:sns:us-east-1:123456789012:alerts"
        )
    return value


def reference(field: str, value: str) -> str:
    """An id or a name that a request uses to point at a team or an integration."""
    return text(field, value, TEAM_NAME_MAX, required=True)


def team_description(value: str) -> str:
    return text("description", value, TEAM_DESCRIPTION_MAX)


def token_name(value: str) -> str:
    text("name", value, TOKEN_NAME_MAX, required=True)
    if value != value.strip():
        raise InvalidArgument("name", "must not start or end with whitespace")
    return value


INT64_MAX = 2**63 - 1


def sequence_number(field: str, value: str) -> int:
    """A decimal number as the database keeps them: ASCII digits, within 64 bits."""
    if not (value.isascii() and value.isdigit()) or int(value) > INT64_MAX:
        raise InvalidArgument(field, f"must be a number such as 42 (got {value[:40]!r})")
    return int(value)


def page_size(value: int, *, default: int, maximum: int) -> int:
    if value < 0:
        raise InvalidArgument("page_size", "must not be negative")
    if value > maximum:
        raise InvalidArgument("page_size", f"must be at most {maximum:,}")
    return value or default


def update_mask(what: str, fields: Iterable[str], allowed: Iterable[str]) -> frozenset[str]:
    """The fields an update names, each one `what` has; none means every one of `allowed`."""
    known = tuple(allowed)
    given = frozenset(fields)
    unknown = sorted(given - set(known))
    if unknown:
        shown = ", ".join(repr(field[:100]) for field in unknown[:5])
        raise InvalidArgument(
            "update_mask", f"names no field of {what}: {shown} (fields: {', '.join(known)})"
        )
    return given or frozenset(known)


def duration_text(delta: timedelta) -> str:
    """A duration as it is typed: `0s`, `30s`, `5m`, `1h30m`, `1d` (to the second)."""
    seconds, parts = int(delta.total_seconds()), []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"
